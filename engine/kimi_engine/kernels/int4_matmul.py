"""W4A16 matmul on the checkpoint's packed INT4 layout: y = x @ W^T.

x [M, K] bf16/fp16/fp32 (fp32 for the interpreter), weight_packed int32 [N, ceil(K/8)],
weight_scale bf16/fp16/fp32 [N, ceil(K/32)] -> y [M, N] in x's dtype, fp32 accumulation.

One kernel, two regimes chosen by the wrapper:
- decode GEMV (M <= 16): BLOCK_M = 1 (fp32 FMA on words unpacked in registers, each packed word
  loaded once: see _int4.int4_gemv_tile)
  or 16 (one tl.dot per tile, so the dequantised tile is shared by all rows), split over K so
  that a thin [M, N] output still puts several programs on every SM; partial sums go to an fp32
  workspace [SPLIT_K, M, N] and the last split of each tile adds them in order (deterministic,
  one launch: _int4.split_k_reduce with split_k.py's arrival counters).
- prefill GEMM (M > 16): BLOCK_M x BLOCK_N tiles with tl.dot, SPLIT_K = 1.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton.runtime.interpreter import InterpretedFunction

from kimi_engine.kernels import configs, split_k
from kimi_engine.kernels._checks import (
    ACTIVATION_DTYPES,
    check_int4_weight,
    check_tensor,
    require_runnable,
    same_device,
)
from kimi_engine.kernels._int4 import (
    dot_acc,
    int4_gemv_tile,
    int4_tile_t,
    load_x_words,
    split_k_reduce,
)
from kimi_engine.kernels.reference import int4_matmul_reference

__all__ = ["GEMV_MAX_M", "int4_matmul", "int4_matmul_reference"]

GEMV_MAX_M = 16


@triton.jit
def _finish(acc, out_ptrs, mask, ws_ptr, ws_offs, stride_ws, lock_ptr, tile, SPLIT_K: tl.constexpr):
    """Store a tile; with split-K, the last split to finish the tile stores the sum of all splits."""
    if SPLIT_K == 1:
        tl.store(out_ptrs, acc.to(out_ptrs.dtype.element_ty), mask=mask)
    else:
        total, last = split_k_reduce(acc, ws_ptr, ws_offs, stride_ws, mask, lock_ptr, tile, SPLIT_K)
        if last:
            tl.store(out_ptrs, total.to(out_ptrs.dtype.element_ty), mask=mask)


@triton.jit
def w4a16_kernel(
    x_ptr, p_ptr, s_ptr, out_ptr, ws_ptr, lock_ptr,
    M, N, K, K_SPLIT,
    stride_xm, stride_pn, stride_sn, stride_om,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, SPLIT_K: tl.constexpr,
    IS_FP32: tl.constexpr,
):
    """Grid (cdiv(M, BLOCK_M), cdiv(N, BLOCK_N), SPLIT_K); program k-slice [pid_k*K_SPLIT, +K_SPLIT).

    ws: fp32 [SPLIT_K, M, N] partials (unused when SPLIT_K == 1); lock: int32 per output tile, 0.
    """
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    k_start = tl.program_id(2) * K_SPLIT
    k_end = tl.minimum(k_start + K_SPLIT, K)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    tile = pid_m * tl.num_programs(1) + pid_n
    if BLOCK_M == 1:
        acc = tl.zeros([BLOCK_N], dtype=tl.float32)
        for k0 in range(k_start, k_end, BLOCK_K):
            x3 = load_x_words(x_ptr + pid_m * stride_xm, k0 // 8, K, BLOCK_K // 8)
            acc += int4_gemv_tile(p_ptr, s_ptr, x3, offs_n, k0 // 8, N, K, stride_pn, stride_sn, BLOCK_K // 8)
        _finish(acc, out_ptr + pid_m * stride_om + offs_n, offs_n < N, ws_ptr, pid_m * N + offs_n,
                M * N, lock_ptr, tile, SPLIT_K)
    else:
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
        for k0 in range(k_start, k_end, BLOCK_K):
            offs_k = k0 + tl.arange(0, BLOCK_K)
            x_mask = (offs_m[:, None] < M) & (offs_k[None, :] < K)
            x = tl.load(x_ptr + offs_m[:, None] * stride_xm + offs_k[None, :], mask=x_mask, other=0.0)
            wt = int4_tile_t(p_ptr, s_ptr, offs_n, k0 // 8, N, K, stride_pn, stride_sn, BLOCK_K)
            acc = dot_acc(acc, x, wt, IS_FP32)
        mask = (offs_m[:, None] < M) & (offs_n[None, :] < N)
        _finish(acc, out_ptr + offs_m[:, None] * stride_om + offs_n[None, :], mask, ws_ptr,
                offs_m[:, None] * N + offs_n[None, :], M * N, lock_ptr, tile, SPLIT_K)


def is_interpreted() -> bool:
    """True when this module's kernels were built by the Triton interpreter (TRITON_INTERPRET=1)."""
    return isinstance(w4a16_kernel, InterpretedFunction)


