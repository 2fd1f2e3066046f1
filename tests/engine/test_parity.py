"""Logits and greedy tokens of kimi_engine vs transformers' DeepseekV3ForCausalLM on the same weights."""

from __future__ import annotations

import pytest
import torch
from engine_helpers import hf_reference, tiny_config, write_reference
from kimi_engine import load_model
from kimi_engine.synthetic import random_state_dict, write_checkpoint

TOL = 1e-4


@pytest.fixture(scope="module")
def ids() -> torch.Tensor:
    return torch.randint(0, 320, (2, 48), generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize(
    ("model_type", "overrides"),
    [
        ("deepseek_v3", {}),
        ("kimi_k2", {"n_group": 4, "topk_group": 2, "first_k_dense_replace": 2}),
        ("kimi_k25", {"q_lora_rank": None, "rope_interleave": True, "num_experts_per_tok": 2}),
    ],
)
def test_prefill_logits_match_transformers(tmp_path, ids, model_type, overrides) -> None:
    text = tiny_config(**overrides)
    state = random_state_dict(text, seed=3)
    ours = load_model(write_checkpoint(tmp_path / "ckpt", state, text, model_type=model_type))
    ref = hf_reference(write_reference(tmp_path / "ref", state, text))
    assert ref.model.rotary_emb.attention_scaling == pytest.approx(ours.rotary.attention_factor)
    with torch.no_grad():
        expected = ref(ids).logits
    got = ours(ids)
    assert got.shape == (2, 48, text["vocab_size"])
    assert (got - expected).abs().max().item() <= TOL


def test_yarn_is_active_and_matches(tmp_path, tiny_state) -> None:
    """The tiny config's yarn factor really changes the frequencies and the softmax scale."""
    from kimi_engine.config import RopeConfig
    from kimi_engine.layers import rope_frequencies

    text = tiny_config()
    ours = load_model(write_checkpoint(tmp_path / "c", tiny_state, text))
    plain, _ = rope_frequencies(RopeConfig(theta=text["rope_theta"]), text["qk_rope_head_dim"])
    assert not torch.allclose(plain, ours.rotary.inv_freq)
    assert ours.model.layers[0].self_attn.scale > (16 + 8) ** -0.5
    ref = hf_reference(write_reference(tmp_path / "r", tiny_state, text))
    assert torch.allclose(ref.model.rotary_emb.inv_freq, ours.rotary.inv_freq, atol=0, rtol=0)
    assert ref.model.layers[0].self_attn.scaling == pytest.approx(ours.model.layers[0].self_attn.scale)


def _hf_greedy(ref: torch.nn.Module, prompt: torch.Tensor, steps: int) -> list[int]:
    """Greedy decoding through transformers' own KV cache, one token per forward."""
    out = ref(prompt, use_cache=True)
    past, tokens = out.past_key_values, []
    nxt = out.logits[:, -1].argmax(-1, keepdim=True)
    for _ in range(steps):
        tokens.append(int(nxt))
        out = ref(nxt, past_key_values=past, use_cache=True)
        past = out.past_key_values
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
    return tokens


def _our_greedy(model: torch.nn.Module, prompt: torch.Tensor, steps: int) -> list[int]:
    cache = model.new_cache(1, prompt.shape[1] + steps + 1)
    logits = model(prompt, cache)
    tokens = []
    nxt = logits[:, -1].argmax(-1, keepdim=True)
    for _ in range(steps):
        tokens.append(int(nxt))
        nxt = model(nxt, cache)[:, -1].argmax(-1, keepdim=True)
    return tokens


def test_greedy_decode_32_tokens_through_absorbed_cache(tmp_path, tiny_state) -> None:
    text = tiny_config()
    ours = load_model(write_checkpoint(tmp_path / "c", tiny_state, text))
    ref = hf_reference(write_reference(tmp_path / "r", tiny_state, text))
    prompt = torch.randint(0, 320, (1, 12), generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        expected = _hf_greedy(ref, prompt, 32)
    assert ours.attention_mode == "auto"  # single-token steps take the absorbed path
    assert _our_greedy(ours, prompt, 32) == expected
    assert len(set(expected)) > 3  # a real sequence, not one repeated token


def test_cached_step_logits_match_transformers(tmp_path, tiny_state) -> None:
    """Per-step logits of the absorbed decode equal transformers' cached logits."""
    text = tiny_config()
    ours = load_model(write_checkpoint(tmp_path / "c", tiny_state, text))
    ref = hf_reference(write_reference(tmp_path / "r", tiny_state, text))
    seq = torch.randint(0, 320, (2, 20), generator=torch.Generator().manual_seed(5))
    cache = ours.new_cache(2, 32)
    ours(seq[:, :8], cache)
    with torch.no_grad():
        out = ref(seq[:, :8], use_cache=True)
        past = out.past_key_values
        for i in range(8, 20):
            out = ref(seq[:, i : i + 1], past_key_values=past, use_cache=True)
            past = out.past_key_values
            got = ours(seq[:, i : i + 1], cache)
            assert (got - out.logits).abs().max().item() <= TOL
    assert cache.length == 20


@pytest.mark.parametrize("mode", ["naive", "absorb"])
def test_attention_modes_agree(tmp_path, tiny_state, mode) -> None:
    text = tiny_config()
    model = load_model(write_checkpoint(tmp_path / "c", tiny_state, text))
    seq = torch.randint(0, 320, (1, 24), generator=torch.Generator().manual_seed(2))
    full = model(seq)
    model.set_attention_mode(mode)
    cache = model.new_cache(1, 24)
    parts = [model(seq[:, :10], cache), model(seq[:, 10:17], cache)]
    parts += [model(seq[:, i : i + 1], cache) for i in range(17, 24)]
    assert (torch.cat(parts, dim=1) - full).abs().max().item() <= TOL


def test_bf16_checkpoint_loads_into_fp32_and_bf16(tmp_path, tiny_state) -> None:
    text = tiny_config()
    path = write_checkpoint(tmp_path / "c", tiny_state, text, dtype=torch.bfloat16)
    ids = torch.randint(0, 320, (1, 16))
    fp32 = load_model(path, dtype=torch.float32)
    bf16 = load_model(path, dtype=torch.bfloat16)
    assert bf16.model.embed_tokens.weight.dtype == torch.bfloat16
    assert bf16.model.layers[1].mlp.gate.e_score_correction_bias.dtype == torch.float32
    a, b = fp32(ids), bf16(ids).float()
    assert torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0) > 0.99
