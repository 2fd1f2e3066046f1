"""Triton helpers that dequantise tiles of the checkpoint's INT4 layout in registers.

Layout (compressed-tensors pack-quantized, see kimi_engine.quant): weight_packed int32 [N, K/8],
element k of row n is nibble k % 8 (lowest bits first) of word k // 8, stored as q + 8;
weight_scale [N, K/32]. W[n, k] = (nibble - 8) * scale[n, k // 32].

Two shapes of tile, both reading the packed words in place (no repacking at load time):
- int4_tile_t: dequantised [BLOCK_K, BLOCK_N] B operand for tl.dot (GEMM, grouped GEMM). Each
  element loads the word holding it; the lanes sharing a word hit one address and the hardware
  merges them, so DRAM traffic is exactly the packed bytes.
- int4_gemv_tile: the one-row (decode) case, one load per word, unpacked as [N, words, 8].
Masked-out elements come back as 0 (scale loads 0), so partial tiles need no further masking.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def int4_tile_t(p_ptr, s_ptr, offs_n, offs_k, N, K, stride_pn, stride_sn):
    """Dequantised W^T[offs_k, offs_n] as fp32 [BLOCK_K, BLOCK_N] (the B operand of tl.dot)."""
    mask = (offs_k[:, None] < K) & (offs_n[None, :] < N)
    words = tl.load(p_ptr + offs_n[None, :] * stride_pn + (offs_k[:, None] // 8), mask=mask, other=0)
    scales = tl.load(s_ptr + offs_n[None, :] * stride_sn + (offs_k[:, None] // 32), mask=mask, other=0.0)
    q = ((words >> ((offs_k[:, None] % 8) * 4)) & 0xF) - 8
    return q.to(tl.float32) * scales.to(tl.float32)


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

    Unlike int4_tile_t, every packed word is loaded exactly once (one 4-byte load per 8 weights)
    and unpacked in registers as [BLOCK_N, BLOCK_KW, 8]; the group scale is applied after the 8
    products of a word are summed (4 words share a scale). x3: load_x_words(...) for this tile.
    """
    offs_kw = kw0 + tl.arange(0, BLOCK_KW)
    mask = (offs_n[:, None] < N) & (offs_kw[None, :] < (K + 7) // 8)
    words = tl.load(p_ptr + offs_n[:, None] * stride_pn + offs_kw[None, :], mask=mask, other=0)
    scales = tl.load(s_ptr + offs_n[:, None] * stride_sn + offs_kw[None, :] // 4, mask=mask, other=0.0)
    shifts = tl.arange(0, 8) * 4
    q = ((words[:, :, None] >> shifts[None, None, :]) & 0xF) - 8  # [BLOCK_N, BLOCK_KW, 8]
    per_word = tl.sum(q.to(tl.float32) * x3[None, :, :], axis=2)  # [BLOCK_N, BLOCK_KW]
    return tl.sum(per_word * scales.to(tl.float32), axis=1)
