"""Fused INT4 MoE: routed experts of one layer, torch reference and checked Triton wrapper.

hidden [T, H] bf16/fp16/fp32, topk_ids int32/int64 [T, topk] (values in [-1, E); -1 skips the
slot, e.g. an expert that lives on another rank), topk_weights [T, topk] (any float dtype; the
caller folds routed_scaling_factor in), optional shared_output [T, H] (the shared expert's result,
added in the same epilogue, which saves a launch) -> out [T, H] in hidden's dtype:
    out[t] = sum_j topk_weights[t, j] * down_e(silu(gate_e(x_t)) * up_e(x_t)) (+ shared_output[t])
with e = topk_ids[t, j]. Expert weights: see Int4Experts.
"""

from __future__ import annotations

import torch
import triton
from triton.runtime.interpreter import InterpretedFunction

from kimi_engine.kernels import configs, split_k
from kimi_engine.kernels._checks import require_runnable
from kimi_engine.kernels.experts import Int4Experts, check_moe_inputs
from kimi_engine.kernels.fused_moe_kernels import (
    moe_down_decode_kernel,
    moe_down_grouped_kernel,
    moe_gate_up_decode_kernel,
    moe_gate_up_grouped_kernel,
)
from kimi_engine.kernels.moe_align import moe_align
from kimi_engine.kernels.reference import fused_moe_reference

__all__ = ["DECODE_MAX_TOKENS", "Int4Experts", "fused_moe_reference", "fused_moe_triton"]

# Up to this many tokens the per-pair GEMV path wins: expert weights are read once per pair and
# duplicates are rare; beyond it, sorting by expert lets one tile of weights serve many tokens.
DECODE_MAX_TOKENS = 16


def is_interpreted() -> bool:
    """True when the MoE kernels were built by the Triton interpreter."""
    return isinstance(moe_down_decode_kernel, InterpretedFunction)


def _gate_up_splits(cfg: configs.Config, pairs: int, h: int, i: int, device: torch.device) -> int:
    """SPLIT_K of the gate_up decode launch: the config's, or (0 = auto) enough for the SMs."""
    if cfg.get("SPLIT_K", 1):
        return max(1, cfg.get("SPLIT_K", 1))
    return split_k.auto_splits(pairs * triton.cdiv(i, cfg["BLOCK_N"]), h, cfg["BLOCK_K"], device)


def _decode(hidden, ids, weights, ex: Int4Experts, shared, out, interp: bool,
            config: configs.Config | None = None) -> torch.Tensor:
    t, topk = ids.shape
    h, i = ex.hidden, ex.intermediate
    act = torch.empty((t * topk, i), device=hidden.device, dtype=torch.float32)
    gp, gs, dp, ds = ex.gate_up_packed, ex.gate_up_scale, ex.down_packed, ex.down_scale
    shape_key = (h, i, topk, hidden.dtype)

    def gate_up(cfg: configs.Config) -> None:
        meta, opts = configs.split_launch(cfg)
        k_split, splits = split_k.split_length(h, _gate_up_splits(meta, t * topk, h, i, hidden.device),
                                               meta["BLOCK_K"])
        grid = (t * topk, triton.cdiv(i, meta["BLOCK_N"]), splits)
        if splits > 1:
            ws = torch.empty((splits, t * topk, 2 * i), device=hidden.device, dtype=torch.float32)
            locks = split_k.locks(hidden.device, grid[0] * grid[1])
        else:
            ws = locks = act  # never read with one split
        moe_gate_up_decode_kernel[grid](hidden, ids, gp, gs, act, ws, locks, h, i, topk, k_split,
                                        hidden.stride(0), gp.stride(0), gp.stride(1), gs.stride(0),
                                        gs.stride(1), act.stride(0), ws.stride(0) if splits > 1 else 0,
                                        BLOCK_N=meta["BLOCK_N"], BLOCK_K=meta["BLOCK_K"], SPLIT_K=splits,
                                        **opts)

    def down(cfg: configs.Config) -> None:
        meta, opts = configs.split_launch(cfg)
        sh = shared if shared is not None else out
        moe_down_decode_kernel[(t, triton.cdiv(h, meta["BLOCK_N"]))](
            act, ids, weights, dp, ds, sh, out, h, i, topk, act.stride(0), dp.stride(0), dp.stride(1),
            ds.stride(0), ds.stride(1), sh.stride(0), out.stride(0), HAS_SHARED=shared is not None,
            **meta, **opts)

    if config is not None:
        gate_up({"SPLIT_K": 1, "num_warps": 4, "num_stages": 2, **config})
    else:
        gate_up(configs.choose("moe_gate_up_decode", hidden.device, interp, t, gate_up, shape_key=shape_key))
    down(configs.choose("moe_down_decode", hidden.device, interp, t, down, shape_key=shape_key))
    return out


