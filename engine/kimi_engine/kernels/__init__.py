"""Triton kernels for the engine's hot paths, each beside its torch reference.

    int4_matmul.py   W4A16 matmul on the checkpoint's packed INT4 layout (split-K GEMV / GEMM)
    fused_moe.py     fused INT4 MoE (decode: per-pair GEMVs; prefill: sorted grouped GEMM)
    mla_decode.py    MLA decode attention over the latent cache (flash-decoding + reduction)
    reference.py     the torch references (also the CPU path); experts.py: Int4Experts
    dispatch.py      what the engine calls: int4_linear, fused_moe, mla_decode
    configs.py       launch configs per GPU family from tuned_configs.json, by token bucket
                     (first-call tuning only with KIMI_ENGINE_AUTOTUNE=1)
    split_k.py       split-K arrival counters and split counts (GEMV and MoE gate_up decode)
    cuda_graphs.py   bucketed, padded CUDA graphs of the decode step (runner.decode_graphs)
    compile_plan.py  every shipped config as an offline sm_90a compile job
                     (benchmarks/kernel_resources.py)

Importing this package imports neither triton nor the kernel modules; dispatch loads them on
first use on a GPU.
"""
