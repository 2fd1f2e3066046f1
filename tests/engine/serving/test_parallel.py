"""Tensor parallel on CPU: 2 and 4 gloo ranks give the same logits as the unsplit model (<= 1e-4, fp32)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kimi_engine.model import load_model
from kimi_engine.paged_cache import PagedLatentCache
from kimi_engine.parallel import shard_config, slicer_for, tp_forward_cpu
from kimi_engine.runner import Chunk, forward_chunks


def steps() -> list[list[Chunk]]:
    """A prefill of two sequences (one chunked), then a batched decode step."""
    a, b = list(range(3, 23)), list(range(40, 47))
    return [[Chunk(a[:12], 0, [0, 1]), Chunk(b, 0, [4, 5])],
            [Chunk(a[12:], 12, [0, 1]), Chunk([9], 7, [4, 5])],
            [Chunk([11], 20, [0, 1]), Chunk([12], 8, [4, 5])]]


@pytest.mark.parametrize("world", [2, 4])
def test_gloo_ranks_match_one(tiny_path: Path, tmp_path: Path, world: int) -> None:
    model = load_model(tiny_path)
    cache = PagedLatentCache(model.config, 16, 16)
    want = [forward_chunks(model, cache, s) for s in steps()]
    got = tp_forward_cpu(tiny_path, world, steps(), blocks=16, block_size=16, workdir=tmp_path)
    for w, g in zip(want, got, strict=True):
        assert (w - g).abs().max().item() <= 1e-4


def test_slicer_and_shard_shapes(engine: Any) -> None:
    cfg = engine.model.config
    local = shard_config(cfg, 2)
    assert local.num_attention_heads * 2 == cfg.num_attention_heads
    s = slicer_for(1, 2)
    assert s("model.layers.0.self_attn.o_proj.weight", (64, 64)) == (slice(None), slice(32, 64))
    assert s("model.layers.1.mlp.experts.3.gate_proj.weight", (32, 64)) == (slice(16, 32), slice(None))
    assert s("model.layers.0.self_attn.kv_a_proj_with_mqa.weight", (40, 64)) is None
    # INT4 experts are split packed: down's words [H, I/8] and scales [H, I/32] by columns
    assert s("model.layers.1.mlp.experts.3.down_proj.weight_packed", (64, 8)) == (slice(None), slice(4, 8))
    assert s("model.layers.1.mlp.experts.3.down_proj.weight_scale", (64, 2)) == (slice(None), slice(1, 2))
    assert s("model.layers.1.mlp.experts.3.up_proj.weight_scale", (64, 2)) == (slice(32, 64), slice(None))
    ep = slicer_for(1, 2, expert_parallel=True)  # whole routed experts; the shared expert still split
    assert ep("model.layers.1.mlp.experts.3.down_proj.weight_packed", (64, 8)) is None
    assert ep("model.layers.1.mlp.shared_experts.down_proj.weight", (64, 32)) == (slice(None), slice(16, 32))
    with pytest.raises(ValueError, match="divisible"):
        shard_config(cfg, 3)
