"""Continuous batching, chunked prefill and prefix caching, driven through the real scheduler thread."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest
import torch
from kimi_engine.paged_cache import OutOfBlocksError, PagedLatentCache
from kimi_engine.runner import Chunk, forward_chunks
from kimi_engine.sampling import SamplingParams
from kimi_engine.scheduler import QueueFullError, Request, Scheduler


class Recorder:
    """Step function that records each step's chunks, then runs the real forward."""

    def __init__(self, engine: Any, cache: PagedLatentCache) -> None:
        self.engine, self.cache = engine, cache
        self.steps: list[list[tuple[int, int]]] = []  # per step: (start, n_tokens) per chunk

    def __call__(self, chunks: Sequence[Chunk]) -> torch.Tensor:
        self.steps.append([(c.start, len(c.tokens)) for c in chunks])
        return forward_chunks(self.engine.model, self.cache, chunks)


def make(engine: Any, blocks: int = 512, block_size: int = 8, **kw: Any) -> tuple[Scheduler, Recorder]:
    cache = PagedLatentCache(engine.model.config, blocks, block_size)
    rec = Recorder(engine, cache)
    return Scheduler(rec, cache, engine.stop_ids, **kw), rec


def run(sched: Scheduler, prompts: list[list[int]], max_tokens: int) -> list[list[int]]:
    """Submit all prompts before starting the thread (so they share steps), wait for all."""
    outs: list[list[int]] = [[] for _ in prompts]
    done = threading.Semaphore(0)
    reqs = []
    for i, p in enumerate(prompts):
        def emit(tok: int | None, fin: str | None, i: int = i) -> None:
            if tok is not None:
                outs[i].append(tok)
            if fin is not None:
                done.release()
        reqs.append(Request(p, SamplingParams(max_tokens=max_tokens), max_tokens, emit))
        sched.submit(reqs[-1])
    sched.start()
    for _ in prompts:
        assert done.acquire(timeout=120)
    sched.shutdown()
    return outs


def prompts(engine: Any, n: int) -> list[list[int]]:
    return [engine.encode_chat([{"role": "user", "content": f"request {i}: " + "Paris " * (i + 1)}]) for i in range(n)]


def test_eight_concurrent_match_eight_sequential(engine: Any) -> None:
    ps = prompts(engine, 8)
    sequential = [list(engine.generate_ids(p, SamplingParams(max_tokens=6))) for p in ps]
    sched, rec = make(engine)
    assert run(sched, ps, 6) == sequential
    assert sched.stats.max_batch == 8 and sched.stats.batched_steps >= 6  # steps really were shared
    assert len(rec.steps) < sum(len(s) + 1 for s in sequential)


def test_chunked_prefill_runs_beside_decodes(engine: Any) -> None:
    short, long = prompts(engine, 1)[0], engine.encode_chat([{"role": "user", "content": "Beijing " * 60}])
    sched, rec = make(engine, step_tokens=24)
    expected = [list(engine.generate_ids(p, SamplingParams(max_tokens=12))) for p in (short, long)]
    assert run(sched, [short, long], 12) == expected
    assert max(n for step in rec.steps for _, n in step) <= 24  # no step ran more than the budget
    mixed = [s for s in rec.steps if any(n == 1 for _, n in s) and any(n > 1 for _, n in s)]
    assert mixed, "the long prompt's prefill chunks never shared a step with a running decode"


def test_prefix_cache_hits_on_the_next_turn_despite_dropped_reasoning(engine: Any) -> None:
    sched, _ = make(engine)
    system = {"role": "system", "content": "You are a careful agent. " * 8}
    turn1 = [system, {"role": "user", "content": "first question"}]
    p1 = engine.encode_chat(turn1, thinking=True)
    # Turn 2 repeats turn 1 with the answer; the template drops the earlier turn's reasoning.
    turn2 = turn1 + [{"role": "assistant", "content": "an answer", "reasoning_content": "long thoughts"},
                     {"role": "user", "content": "second question"}]
    p2 = engine.encode_chat(turn2, thinking=True)
    common = next((i for i, (a, b) in enumerate(zip(p1, p2, strict=False)) if a != b), min(len(p1), len(p2)))
    assert common > 16
    run(sched, [p1], 3)
    before = sched.cache.stats.hit_tokens
    sched2 = Scheduler(sched.step_fn, sched.cache, engine.stop_ids)
    outs = run(sched2, [p2], 3)
    hit = sched.cache.stats.hit_tokens - before
    assert hit == (common // 8) * 8 and hit > 0
    assert outs[0] == list(engine.generate_ids(p2, SamplingParams(max_tokens=3)))  # reuse is exact


def test_sibling_subagents_share_the_system_prompt(engine: Any) -> None:
    system = {"role": "system", "content": "Shared repo map: " + "def main(): return 42 " * 10}
    ps = [engine.encode_chat([system, {"role": "user", "content": f"task {i}"}]) for i in range(3)]
    sched, _ = make(engine)
    run(sched, ps[:1], 2)
    sched2 = Scheduler(sched.step_fn, sched.cache, engine.stop_ids)
    outs = run(sched2, ps[1:], 2)
    assert sched.cache.stats.hit_blocks >= 2 * (len(engine.encode_chat([system])) // 8 - 1)
    assert outs == [list(engine.generate_ids(p, SamplingParams(max_tokens=2))) for p in ps[1:]]


def test_lru_eviction_and_refcounts(engine: Any) -> None:
    cache = PagedLatentCache(engine.model.config, 4, 2)
    a = [cache.allocate(), cache.allocate()]
    cache.register(a, [1, 2, 3, 4], hashes := [])
    cache.release(a)  # cached but unused: evictable, not free
    assert cache.available == 4 and len(cache.free) == 2
    matched, _ = cache.match_prefix([1, 2, 3, 4, 5])
    assert matched == a and cache.available == 2
    cache.release(matched)
    taken = [cache.allocate() for _ in range(3)]  # one eviction: the chain's tail goes first
    assert cache.stats.evicted_blocks == 1 and a[1] in taken and a[0] not in taken
    again, _ = cache.match_prefix([1, 2, 3, 4, 5])
    assert again == a[:1] and len(hashes) == 2
    with pytest.raises(OutOfBlocksError):
        cache.allocate()


def test_bounded_queue_and_cancel(engine: Any) -> None:
    sched, _ = make(engine, max_queue=2)
    reqs = [Request([1, 2, 3], SamplingParams(max_tokens=2), 2, lambda t, f: None) for _ in range(2)]
    for r in reqs:
        sched.submit(r)
    with pytest.raises(QueueFullError):
        sched.submit(Request([1, 2, 3], SamplingParams(max_tokens=2), 2, lambda t, f: None))
    for r in reqs:
        sched.cancel(r)
    sched.start()
    sched.shutdown()
    assert not sched.waiting and sched.cache.available == sched.cache.num_blocks
