"""Shared helpers for the kernel tests."""

from __future__ import annotations

import torch

# Tolerances relative to the reference's max magnitude: fp32 is near-exact; 16-bit activations
# round the dequantised weights (and, for MoE, the intermediate) to their own precision.
REL_TOL = {torch.float32: 1e-5, torch.bfloat16: 2e-2, torch.float16: 4e-3}


def assert_close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype) -> None:
    """Max abs error within REL_TOL[dtype] of the expected tensor's max magnitude."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    a, e = actual.float().cpu(), expected.float().cpu()
    assert torch.isfinite(a).all(), "kernel produced non-finite values"
    scale = max(e.abs().max().item(), 1e-6)
    err = (a - e).abs().max().item()
    assert err <= REL_TOL[dtype] * scale, f"max abs error {err:.3g} vs scale {scale:.3g} ({dtype})"


def random_int4(n: int, k: int, gen: torch.Generator, scale_dtype=torch.float32,
                lead: tuple[int, ...] = ()) -> tuple[torch.Tensor, torch.Tensor]:
    """Random checkpoint-layout weight for any K (packed int32 [*lead, n, ceil(k/8)], scale
    [*lead, n, ceil(k/32)]); nibbles past K are random too."""
    words = torch.randint(-2**31, 2**31, (*lead, n, (k + 7) // 8), generator=gen, dtype=torch.int64)
    packed = words.to(torch.int32)
    scale = (torch.rand((*lead, n, (k + 31) // 32), generator=gen) * 0.02 + 0.005).to(scale_dtype)
    return packed, scale
