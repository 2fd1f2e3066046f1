"""Triton helpers that dequantise tiles of the checkpoint's INT4 layout in registers.

Layout (compressed-tensors pack-quantized, see kimi_engine.quant): weight_packed int32 [N, K/8],
element k of row n is nibble k % 8 (lowest bits first) of word k // 8, stored as q + 8;
weight_scale [N, K/32]. W[n, k] = (nibble - 8) * scale[n, k // 32].

Each thread loads the word that holds its element, so the 8 lanes that share a word hit one
address and the hardware merges them: DRAM traffic is exactly the packed bytes, no repacking.
Masked-out elements come back as 0 (scale loads 0), so partial tiles need no further masking.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def int4_tile(p_ptr, s_ptr, offs_n, offs_k, N, K, stride_pn, stride_sn):
    """Dequantised W[offs_n, offs_k] as fp32 [BLOCK_N, BLOCK_K]."""
    mask = (offs_n[:, None] < N) & (offs_k[None, :] < K)
    words = tl.load(p_ptr + offs_n[:, None] * stride_pn + (offs_k[None, :] // 8), mask=mask, other=0)
    scales = tl.load(s_ptr + offs_n[:, None] * stride_sn + (offs_k[None, :] // 32), mask=mask, other=0.0)
    q = ((words >> ((offs_k[None, :] % 8) * 4)) & 0xF) - 8
    return q.to(tl.float32) * scales.to(tl.float32)


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
