"""Triton kernels for the engine's hot paths, each beside its torch reference.

    int4_matmul.py   W4A16 matmul on the checkpoint's packed INT4 layout (split-K GEMV / GEMM)
    fused_moe.py     fused INT4 MoE (decode: per-pair GEMVs; prefill: sorted grouped GEMM)
    mla_decode.py    MLA decode attention over the latent cache (flash-decoding + reduction)
    reference.py     the torch references (also the CPU path); experts.py: Int4Experts
    dispatch.py      what the engine calls: int4_linear, fused_moe, mla_decode
    configs.py       launch configs (Hopper / default / interpreter) and the autotuner

Importing this package imports neither triton nor the kernel modules; dispatch loads them on
first use on a GPU.
"""