def _grouped_block_m(num_pairs: int, num_experts: int) -> int:
    """Rows per block: small when each expert sees few tokens (less padding), 64 when many."""
    per_expert = num_pairs / max(1, min(num_experts, num_pairs))
    return 16 if per_expert <= 16 else (32 if per_expert <= 48 else 64)


def _prefill(hidden, ids, weights, ex: Int4Experts, shared, out, interp: bool) -> torch.Tensor:
    t, topk = ids.shape
    h, i, npairs = ex.hidden, ex.intermediate, t * topk
    block_m = _grouped_block_m(npairs, ex.num_experts)
    align = moe_align(ids, ex.num_experts, block_m)
    act = torch.empty((npairs, i), device=hidden.device, dtype=hidden.dtype)
    # Pairs with expert -1 are never written by the kernel: zero so they add nothing.
    per_pair = torch.zeros((npairs, h), device=hidden.device, dtype=hidden.dtype)
    gp, gs, dp, ds = ex.gate_up_packed, ex.gate_up_scale, ex.down_packed, ex.down_scale
    is_fp32 = hidden.dtype == torch.float32
    shape_key = (h, i, topk, hidden.dtype)
    sp, be = align.sorted_pairs, align.block_expert

    def gate_up(cfg: configs.Config) -> None:
        meta, opts = configs.split_launch(cfg)
        moe_gate_up_grouped_kernel[(align.num_blocks, triton.cdiv(i, meta["BLOCK_N"]))](
            hidden, sp, be, gp, gs, act, h, i, topk, npairs, hidden.stride(0), gp.stride(0),
            gp.stride(1), gs.stride(0), gs.stride(1), act.stride(0), BLOCK_M=block_m,
            IS_FP32=is_fp32, **meta, **opts)

    def down(cfg: configs.Config) -> None:
        meta, opts = configs.split_launch(cfg)
        moe_down_grouped_kernel[(align.num_blocks, triton.cdiv(h, meta["BLOCK_N"]))](
            act, sp, be, weights, dp, ds, per_pair, h, i, npairs, act.stride(0), dp.stride(0),
            dp.stride(1), ds.stride(0), ds.stride(1), per_pair.stride(0), BLOCK_M=block_m,
            IS_FP32=is_fp32, **meta, **opts)

    if align.num_blocks:
        gate_up(configs.choose("moe_gate_up_grouped", hidden.device, interp, t, gate_up, shape_key=shape_key))
        down(configs.choose("moe_down_grouped", hidden.device, interp, t, down, shape_key=shape_key))
    total = per_pair.view(t, topk, h).sum(dim=1, dtype=torch.float32)
    if shared is not None:
        total += shared.to(torch.float32)
    return out.copy_(total)


def fused_moe_triton(
    hidden: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
    experts: Int4Experts,
    shared_output: torch.Tensor | None = None,
    mode: str = "auto",
    gate_up_config: configs.Config | None = None,
) -> torch.Tensor:
    """Checked Triton fused MoE -> [T, H] in hidden.dtype (shapes in the module docstring).

    mode: 'auto' (decode path up to DECODE_MAX_TOKENS tokens, grouped GEMM beyond), 'decode' or
    'prefill' (tests use these to cover both paths at any size). gate_up_config overrides the
    decode gate_up launch config (tests use it to force split-K: {"BLOCK_N", "BLOCK_K", "SPLIT_K"}).
    """
    if mode not in ("auto", "decode", "prefill"):
        raise ValueError(f"mode must be 'auto', 'decode' or 'prefill', got {mode!r}")
    device = check_moe_inputs(hidden, topk_ids, topk_weights, experts, shared_output)
    interp = is_interpreted()
    require_runnable(device, interp)
    out = torch.empty_like(hidden, memory_format=torch.contiguous_format)
    if hidden.shape[0] == 0:
        return out
    if topk_ids.shape[1] == 0:  # nothing routed: only the shared expert contributes
        return out.copy_(shared_output) if shared_output is not None else out.zero_()
    decode = mode == "decode" or (mode == "auto" and hidden.shape[0] <= DECODE_MAX_TOKENS)
    if decode:
        return _decode(hidden, topk_ids, topk_weights, experts, shared_output, out, interp, gate_up_config)
    return _prefill(hidden, topk_ids, topk_weights, experts, shared_output, out, interp)
