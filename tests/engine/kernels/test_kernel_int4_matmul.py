"""W4A16 matmul kernel vs the torch reference (and vs a hand-built packed layout)."""

from __future__ import annotations

import pytest
import torch

from .helpers import assert_close, random_int4

SMALL = dict(BLOCK_N=16, BLOCK_K=32, num_warps=4, num_stages=2)


def _run(target, m, n, k, config=None, scale_dtype=torch.float32, seed=0):
    from kimi_engine.kernels.int4_matmul import int4_matmul, int4_matmul_reference

    device, dtype = target
    gen = torch.Generator().manual_seed(seed)
    packed, scale = random_int4(n, k, gen, scale_dtype)
    x = torch.randn(m, k, generator=gen).to(dtype)
    packed, scale, x = packed.to(device), scale.to(device), x.to(device)
    got = int4_matmul(x, packed, scale, (n, k), config=config)
    assert_close(got, int4_matmul_reference(x, packed, scale, (n, k)), dtype)


@pytest.mark.parametrize(
    ("m", "n", "k", "config"),
    [
        (1, 37, 72, SMALL),  # N, K not multiples of the blocks; K not a multiple of 32
        (1, 50, 200, {**SMALL, "SPLIT_K": 3}),  # split-K with a ragged last split
        (3, 50, 200, {**SMALL, "SPLIT_K": 2}),  # GEMV via tl.dot (BLOCK_M = 16, rows masked)
        (16, 33, 96, SMALL),
        (17, 70, 96, {**SMALL, "GEMM_BLOCK_M": 16}),  # first prefill-sized M, ragged M tiles
        (45, 64, 256, None),  # tuned/default config path
    ],
)
def test_matches_reference_on_ragged_shapes(target, m, n, k, config):
    _run(target, m, n, k, config)


def test_bf16_scales(target):
    _run(target, 2, 40, 128, SMALL, scale_dtype=torch.bfloat16, seed=3)


@pytest.mark.parametrize(("n", "k"), [(2048, 7168), (7168, 2048)], ids=["gate_up", "down"])
def test_k2_expert_shapes_one_token(target, n, k):
    _run(target, 1, n, k, seed=1)


@pytest.mark.parametrize(("m", "n", "k"), [(4, 512, 7168), (64, 256, 2048)], ids=["gemv-dot", "gemm"])
def test_k2_expert_shapes_batched(target, m, n, k):
    """K2 expert K (7168 hidden, 2048 intermediate) on the 16-row dot GEMV (split-K) and the GEMM."""
    config = {"BLOCK_N": 128, "BLOCK_K": 256, "SPLIT_K": 2 if m <= 16 else 1, "GEMM_BLOCK_M": 64}
    _run(target, m, n, k, config, scale_dtype=torch.bfloat16, seed=2)


def test_nibble_order_lowest_bits_first(target):
    """Build the word by hand: element k of a row is nibble k % 8 of word k // 8, stored as q + 8."""
    from kimi_engine.kernels.int4_matmul import int4_matmul

    device, dtype = target
    q = [-8, -3, 0, 7, 1, -1, 5, -6, 2, 3, -4, 4, 6, -7, -2, -5]  # one row, K = 16
    words = [sum((q[w * 8 + j] + 8) << (4 * j) for j in range(8)) for w in range(2)]
    words = [w - 2**32 if w >= 2**31 else w for w in words]
    packed = torch.tensor([words], dtype=torch.int32, device=device)
    scale = torch.tensor([[0.5]], dtype=torch.float32, device=device)
    x = torch.eye(16, dtype=dtype, device=device)  # row i picks W[0, i]
    got = int4_matmul(x, packed, scale, (1, 16), config=SMALL)
    assert got[:, 0].float().cpu().tolist() == [v * 0.5 for v in q]


def test_empty_batch(target):
    from kimi_engine.kernels.int4_matmul import int4_matmul

    device, dtype = target
    packed, scale = random_int4(8, 32, torch.Generator().manual_seed(0))
    out = int4_matmul(torch.empty(0, 32, dtype=dtype, device=device), packed.to(device), scale.to(device), (8, 32))
    assert out.shape == (0, 8)


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda x, p, s: (x, p.to(torch.int64), s), TypeError, "weight_packed must have dtype"),
        (lambda x, p, s: (x, p, s[:, :1].contiguous()), ValueError, r"weight_scale must have shape \[8, 2\]"),
        (lambda x, p, s: (x[:, :32], p, s), ValueError, r"x must have shape \[\*, 40\]"),
        (lambda x, p, s: (x.to(torch.int32), p, s), TypeError, "x must have dtype"),
        (lambda x, p, s: (x, p.t().contiguous().t(), s), ValueError, "must be contiguous"),
        (lambda x, p, s: (x.t().contiguous().t(), p, s), ValueError, "unit stride"),
    ],
)
def test_wrapper_rejects_bad_arguments(target, mutate, error, match):
    from kimi_engine.kernels.int4_matmul import int4_matmul

    device, dtype = target
    packed, scale = random_int4(8, 40, torch.Generator().manual_seed(0))
    x = torch.randn(3, 40, dtype=dtype, device=device)
    x, packed, scale = mutate(x, packed.to(device), scale.to(device))
    with pytest.raises(error, match=match):
        int4_matmul(x, packed, scale, (8, 40))


def test_split_k_counters_rearm_between_calls(target):
    """The last split re-arms its tile counter: back-to-back split-K calls stay correct."""
    from kimi_engine.kernels import int4_matmul as mod
    from kimi_engine.kernels import split_k

    device, dtype = target
    gen = torch.Generator().manual_seed(9)
    packed, scale = (t.to(device) for t in random_int4(40, 160, gen))
    cfg = {**SMALL, "SPLIT_K": 4}
    for m in (1, 5, 1):
        x = torch.randn(m, 160, generator=gen).to(dtype).to(device)
        got = mod.int4_matmul(x, packed, scale, (40, 160), config=cfg)
        assert_close(got, mod.int4_matmul_reference(x, packed, scale, (40, 160)), dtype)
    assert int(split_k._LOCKS[x.device].abs().sum()) == 0
