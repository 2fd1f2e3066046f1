"""MLA decode attention over the latent cache, absorbed form, split over the sequence.

Shapes (B batch rows, Hq query heads on this rank, L = kv_lora_rank, R = qk_rope_head_dim,
S = cache length dimension, may exceed every real length):
    q_latent [B, Hq, L]   q_nope already multiplied by W_UK (absorbed into the latent space)
    q_rope   [B, Hq, R]   rotated rope part of the query
    c_kv     [B, S, L]    compressed KV cache (normalised latent), also the values
    k_rope   [B, S, R]    rotated rope keys, shared by all heads
    lengths  [B] int      valid cache rows per batch row (0 allowed: output is zeros)
    -> out   [B, Hq, L]   softmax(scale * (q_latent.c_kv + q_rope.k_rope)) @ c_kv, in q's dtype;
                          the caller applies W_UV and o_proj.
The last dimension of every tensor must be contiguous; other strides are free, so a [B, S, L]
view of a larger preallocated cache works without a copy.

Flash-decoding: kernel 1 gives each (row, head block, sequence split) an online softmax over its
slice and writes a normalised partial [B, Hq, SPLITS, L] plus its log-sum-exp; kernel 2 merges the
splits. c_kv is loaded once per tile and used for both the scores and the values.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from triton.runtime.interpreter import InterpretedFunction

from kimi_engine.kernels import configs
from kimi_engine.kernels._checks import check_mla_inputs, require_runnable
from kimi_engine.kernels.reference import mla_decode_reference

__all__ = ["mla_decode_reference", "mla_decode_triton"]


@triton.jit
def mla_split_kernel(
    ql_ptr, qr_ptr, ckv_ptr, kr_ptr, len_ptr, o_ptr, lse_ptr,
    HQ, L, R, SPLIT_LEN, scale_log2,
    s_qlb, s_qlh, s_qrb, s_qrh, s_cb, s_cs, s_kb, s_ks, s_ob, s_oh, s_os, s_lb, s_lh,
    BLOCK_H: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_S: tl.constexpr,
    IS_FP32: tl.constexpr,
):
    """Grid (B, cdiv(HQ, BLOCK_H), SPLITS); partial out normalised, lse in log2 units."""
    b = tl.program_id(0)
    offs_h = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    split = tl.program_id(2)
    offs_l = tl.arange(0, BLOCK_L)
    offs_r = tl.arange(0, BLOCK_R)
    h_ok = offs_h < HQ
    b64 = b.to(tl.int64)
    length = tl.load(len_ptr + b).to(tl.int32)
    s_start = split * SPLIT_LEN
    s_end = tl.minimum(s_start + SPLIT_LEN, length)
    q_lat = tl.load(ql_ptr + b64 * s_qlb + offs_h[:, None] * s_qlh + offs_l[None, :],
                    mask=h_ok[:, None] & (offs_l[None, :] < L), other=0.0)
    q_rope = tl.load(qr_ptr + b64 * s_qrb + offs_h[:, None] * s_qrh + offs_r[None, :],
                     mask=h_ok[:, None] & (offs_r[None, :] < R), other=0.0)
    m_i = tl.full([BLOCK_H], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_H], dtype=tl.float32)
    acc = tl.zeros([BLOCK_H, BLOCK_L], dtype=tl.float32)
    for s0 in range(s_start, s_end, BLOCK_S):
        offs_s = s0 + tl.arange(0, BLOCK_S)
        s_ok = offs_s < s_end
        c = tl.load(ckv_ptr + b64 * s_cb + offs_s[:, None].to(tl.int64) * s_cs + offs_l[None, :],
                    mask=s_ok[:, None] & (offs_l[None, :] < L), other=0.0)
        kr = tl.load(kr_ptr + b64 * s_kb + offs_s[:, None].to(tl.int64) * s_ks + offs_r[None, :],
                     mask=s_ok[:, None] & (offs_r[None, :] < R), other=0.0)
        if IS_FP32:
            qk = tl.dot(q_lat, tl.trans(c), input_precision="ieee")
            qk = tl.dot(q_rope, tl.trans(kr), qk, input_precision="ieee")
        else:
            qk = tl.dot(q_lat, tl.trans(c))
            qk = tl.dot(q_rope, tl.trans(kr), qk)
        qk = tl.where(s_ok[None, :], qk * scale_log2, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, axis=1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(qk - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, axis=1)
        if IS_FP32:
            acc = tl.dot(p, c, acc * alpha[:, None], input_precision="ieee")
        else:
            acc = tl.dot(p.to(c.dtype), c, acc * alpha[:, None])
        m_i = m_new
    has = l_i > 0
    out = acc / tl.where(has, l_i, 1.0)[:, None]
    lse = tl.where(has, m_i + tl.log2(tl.where(has, l_i, 1.0)), float("-inf"))
    o_ptrs = o_ptr + b64 * s_ob + offs_h[:, None] * s_oh + split * s_os + offs_l[None, :]
    tl.store(o_ptrs, out, mask=h_ok[:, None] & (offs_l[None, :] < L))
    tl.store(lse_ptr + b64 * s_lb + offs_h * s_lh + split, lse, mask=h_ok)


@triton.jit
def mla_reduce_kernel(
    o_ptr, lse_ptr, out_ptr, SPLITS, L,
    s_ob, s_oh, s_os, s_lb, s_lh, s_outb, s_outh,
    BLOCK_SPLITS: tl.constexpr, BLOCK_L: tl.constexpr,
):
    """Grid (B, HQ): out = sum_s 2^(lse_s - max) * o_s / sum_s 2^(lse_s - max); zeros if all empty.

    The partials are streamed one split at a time (a [BLOCK_L] accumulator), so registers stay
    flat however many splits there are; only the [BLOCK_SPLITS] log-sum-exps are held at once.
    """
    b = tl.program_id(0).to(tl.int64)
    h = tl.program_id(1)
    offs_sp = tl.arange(0, BLOCK_SPLITS)
    offs_l = tl.arange(0, BLOCK_L)
    l_ok = offs_l < L
    lse_row = lse_ptr + b * s_lb + h * s_lh
    lse = tl.load(lse_row + offs_sp, mask=offs_sp < SPLITS, other=float("-inf"))
    m = tl.max(lse, axis=0)
    m = tl.where(m == float("-inf"), 0.0, m)
    den = tl.sum(tl.exp2(lse - m), axis=0)  # 0 when every split was empty
    num = tl.zeros([BLOCK_L], dtype=tl.float32)
    for sp in range(0, SPLITS):
        w = tl.exp2(tl.load(lse_row + sp) - m)
        num += w * tl.load(o_ptr + b * s_ob + h * s_oh + sp * s_os + offs_l, mask=l_ok, other=0.0)
    out = num / tl.where(den > 0, den, 1.0)
    tl.store(out_ptr + b * s_outb + h * s_outh + offs_l, out.to(out_ptr.dtype.element_ty), mask=l_ok)


def is_interpreted() -> bool:
    """True when the MLA kernels were built by the Triton interpreter."""
    return isinstance(mla_split_kernel, InterpretedFunction)


def _num_splits(b: int, head_blocks: int, s: int, block_s: int, device: torch.device) -> int:
    """Enough splits for ~2 programs per SM, but never a split shorter than 2 tiles."""
    want = triton.cdiv(2 * configs.sm_count(device), max(1, b * head_blocks))
    return max(1, min(want, triton.cdiv(s, 2 * block_s), 64))


def mla_decode_triton(
    q_latent: torch.Tensor,
    q_rope: torch.Tensor,
    c_kv: torch.Tensor,
    k_rope: torch.Tensor,
    lengths: torch.Tensor,
    softmax_scale: float,
    num_splits: int | None = None,
    config: configs.Config | None = None,
) -> torch.Tensor:
    """Checked Triton MLA decode (shapes in the module docstring) -> [B, Hq, L] in q's dtype.

    num_splits / config override the heuristics (tests use them to force ragged splits).
    """
    device = check_mla_inputs(q_latent, q_rope, c_kv, k_rope, lengths)
    if not math.isfinite(softmax_scale) or softmax_scale <= 0:
        raise ValueError(f"softmax_scale must be a positive finite number, got {softmax_scale}")
    interp = is_interpreted()
    require_runnable(device, interp)
    b, hq, lat = q_latent.shape
    rope, s = q_rope.shape[2], c_kv.shape[1]
    out = torch.empty((b, hq, lat), device=device, dtype=q_latent.dtype)
    if b == 0 or hq == 0:
        return out
    if s == 0:
        return out.zero_()
    block_l, block_r = triton.next_power_of_2(lat), max(16, triton.next_power_of_2(rope))

    def launch(cfg: configs.Config) -> None:
        meta, opts = configs.split_launch({"num_warps": 4, "num_stages": 1, **cfg})
        block_h = max(16, min(meta["BLOCK_H"], triton.next_power_of_2(hq)))
        head_blocks = triton.cdiv(hq, block_h)
        splits = num_splits or _num_splits(b, head_blocks, s, meta["BLOCK_S"], device)
        split_len = triton.cdiv(triton.cdiv(s, splits), meta["BLOCK_S"]) * meta["BLOCK_S"]
        splits = triton.cdiv(s, split_len)
        part = torch.empty((b, hq, splits, lat), device=device, dtype=torch.float32)
        lse = torch.empty((b, hq, splits), device=device, dtype=torch.float32)
        mla_split_kernel[(b, head_blocks, splits)](
            q_latent, q_rope, c_kv, k_rope, lengths, part, lse, hq, lat, rope, split_len,
            softmax_scale * math.log2(math.e), q_latent.stride(0), q_latent.stride(1),
            q_rope.stride(0), q_rope.stride(1), c_kv.stride(0), c_kv.stride(1), k_rope.stride(0),
            k_rope.stride(1), part.stride(0), part.stride(1), part.stride(2), lse.stride(0),
            lse.stride(1), BLOCK_H=block_h, BLOCK_L=block_l, BLOCK_R=block_r,
            BLOCK_S=meta["BLOCK_S"], IS_FP32=q_latent.dtype == torch.float32, **opts)
        mla_reduce_kernel[(b, hq)](
            part, lse, out, splits, lat, part.stride(0), part.stride(1), part.stride(2),
            lse.stride(0), lse.stride(1), out.stride(0), out.stride(1),
            BLOCK_SPLITS=max(2, triton.next_power_of_2(splits)), BLOCK_L=block_l)

    if config is None:
        shape_key = (hq, lat, rope, triton.next_power_of_2(s), q_latent.dtype)
        config = configs.choose("mla_decode", device, interp, b, launch, shape_key=shape_key)
    launch(config)
    return out
