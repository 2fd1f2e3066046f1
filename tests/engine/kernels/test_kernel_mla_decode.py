"""MLA decode kernels (split + reduce) vs the torch reference over the latent cache."""

from __future__ import annotations

import pytest
import torch

from .helpers import assert_close


def _inputs(target, b, hq, lat, rope, s, seed=0):
    device, dtype = target
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape):
        return torch.randn(*shape, generator=gen).to(dtype).to(device)

    return rnd(b, hq, lat), rnd(b, hq, rope), rnd(b, s, lat), rnd(b, s, rope)


def _check(target, b, hq, lat, rope, s, lengths, scale=0.1, **kw):
    from kimi_engine.kernels.mla_decode import mla_decode_reference, mla_decode_triton

    ql, qr, ckv, kr = _inputs(target, b, hq, lat, rope, s)
    lengths = torch.tensor(lengths, device=target[0])
    got = mla_decode_triton(ql, qr, ckv, kr, lengths, scale, **kw)
    assert_close(got, mla_decode_reference(ql, qr, ckv, kr, lengths, scale), target[1])
    return got


@pytest.mark.parametrize(
    ("b", "hq", "lat", "rope", "s", "lengths", "splits", "config"),
    [
        (2, 5, 40, 24, 70, [70, 13], None, None),  # heads < BLOCK_H, non-power-of-2 dims
        (3, 16, 64, 16, 100, [1, 99, 50], 3, {"BLOCK_H": 16, "BLOCK_S": 16}),  # ragged splits
        (2, 20, 32, 16, 40, [40, 7], 8, {"BLOCK_H": 16, "BLOCK_S": 16}),  # empty trailing splits
    ],
)
def test_matches_reference(target, b, hq, lat, rope, s, lengths, splits, config):
    _check(target, b, hq, lat, rope, s, lengths, num_splits=splits, config=config)


def test_zero_length_row_gives_zeros(target):
    got = _check(target, 2, 4, 32, 16, 30, [0, 30], num_splits=2)
    assert got[0].abs().max().item() == 0.0


def test_k2_shapes(target):
    """K2: 64 heads, kv_lora 512, rope 64, a few hundred cached tokens."""
    _check(target, 1, 64, 512, 64, 300, [300], scale=192**-0.5, num_splits=4)


def test_strided_cache_view(target):
    """A [B, S, L] slice of a larger preallocated cache is read in place (no copy)."""
    from kimi_engine.kernels.mla_decode import mla_decode_reference, mla_decode_triton

    ql, qr, ckv_full, kr_full = _inputs(target, 2, 8, 32, 16, 64, seed=5)
    ckv, kr = ckv_full[:, :40], kr_full[:, :40]
    assert not ckv.is_contiguous()
    lengths = torch.tensor([40, 21], device=target[0])
    got = mla_decode_triton(ql, qr, ckv, kr, lengths, 0.2)
    assert_close(got, mla_decode_reference(ql, qr, ckv, kr, lengths, 0.2), target[1])


def test_rejects_bad_arguments(target):
    from kimi_engine.kernels.mla_decode import mla_decode_triton

    ql, qr, ckv, kr = _inputs(target, 2, 4, 32, 16, 10)
    lengths = torch.tensor([10, 3], device=target[0])
    with pytest.raises(ValueError, match=r"c_kv must have shape \[2, \*, 32\]"):
        mla_decode_triton(ql, qr, ckv[..., :16], kr, lengths, 0.1)
    with pytest.raises(ValueError, match=r"k_rope must have shape \[2, 10, 16\]"):
        mla_decode_triton(ql, qr, ckv, kr[:, :5], lengths, 0.1)
    with pytest.raises(TypeError, match="lengths must have dtype"):
        mla_decode_triton(ql, qr, ckv, kr, lengths.float(), 0.1)
    with pytest.raises(ValueError, match="softmax_scale must be a positive"):
        mla_decode_triton(ql, qr, ckv, kr, lengths, float("nan"))
    if target[0].type == "cpu":
        with pytest.raises(ValueError, match=r"lengths must lie in \[0, 10\]"):
            mla_decode_triton(ql, qr, ckv, kr, lengths + 5, 0.1)


def test_reference_prefill_form_is_one_decode_per_query_position():
    """The reference's prefill form (Sq queries per row, causal lengths) equals its decode form
    run once per query position: one definition of the absorbed softmax for both."""
    from kimi_engine.kernels.reference import mla_decode_reference

    gen = torch.Generator().manual_seed(3)
    b, sq, hq, lat, rope, s = 2, 5, 4, 16, 8, 9
    ql, qr = torch.randn(b, sq, hq, lat, generator=gen), torch.randn(b, sq, hq, rope, generator=gen)
    ckv, kr = torch.randn(b, s, lat, generator=gen), torch.randn(b, s, rope, generator=gen)
    lengths = torch.tensor([[5, 6, 7, 8, 9], [0, 1, 2, 3, 4]])
    got = mla_decode_reference(ql, qr, ckv, kr, lengths, 0.3)
    want = torch.stack([mla_decode_reference(ql[:, i], qr[:, i], ckv, kr, lengths[:, i], 0.3) for i in range(sq)], 1)
    assert got.shape == (b, sq, hq, lat)
    assert torch.allclose(got, want, atol=1e-6, rtol=0)
    assert got[1, 0].abs().max().item() == 0.0  # a query that sees no row gives zeros
