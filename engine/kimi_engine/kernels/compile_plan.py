"""Every (kernel, config, specialisation) the engine can launch, as offline compile jobs.

benchmarks/kernel_resources.py compiles these for sm_90a without a GPU and reads registers,
spills and shared memory; the kernel tests use the same list to check that each shipped config
compiles. A config can run in several specialisations (the W4A16 kernel: one row, 16 rows or a
GEMM tile, with or without split-K), and each is listed, since each is a separate binary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kimi_engine.kernels import configs


@dataclass(frozen=True)
class CompileVariant:
    """One compile job: jit function `fn` with `constexprs` and launch options."""

    kernel: str
    bucket: str
    label: str
    fn: Callable
    constexprs: dict[str, int | bool]
    num_warps: int
    num_stages: int
    ptr_overrides: dict[str, str] = field(default_factory=dict)


def _w4a16(bucket: str, bound: int | None, cfg: configs.Config) -> list[CompileVariant]:
    """The W4A16 binaries of one entry: its row count (1, 16 or a GEMM tile), split or not."""
    from kimi_engine.kernels.int4_matmul import GEMV_MAX_M, w4a16_kernel

    meta, opts = configs.split_launch(cfg)
    base = {"BLOCK_N": meta["BLOCK_N"], "BLOCK_K": meta["BLOCK_K"], "IS_FP32": False}
    if bound is None or bound > GEMV_MAX_M:
        shapes = [("gemm", meta["GEMM_BLOCK_M"], 1)]
    else:
        rows = 1 if bound == 1 else GEMV_MAX_M
        split = meta.get("SPLIT_K", 1) or 4  # 0 = chosen per shape at launch: compile the split path
        shapes = [(f"gemv-m{rows}", rows, split)] + ([(f"gemv-m{rows}-1split", rows, 1)] if split > 1 else [])
    return [CompileVariant("w4a16", bucket, label, w4a16_kernel, {**base, "BLOCK_M": bm, "SPLIT_K": sk},
                           opts["num_warps"], opts["num_stages"])
            for label, bm, sk in shapes]


def _moe(kernel: str, bucket: str, cfg: configs.Config) -> list[CompileVariant]:
    from kimi_engine.kernels import fused_moe_kernels as fk

    meta, opts = configs.split_launch(cfg)
    blocks = {"BLOCK_N": meta["BLOCK_N"], "BLOCK_K": meta["BLOCK_K"]}
    if kernel == "moe_gate_up_decode":
        split = meta.get("SPLIT_K", 1) or 4  # 0 = chosen per shape at launch: compile the split path
        return [CompileVariant(kernel, bucket, f"split{sk}", fk.moe_gate_up_decode_kernel,
                               {**blocks, "SPLIT_K": sk}, opts["num_warps"], opts["num_stages"],
                               ptr_overrides={"act_ptr": "*fp32"})
                for sk in sorted({1, split})]
    if kernel == "moe_down_decode":
        return [CompileVariant(kernel, bucket, "decode", fk.moe_down_decode_kernel,
                               {**blocks, "HAS_SHARED": True}, opts["num_warps"], opts["num_stages"],
                               ptr_overrides={"act_ptr": "*fp32"})]
    fn = fk.moe_gate_up_grouped_kernel if kernel == "moe_gate_up_grouped" else fk.moe_down_grouped_kernel
    block_m = meta.get("BLOCK_M")
    sizes = [block_m] if block_m else [16, 32, 64]
    return [CompileVariant(kernel, bucket, f"m{bm}", fn, {**blocks, "BLOCK_M": bm, "IS_FP32": False},
                           opts["num_warps"], opts["num_stages"])
            for bm in sizes]


def _mla(bucket: str, cfg: configs.Config) -> list[CompileVariant]:
    from kimi_engine.kernels.mla_decode import mla_reduce_kernel, mla_split_kernel

    meta, opts = configs.split_launch(cfg)
    # K2: kv_lora 512, rope 64.
    split = CompileVariant("mla_decode", bucket, "split", mla_split_kernel,
                           {"BLOCK_H": meta["BLOCK_H"], "BLOCK_S": meta["BLOCK_S"], "BLOCK_L": 512,
                            "BLOCK_R": 64, "IS_FP32": False}, opts["num_warps"], opts["num_stages"],
                           ptr_overrides={"o_ptr": "*fp32"})
    reduce = CompileVariant("mla_decode", bucket, "reduce", mla_reduce_kernel,
                            {"BLOCK_SPLITS": 64, "BLOCK_L": 512}, num_warps=4, num_stages=1,
                            ptr_overrides={"o_ptr": "*fp32"})
    return [split, reduce]


def variants(family: str = "sm90") -> list[CompileVariant]:
    """Every compile job for the configs shipped for `family` (configs.shipped)."""
    jobs: list[CompileVariant] = []
    for kernel, entries in configs.shipped(family).items():
        for bucket, bound, cfg in entries:
            if kernel == "w4a16":
                jobs += _w4a16(bucket, bound, cfg)
            elif kernel.startswith("moe_"):
                jobs += _moe(kernel, bucket, cfg)
            elif kernel == "mla_decode":
                jobs += _mla(bucket, cfg)
            else:
                raise KeyError(f"no compile plan for kernel {kernel!r}")
    return jobs