def _gemv_fixup(m: int, n: int, k: int, device: torch.device):
    """Fill SPLIT_K=0 ('auto') so that the grid has about split_k.PROGRAMS_PER_SM programs per SM."""
    def fix(cfg: configs.Config) -> configs.Config:
        cfg = dict(cfg)
        if cfg.get("SPLIT_K", 1) == 0:
            tiles = triton.cdiv(n, cfg["BLOCK_N"]) * (1 if m == 1 else triton.cdiv(m, GEMV_MAX_M))
            cfg["SPLIT_K"] = split_k.auto_splits(tiles, k, cfg["BLOCK_K"], device)
        return cfg
    return fix


def _launch(x: torch.Tensor, packed: torch.Tensor, scale: torch.Tensor, n: int, k: int,
            cfg: configs.Config, out: torch.Tensor) -> torch.Tensor:
    m = x.shape[0]
    meta, opts = configs.split_launch(cfg)
    block_m = 1 if m == 1 else (16 if m <= GEMV_MAX_M else meta["GEMM_BLOCK_M"])
    k_split, split = split_k.split_length(k, meta["SPLIT_K"], meta["BLOCK_K"])
    grid = (triton.cdiv(m, block_m), triton.cdiv(n, meta["BLOCK_N"]), split)
    if split > 1:
        ws = torch.empty((split, m, n), device=x.device, dtype=torch.float32)
        locks = split_k.locks(x.device, grid[0] * grid[1])
    else:
        ws = locks = out  # never read when SPLIT_K == 1
    w4a16_kernel[grid](
        x, packed, scale, out, ws, locks, m, n, k, k_split,
        x.stride(0), packed.stride(0), scale.stride(0), out.stride(0),
        BLOCK_M=block_m, BLOCK_N=meta["BLOCK_N"], BLOCK_K=meta["BLOCK_K"], SPLIT_K=split,
        IS_FP32=x.dtype == torch.float32, **opts,
    )
    return out


def int4_matmul(
    x: torch.Tensor,
    packed: torch.Tensor,
    scale: torch.Tensor,
    shape: tuple[int, int],
    config: configs.Config | None = None,
) -> torch.Tensor:
    """Triton W4A16 matmul: x [M, K] @ W^T -> [M, N] in x.dtype.

    packed int32 [N, ceil(K/8)] and scale [N, ceil(K/32)] as in the checkpoint (contiguous);
    x needs unit stride along K. config overrides the tuned launch config (tests use it to force
    split-K and small blocks).
    """
    n, k = check_int4_weight("int4_matmul", packed, scale, shape)
    check_tensor("x", x, dtypes=ACTIVATION_DTYPES, shape=(None, k))
    device = same_device((x, packed, scale))
    require_runnable(device, is_interpreted())
    m = x.shape[0]
    out = torch.empty((m, n), device=device, dtype=x.dtype)
    if m == 0:
        return out
    fixup = _gemv_fixup(m, n, k, device)
    if config is None:
        config = configs.choose("w4a16", device, is_interpreted(), m,
                                lambda c: _launch(x, packed, scale, n, k, c, out), fixup,
                                shape_key=(n, k, x.dtype, scale.dtype))
    else:
        config = fixup({"SPLIT_K": 1, "GEMM_BLOCK_M": 32, "num_warps": 4, "num_stages": 2, **config})
    return _launch(x, packed, scale, n, k, config, out)
