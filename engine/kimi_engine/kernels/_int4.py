"""Triton helpers that dequantise tiles of the checkpoint's INT4 layout in registers.

Layout (compressed-tensors pack-quantized, see kimi_engine.quant): weight_packed int32 [N, K/8],
element k of row n is nibble k % 8 (lowest bits first) of word k // 8, stored as q + 8;
weight_scale [N, K/32]. W[n, k] = (nibble - 8) * scale[n, k // 32].

Both tile shapes read the packed words in place (no repacking at load time), each word and each
group scale exactly once, as contiguous tiles along K (what Triton vectorises into 16-byte loads):
- int4_tile_t: dequantised [BLOCK_K, BLOCK_N] B operand for tl.dot (GEMM, grouped GEMM): words
  as [BLOCK_K/8, BLOCK_N], scales as [BLOCK_K/32, BLOCK_N], the 8 nibbles of a word unpacked by a
  broadcast shift to [BLOCK_K/8, 8, BLOCK_N], then reshaped to [BLOCK_K, BLOCK_N] (k = 8w + j).
- int4_gemv_tile: the one-row (decode) case, unpacked as [N, words, 8]; the scale multiplies the
  sum of each 32-element group once.
Masked-out words and scales load 0, so partial tiles need no further masking (the activations
past K are loaded as 0 too). BLOCK_K must be a multiple of 32 (one quantisation group).

split_k_reduce: the deterministic split-K epilogue shared by the GEMV and the MoE gate_up kernel.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def int4_tile_t(p_ptr, s_ptr, offs_n, kw0, N, K, stride_pn, stride_sn, BLOCK_K: tl.constexpr):
    """Dequantised W^T[8*kw0 : 8*kw0 + BLOCK_K, offs_n] as fp32 [BLOCK_K, BLOCK_N] (tl.dot's B)."""
    BLOCK_N: tl.constexpr = offs_n.shape[0]
    BLOCK_KW: tl.constexpr = BLOCK_K // 8
    BLOCK_KG: tl.constexpr = BLOCK_K // 32
    offs_kw = kw0 + tl.arange(0, BLOCK_KW)
    offs_g = kw0 // 4 + tl.arange(0, BLOCK_KG)
    n_ok = offs_n[None, :] < N
    words = tl.load(p_ptr + offs_n[None, :] * stride_pn + offs_kw[:, None],
                    mask=n_ok & (offs_kw[:, None] < (K + 7) // 8), other=0)  # [KW, N]
    scales = tl.load(s_ptr + offs_n[None, :] * stride_sn + offs_g[:, None],
                     mask=n_ok & (offs_g[:, None] < (K + 31) // 32), other=0.0)  # [KG, N]
    shifts = tl.arange(0, 8) * 4
    q = ((words[:, None, :] >> shifts[None, :, None]) & 0xF) - 8  # [KW, 8, N]
    w = tl.reshape(q.to(tl.float32), (BLOCK_KG, 32, BLOCK_N)) * scales.to(tl.float32)[:, None, :]
    return tl.reshape(w, (BLOCK_K, BLOCK_N))


@triton.jit
def dot_acc(acc, a, b_fp32, IS_FP32: tl.constexpr):
    """acc += a @ b with fp32 accumulation; b is a dequantised fp32 tile.

    16-bit activations: b is rounded to a's dtype (what the torch path does when it dequantises
    to bf16) so the tensor cores run at full rate. fp32 activations: exact IEEE products.
    """
    if IS_FP32:
        acc = tl.dot(a.to(tl.float32), b_fp32, acc, input_precision="ieee")
    else:
        acc = tl.dot(a, b_fp32.to(a.dtype), acc)
    return acc


@triton.jit
def load_x_words(x_ptr, kw0, K, BLOCK_KW: tl.constexpr):
    """x[8*kw0 : 8*(kw0+BLOCK_KW)] as fp32 [BLOCK_KW, 8] (row w = the 8 elements of word w), 0 past K."""
    k_idx = (kw0 + tl.arange(0, BLOCK_KW))[:, None] * 8 + tl.arange(0, 8)[None, :]
    return tl.load(x_ptr + k_idx, mask=k_idx < K, other=0.0).to(tl.float32)


@triton.jit
def int4_gemv_tile(p_ptr, s_ptr, x3, offs_n, kw0, N, K, stride_pn, stride_sn, BLOCK_KW: tl.constexpr):
    """sum over the K-tile of W[n, k] * x[k] -> fp32 [BLOCK_N] (one vector row, the decode case).

    Every packed word is loaded once (4 bytes per 8 weights, contiguous along K) and unpacked in
    registers as [BLOCK_N, BLOCK_KW, 8]; each group scale is loaded once and applied to the sum
    of its group's 32 products. x3: load_x_words(...) for this tile.
    """
    BLOCK_N: tl.constexpr = offs_n.shape[0]
    BLOCK_KG: tl.constexpr = BLOCK_KW // 4
    offs_kw = kw0 + tl.arange(0, BLOCK_KW)
    offs_g = kw0 // 4 + tl.arange(0, BLOCK_KG)
    n_ok = offs_n[:, None] < N
    words = tl.load(p_ptr + offs_n[:, None] * stride_pn + offs_kw[None, :],
                    mask=n_ok & (offs_kw[None, :] < (K + 7) // 8), other=0)
    scales = tl.load(s_ptr + offs_n[:, None] * stride_sn + offs_g[None, :],
                     mask=n_ok & (offs_g[None, :] < (K + 31) // 32), other=0.0)  # [N, KG]
    shifts = tl.arange(0, 8) * 4
    q = ((words[:, :, None] >> shifts[None, None, :]) & 0xF) - 8  # [BLOCK_N, BLOCK_KW, 8]
    per_word = tl.sum(q.to(tl.float32) * x3[None, :, :], axis=2)  # [BLOCK_N, BLOCK_KW]
    per_group = tl.sum(tl.reshape(per_word, (BLOCK_N, BLOCK_KG, 4)), axis=2)  # [BLOCK_N, BLOCK_KG]
    return tl.sum(per_group * scales.to(tl.float32), axis=1)


@triton.jit
def split_k_reduce(acc, ws_ptr, ws_offs, stride_ws, mask, lock_ptr, tile, SPLIT_K: tl.constexpr):
    """(sum of all splits' `acc`, is-last) for split tl.program_id(2) of output tile `tile`.

    Each split stores its fp32 partial at ws[split * stride_ws + ws_offs]; an arrival counter per
    tile (acq_rel atomic after a CTA barrier, so every thread's partial is visible first) elects
    the last split, which adds the partials in split order (deterministic) and re-arms the counter
    to 0. The sum is valid only in the last split: callers store under `if last`. One launch, no
    atomics on the data, no torch reduction afterwards.
    """
    tl.store(ws_ptr + tl.program_id(2) * stride_ws + ws_offs, acc, mask=mask)
    tl.debug_barrier()
    arrived = tl.atomic_add(lock_ptr + tile, 1, sem="acq_rel")
    last = arrived == SPLIT_K - 1
    total = tl.zeros_like(acc)
    if last:
        for s in tl.static_range(SPLIT_K):
            total += tl.load(ws_ptr + s * stride_ws + ws_offs, mask=mask, other=0.0, cache_modifier=".cg")
        tl.atomic_xchg(lock_ptr + tile, 0)
    return total, last
