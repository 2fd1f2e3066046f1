"""CUDA-graph decode: bucketing, padding and replay bookkeeping (CPU), capture itself on CUDA only."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
import torch
from kimi_engine.kernels.cuda_graphs import DecodeGraphs, InputSpec, batch_bucket, context_bucket

SPECS = [InputSpec("ids", torch.int64, -1), InputSpec("slots", torch.int64, 7, has_context=True),
         InputSpec("lengths", torch.int32, 1, tail=(1,))]


def _inputs(n: int, t: int) -> dict[str, torch.Tensor]:
    return {"ids": torch.arange(10, 10 + n), "slots": torch.arange(n * t).reshape(n, t),
            "lengths": torch.full((n, 1), t, dtype=torch.int32)}


class Recorder:
    """A step that returns per-row (id, sum of the visible slots, length), as attention would see
    them (columns past a row's length are masked), and remembers the buffers it was called with."""

    def __init__(self) -> None:
        self.seen: list[dict[str, torch.Tensor]] = []

    def __call__(self, inp: Mapping[str, torch.Tensor]) -> torch.Tensor:
        self.seen.append({k: v.clone() for k, v in inp.items()})
        cols = torch.arange(inp["slots"].shape[1])
        visible = torch.where(cols[None, :] < inp["lengths"], inp["slots"], 0).sum(1)
        return torch.stack([inp["ids"].float(), visible.float(), inp["lengths"][:, 0].float()], 1)


def test_batch_buckets():
    assert [batch_bucket(n) for n in (1, 2, 3, 4, 5, 9, 64, 65, 128)] == [1, 2, 4, 4, 8, 16, 64, 128, 128]
    assert batch_bucket(129) is None
    assert batch_bucket(3, buckets=(8, 2)) == 8
    with pytest.raises(ValueError, match="at least one row"):
        batch_bucket(0)


def test_context_buckets():
    assert [context_bucket(t) for t in (0, 1, 256, 257, 1000, 4096)] == [256, 256, 256, 512, 1024, 4096]
    assert context_bucket(5, min_context=4) == 8
    with pytest.raises(ValueError):
        context_bucket(-1)


def test_padded_replay_gives_the_unpadded_rows():
    step = Recorder()
    graphs = DecodeGraphs(step, SPECS, torch.device("cpu"), min_context=8)
    out = graphs.run(_inputs(3, 5))
    torch.testing.assert_close(out, step_direct(_inputs(3, 5)))
    static = step.seen[-1]
    assert static["ids"].tolist() == [10, 11, 12, -1]  # batch 3 -> bucket 4, padded row = pad
    assert static["slots"].shape == (4, 8)  # context 5 -> 8
    assert (static["slots"][:3, 5:] == 7).all() and (static["slots"][3] == 7).all()
    assert static["lengths"][:, 0].tolist() == [5, 5, 5, 1]
    assert graphs.stats.replays == {(4, 8): 1}


def step_direct(inp: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return Recorder()(inp)


def test_smaller_batch_in_the_same_bucket_resets_stale_rows():
    step = Recorder()
    graphs = DecodeGraphs(step, SPECS, torch.device("cpu"), min_context=8)
    graphs.run(_inputs(4, 6))
    out = graphs.run(_inputs(3, 2))
    torch.testing.assert_close(out, step_direct(_inputs(3, 2)))
    static = step.seen[-1]
    assert static["ids"][3].item() == -1 and (static["slots"][:, 2:] == 7).all()
    assert graphs.stats.replays == {(4, 8): 2}
    assert graphs.stats.eager == 0


def test_too_big_runs_eagerly_and_is_counted():
    step = Recorder()
    graphs = DecodeGraphs(step, SPECS, torch.device("cpu"), batch_buckets=(1, 2), max_context=16, min_context=8)
    out = graphs.run(_inputs(3, 4))  # batch 3 > 2
    assert out.shape == (3, 3) and step.seen[-1]["ids"].shape == (3,)  # the real inputs, unpadded
    graphs.run(_inputs(2, 17))  # context 17 -> 32 > 16
    assert graphs.stats.eager == 2 and not graphs.stats.replays


def test_warm_up_prepares_buffers_and_rejects_bad_inputs():
    graphs = DecodeGraphs(Recorder(), SPECS, torch.device("cpu"), min_context=8)
    assert graphs.warm_up([(1, 8), (2, 8)]) == [(1, 8), (2, 8)]
    assert graphs.key_for(2, 3) == (2, 8)
    with pytest.raises(KeyError, match="missing"):
        graphs.run({"ids": torch.zeros(1, dtype=torch.int64)})
    bad = _inputs(2, 3)
    bad["lengths"] = bad["lengths"][:1]
    with pytest.raises(ValueError, match="lengths has 1 rows, expected 2"):
        graphs.run(bad)


def test_capture_needs_cuda():
    with pytest.raises(ValueError, match="need a CUDA device"):
        DecodeGraphs(Recorder(), SPECS, torch.device("cpu"), capture=True)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="capture needs CUDA")
def test_capture_and_replay_on_cuda():
    dev = torch.device("cuda")
    w = torch.randn(16, 16, device=dev)

    def step(inp):
        return (inp["x"] @ w).relu()

    graphs = DecodeGraphs(step, [InputSpec("x", torch.float32, 0.0, tail=(16,))], dev)
    assert graphs.warm_up([(4, 256)]) == [(4, 256)]
    x = torch.randn(3, 16, device=dev)
    torch.testing.assert_close(graphs.run({"x": x}), step({"x": x}))
    assert graphs.stats.captured == [(4, 256)] and graphs.stats.replays[(4, 256)] == 1


# --- the runner's decode step through DecodeGraphs -------------------------------------------

def test_runner_decode_through_graphs_matches_eager(tmp_path: Path):
    """Tiny model: an all-decode step through decode_graphs (batch 3 -> bucket 4) gives the eager
    logits, and the padded row writes only into the reserved scratch slot."""
    from kimi_engine import load_model
    from kimi_engine.paged_cache import PagedLatentCache
    from kimi_engine.runner import Chunk, decode_graphs, forward_chunks
    from kimi_engine.synthetic import TINY_TEXT_CONFIG, random_state_dict, write_checkpoint

    model = load_model(write_checkpoint(tmp_path / "ckpt", random_state_dict(TINY_TEXT_CONFIG, seed=4),
                                        TINY_TEXT_CONFIG))
    seqs = {"A": list(range(3, 15)), "B": list(range(40, 47)), "C": list(range(90, 97))}
    tables = {"A": [0, 1, 2], "B": [3, 4], "C": [5, 6]}
    prefill = [Chunk(seqs[s][:n], 0, tables[s]) for s, n in (("A", 11), ("B", 6), ("C", 6))]
    decode = [Chunk([seqs[s][n]], n, tables[s]) for s, n in (("A", 11), ("B", 6), ("C", 6))]

    def fresh() -> PagedLatentCache:
        cache = PagedLatentCache(model.config, 9, 4)
        assert [cache.allocate() for _ in range(7)] == list(range(7))  # the sequences' blocks
        forward_chunks(model, cache, prefill)
        return cache

    eager_cache = fresh()
    want = forward_chunks(model, eager_cache, decode)
    cache = fresh()
    graphs = decode_graphs(model, cache, min_context=8)
    assert cache.available == 1  # block 7 reserved as scratch
    got = forward_chunks(model, cache, decode, graphs=graphs)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert graphs.stats.replays == {(4, 16): 1}
    scratch = 7 * 4
    real = torch.ones(cache.kv.shape[1], dtype=torch.bool)
    real[scratch] = False
    torch.testing.assert_close(cache.kv[:, real], eager_cache.kv[:, real])
    assert cache.kv[:, scratch].abs().sum() > 0 and eager_cache.kv[:, scratch].abs().sum() == 0
    # A mixed step (a prefill beside decodes) bypasses the graphs.
    forward_chunks(model, cache, [Chunk([5, 6], 0, [8])], graphs=graphs)
    assert graphs.stats.replays == {(4, 16): 1} and graphs.stats.eager == 0
