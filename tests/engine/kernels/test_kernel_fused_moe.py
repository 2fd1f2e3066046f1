"""Fused INT4 MoE kernels (decode and sorted grouped-GEMM paths) vs the torch reference."""

from __future__ import annotations

import pytest
import torch

from .helpers import assert_close, random_int4


def make_experts(num_experts: int, hidden: int, inter: int, device, seed: int = 0):
    from kimi_engine.kernels.experts import Int4Experts

    gen = torch.Generator().manual_seed(seed)
    gu_p, gu_s = random_int4(2 * inter, hidden, gen, lead=(num_experts,))
    d_p, d_s = random_int4(hidden, inter, gen, lead=(num_experts,))
    return Int4Experts(gu_p.to(device), gu_s.to(device), d_p.to(device), d_s.to(device), hidden, inter)


def routing(tokens: int, topk: int, num_experts: int, seed: int, avoid: tuple[int, ...] = ()):
    """Distinct experts per token (as a router produces), never choosing `avoid`."""
    gen = torch.Generator().manual_seed(seed)
    allowed = torch.tensor([e for e in range(num_experts) if e not in avoid])
    ids = torch.stack([allowed[torch.randperm(len(allowed), generator=gen)[:topk]] for _ in range(tokens)])
    weights = torch.rand(tokens, topk, generator=gen) + 0.1
    return ids.to(torch.int32), weights


def _check(target, experts, ids, weights, mode, shared=True, seed=0, gate_up_config=None):
    from kimi_engine.kernels.fused_moe import fused_moe_reference, fused_moe_triton

    device, dtype = target
    gen = torch.Generator().manual_seed(seed)
    t = ids.shape[0]
    hidden = torch.randn(t, experts.hidden, generator=gen).to(dtype).to(device)
    shared_out = torch.randn(t, experts.hidden, generator=gen).to(dtype).to(device) if shared else None
    ids, weights = ids.to(device), weights.to(device)
    got = fused_moe_triton(hidden, ids, weights, experts, shared_out, mode=mode, gate_up_config=gate_up_config)
    assert_close(got, fused_moe_reference(hidden, ids, weights, experts, shared_out), dtype)


@pytest.mark.parametrize("mode", ["decode", "prefill"])
@pytest.mark.parametrize("tokens", [1, 5, 33])
def test_matches_reference_ragged(target, mode, tokens):
    # H=200 and I=40 are multiples of neither the blocks nor (for I) the quantisation group;
    # expert 2 gets no tokens at all.
    experts = make_experts(6, 200, 40, target[0])
    ids, weights = routing(tokens, 3, 6, seed=tokens, avoid=(2,))
    _check(target, experts, ids, weights, mode, shared=tokens != 5)


@pytest.mark.parametrize("mode", ["decode", "prefill"])
def test_skipped_slots_contribute_nothing(target, mode):
    """topk_ids == -1 (expert on another rank) adds nothing; a token with all -1 gets only shared."""
    experts = make_experts(4, 64, 32, target[0], seed=1)
    ids, weights = routing(6, 2, 4, seed=7)
    ids[1, 0] = -1
    ids[3] = -1
    _check(target, experts, ids, weights, mode)


@pytest.mark.parametrize("mode", ["decode", "prefill"])
def test_many_tokens_one_expert(target, mode):
    """Every pair on one expert: the grouped path needs several blocks of that expert."""
    experts = make_experts(3, 64, 32, target[0], seed=2)
    ids = torch.full((40, 1), 1, dtype=torch.int64)
    _check(target, experts, ids, torch.rand(40, 1) + 0.5, mode, shared=False)


def test_k2_expert_shapes_decode(target):
    """Real K2 expert sizes (H=7168, I=2048), one token routed to 2 experts (interpreter cost)."""
    experts = make_experts(2, 7168, 2048, target[0], seed=3)
    ids = torch.tensor([[1, 0]], dtype=torch.int32)
    _check(target, experts, ids, torch.tensor([[0.7, 0.4]]), "decode")


def test_auto_mode_and_empty_inputs(target):
    from kimi_engine.kernels.fused_moe import fused_moe_triton

    device, dtype = target
    experts = make_experts(4, 64, 32, device, seed=4)
    ids, weights = routing(20, 2, 4, seed=4)  # 20 tokens > DECODE_MAX_TOKENS: grouped path
    _check(target, experts, ids, weights, "auto")
    empty = fused_moe_triton(torch.empty(0, 64, dtype=dtype, device=device),
                             torch.empty(0, 2, dtype=torch.int32, device=device),
                             torch.empty(0, 2, device=device), experts)
    assert empty.shape == (0, 64)


def test_rejects_bad_arguments(target):
    from kimi_engine.kernels.fused_moe import fused_moe_triton

    device, dtype = target
    experts = make_experts(4, 64, 32, device)
    hidden = torch.randn(2, 64, dtype=dtype, device=device)
    ids = torch.tensor([[0, 1], [2, 3]], dtype=torch.int32, device=device)
    w = torch.ones(2, 2, device=device)
    with pytest.raises(ValueError, match=r"hidden must have shape \[\*, 64\]"):
        fused_moe_triton(hidden[:, :32], ids, w, experts)
    with pytest.raises(ValueError, match=r"topk_weights must have shape \[2, 2\]"):
        fused_moe_triton(hidden, ids, w[:, :1], experts)
    with pytest.raises(TypeError, match="topk_ids must have dtype"):
        fused_moe_triton(hidden, ids.float(), w, experts)
    with pytest.raises(ValueError, match="mode must be"):
        fused_moe_triton(hidden, ids, w, experts, mode="fast")
    if device.type == "cpu":  # value checks are CPU-only (no GPU sync)
        with pytest.raises(ValueError, match=r"topk_ids must lie in \[-1, 4\)"):
            fused_moe_triton(hidden, ids + 3, w, experts)


@pytest.mark.parametrize("splits", [2, 3])
def test_gate_up_split_k_matches_reference(target, splits):
    """Decode gate_up split over H (H=200: the last split is ragged); counters re-armed after."""
    from kimi_engine.kernels import split_k

    experts = make_experts(5, 200, 40, target[0], seed=5)
    ids, weights = routing(3, 2, 5, seed=11)
    ids[2, 1] = -1  # a skipped pair still takes part in its tile's split-K election
    cfg = {"BLOCK_N": 16, "BLOCK_K": 64, "SPLIT_K": splits}
    for _ in range(2):  # the second call finds the counters back at 0
        _check(target, experts, ids, weights, "decode", gate_up_config=cfg)
    assert int(split_k._LOCKS[torch.device(target[0])].abs().sum()) == 0


def test_k2_tp8_decode_with_split_k(target):
    """A K2 layer's per-rank experts under TP8 (H=7168, I=256): one token, gate_up split 4 ways."""
    experts = make_experts(3, 7168, 256, target[0], seed=6)
    ids = torch.tensor([[2, 0]], dtype=torch.int32)
    cfg = {"BLOCK_N": 128, "BLOCK_K": 256, "SPLIT_K": 4}
    _check(target, experts, ids, torch.tensor([[0.9, 0.3]]), "decode", gate_up_config=cfg)
