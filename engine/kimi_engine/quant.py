"""INT4 pack-quantized weights (compressed-tensors "pack-quantized", 4-bit symmetric, group 32).

On-disk layout for a linear weight W of logical shape [N, K] (out_features x in_features):
  weight_packed  int32 [N, K // 8]   8 nibbles per word, lowest bits first along K; each nibble
                                     stores q + 8 where q in [-8, 7]
  weight_scale   bf16/fp16/fp32 [N, K // 32]   one scale per group of 32 along K
  weight_shape   int [2] = [N, K]
Dequantised: W[n, k] = (nibble(n, k) - 8) * scale[n, k // 32].

These functions are the plain torch reference (and the CPU path) for the Triton kernels in
kimi_engine.kernels.

Convention verified against the compressed-tensors package itself (tests/engine/test_int4.py):
pack_int4 == compressed_tensors' pack_to_int32(q, 4), unpack_int4 == unpack_from_int32, and
dequantize_int4 == PackedQuantizationCompressor.decompress bit for bit (fp32 scales). Kernel
authors can rely on: word j of row n holds K-elements 8j..8j+7, element 8j+i in bits 4i..4i+3.
"""

from __future__ import annotations

import torch

PACK_FACTOR = 8  # int4 values per int32 word
GROUP_SIZE = 32
_SHIFTS = torch.arange(0, 32, 4, dtype=torch.int32)  # [8]: bit offset of each nibble


def unpack_int4(packed: torch.Tensor, k: int) -> torch.Tensor:
    """Unpack stored nibbles to signed ints.

    packed: int32 [N, ceil(K/8)]  ->  int8 [N, K] with values in [-8, 7].
    """
    if packed.dtype != torch.int32:
        raise TypeError(f"weight_packed must be int32, got {packed.dtype}")
    shifts = _SHIFTS.to(packed.device)
    nibbles = (packed.unsqueeze(-1) >> shifts) & 0xF  # [N, K/8, 8]
    values = nibbles.reshape(packed.shape[0], -1)[:, :k]
    return (values - 8).to(torch.int8)


def pack_int4(q: torch.Tensor) -> torch.Tensor:
    """Pack signed ints in [-8, 7], int [N, K] (K a multiple of 8) -> int32 [N, K/8]."""
    n, k = q.shape
    if k % PACK_FACTOR:
        raise ValueError(f"K={k} must be a multiple of {PACK_FACTOR} to pack")
    if q.min() < -8 or q.max() > 7:
        raise ValueError("int4 values must lie in [-8, 7]")
    stored = (q.to(torch.int64) + 8).reshape(n, k // PACK_FACTOR, PACK_FACTOR)
    words = (stored << _SHIFTS.to(q.device, torch.int64)).sum(-1)  # < 2**32, fits int64
    # Reinterpret the unsigned 32-bit pattern as int32 (two's complement), like the checkpoint.
    words = torch.where(words >= 2**31, words - 2**32, words)
    return words.to(torch.int32)


def dequantize_int4(
    packed: torch.Tensor,
    scale: torch.Tensor,
    shape: tuple[int, int],
    dtype: torch.dtype = torch.bfloat16,
) -> torch.Tensor:
    """packed int32 [N, K/8], scale [N, K/32], shape (N, K) -> dense weight [N, K] in `dtype`."""
    n, k = shape
    q = unpack_int4(packed, k).to(torch.float32)  # [N, K]
    groups = q.reshape(n, -1, GROUP_SIZE) if k % GROUP_SIZE == 0 else None
    if groups is None:
        s = scale.to(torch.float32).repeat_interleave(GROUP_SIZE, dim=1)[:, :k]
        return (q * s).to(dtype)
    return (groups * scale.to(torch.float32).unsqueeze(-1)).reshape(n, k).to(dtype)


def quantize_int4(
    weight: torch.Tensor, scale_dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric group-32 quantisation of a dense [N, K] weight (K % 32 == 0), for tests and
    conversion: returns (weight_packed int32 [N, K/8], weight_scale `scale_dtype` [N, K/32]).

    scale = absmax(group) / 7, rounded to `scale_dtype` *before* the values are rounded, so that
    dequantising with the stored scale is exactly what the integers were computed against.
    """
    n, k = weight.shape
    if k % GROUP_SIZE:
        raise ValueError(f"K={k} must be a multiple of {GROUP_SIZE}")
    groups = weight.to(torch.float32).reshape(n, k // GROUP_SIZE, GROUP_SIZE)
    scale = (groups.abs().amax(-1).clamp(min=1e-8) / 7.0).to(scale_dtype)  # [N, K/32]
    q = torch.clamp(torch.round(groups / scale.float().unsqueeze(-1)), -8, 7).reshape(n, k)
    return pack_int4(q.to(torch.int32)), scale
