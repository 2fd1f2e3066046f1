"""On-demand block allocation and preemption, through the real scheduler thread and real forwards.

Blocks are taken as sequences grow; when the pool runs dry mid-decode the newest running sequence
is preempted (blocks freed, requeued at the front, recomputed later). Output must not change.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest
import torch
from kimi_engine.launch import ServeOptions, build_server
from kimi_engine.paged_cache import PagedLatentCache
from kimi_engine.runner import Chunk, forward_chunks
from kimi_engine.sampling import SamplingParams
from kimi_engine.scheduler import Request, RequestTooLargeError, Scheduler
from kimi_engine.server import ServerThread


class Step:
    """The real forward, recording the block tables each step used (to check no two running
    sequences ever shared a block they were writing)."""

    def __init__(self, engine: Any, cache: PagedLatentCache) -> None:
        self.engine, self.cache = engine, cache
        self.writes: list[list[tuple[int, ...]]] = []

    def __call__(self, chunks: Sequence[Chunk]) -> torch.Tensor:
        self.writes.append([tuple(self.cache.slots(c.table, c.start, c.start + len(c.tokens))) for c in chunks])
        return forward_chunks(self.engine.model, self.cache, chunks)


def generate(engine: Any, prompts: list[list[int]], params: SamplingParams, blocks: int,
             block_size: int = 4, **kw: Any) -> tuple[list[list[int]], Scheduler, Step]:
    """All prompts submitted together to one scheduler over a pool of `blocks` blocks."""
    cache = PagedLatentCache(engine.model.config, blocks, block_size)
    step = Step(engine, cache)
    sched = Scheduler(step, cache, engine.stop_ids, **kw)
    outs: list[list[int]] = [[] for _ in prompts]
    done = threading.Semaphore(0)
    for i, p in enumerate(prompts):
        def emit(tok: int | None, fin: str | None, i: int = i) -> None:
            if tok is not None:
                outs[i].append(tok)
            if fin is not None:
                done.release()
        sched.submit(Request(p, params, params.max_tokens, emit))
    sched.start()
    for _ in prompts:
        assert done.acquire(timeout=120)
    sched.shutdown()
    return outs, sched, step


def distinct_prompts(n: int, length: int = 20) -> list[list[int]]:
    """Byte-level ids with no shared prefix, so the prefix cache cannot hide the pool's size."""
    return [[2 + (i * 53 + j * 7) % 240 for j in range(length)] for i in range(n)]


def test_small_pool_preempts_and_gives_the_one_at_a_time_tokens(engine: Any) -> None:
    ps, params = distinct_prompts(6), SamplingParams(max_tokens=16)
    alone = [list(engine.generate_ids(p, params)) for p in ps]
    assert all(len(a) == 16 for a in alone)  # no early stop: every sequence really grows
    # Alone, a request needs ceil((20 + 16) / 4) = 9 blocks; 14 hold one but not two to the end.
    outs, sched, step = generate(engine, ps, params, blocks=14)
    assert outs == alone
    assert sched.stats.preemptions > 0 and sched.stats.recomputed_tokens > 0
    assert sched.stats.max_batch >= 2  # reserving prompt + max_tokens up front would run one at a time
    assert sched.cache.available == sched.cache.num_blocks  # every block came back
    for chunks in step.writes:  # concurrent sequences never wrote into each other's blocks
        blocks = [{s // 4 for s in slots} for slots in chunks]
        assert sum(map(len, blocks)) == len(set().union(*blocks))


def test_seeded_sampling_survives_preemption(engine: Any) -> None:
    ps, params = distinct_prompts(5), SamplingParams(max_tokens=12, temperature=0.9, top_p=0.95, seed=7)
    roomy, big, _ = generate(engine, ps, params, blocks=256)
    tight, small, _ = generate(engine, ps, params, blocks=12)
    assert big.stats.preemptions == 0 and small.stats.preemptions > 0
    assert tight == roomy


def test_admission_by_prompt_runs_more_at_once_than_reservation(engine: Any) -> None:
    """Agent requests ask for a large max_tokens and stop early: reserving prompt + max_tokens
    (ceil((20 + 200) / 4) = 55 blocks each) would run these one at a time in a 60-block pool."""
    ps, params = distinct_prompts(4), SamplingParams(max_tokens=200)
    stop = engine.stop_ids[0]

    def short_answers(req: Request, logits: torch.Tensor) -> int | None:
        return stop if len(req.output) == 3 else None  # else: the real greedy sample

    outs, sched, _ = generate(engine, ps, params, blocks=60, sample_hook=short_answers)
    assert sched.stats.max_batch == 4 and sched.stats.preemptions == 0
    assert outs == [list(engine.generate_ids(p, SamplingParams(max_tokens=3))) for p in ps]


def test_a_request_that_fits_alone_is_never_failed(engine: Any) -> None:
    """The pool holds exactly one full-length request: the others wait or get preempted, none fails."""
    ps, params = distinct_prompts(3, length=24), SamplingParams(max_tokens=16)
    outs, sched, _ = generate(engine, ps, params, blocks=10)  # ceil((24 + 16) / 4) = 10
    assert outs == [list(engine.generate_ids(p, params)) for p in ps]
    assert sched.stats.finished == 3


def test_a_request_beyond_the_whole_pool_is_rejected(engine: Any) -> None:
    cache = PagedLatentCache(engine.model.config, 10, 4)
    sched = Scheduler(lambda chunks: torch.empty(0), cache, engine.stop_ids)
    with pytest.raises(RequestTooLargeError, match=r"needs 11 cache blocks of 4 tokens; the whole cache has 10"):
        sched.submit(Request([5] * 24, SamplingParams(max_tokens=17), 17, lambda t, f: None))
    sched.submit(Request([5] * 24, SamplingParams(max_tokens=16), 16, lambda t, f: None))  # exactly fits
    assert len(sched.waiting) == 1


def _tiny_pool_server(engine: Any, tiny_path: Path, blocks: int) -> ServerThread:
    per_block = PagedLatentCache.blocks_for_memory(engine.model.config, 1 << 30, 16, 4)
    cache_gb = (blocks + 0.5) / per_block  # blocks_for_memory floors: half a block of slack
    opts = ServeOptions(model_name="tiny-kimi", cache_gb=cache_gb, max_seq_len=1024)
    server = build_server(tiny_path, opts, engine=engine)
    assert server.scheduler.cache.num_blocks == blocks
    return ServerThread(server, "127.0.0.1", 0)


def test_server_metrics_count_preemptions_and_requests_too_large(engine: Any, tiny_path: Path) -> None:
    asks = [[{"role": "user", "content": f"question {i}: " + "why " * (3 * i)}] for i in range(4)]
    alone = [list(engine.generate_ids(engine.encode_chat(m), SamplingParams(max_tokens=40))) for m in asks]
    longest = max(len(engine.encode_chat(m)) + 40 for m in asks)
    thread = _tiny_pool_server(engine, tiny_path, blocks=-(-longest // 16) + 1)
    try:
        client = openai.OpenAI(base_url=thread.base_url, api_key="x", max_retries=0)

        def ask(messages: list[dict[str, str]]) -> str:
            r = client.chat.completions.create(model="tiny-kimi", messages=messages, max_tokens=40, temperature=0)
            return r.choices[0].message.content or ""

        with ThreadPoolExecutor(len(asks)) as pool:
            texts = list(pool.map(ask, asks))
        assert texts == [engine.tokenizer.decode(a) for a in alone]
        with urllib.request.urlopen(f"http://127.0.0.1:{thread.port}/metrics") as r:
            metrics = json.loads(r.read())
        assert metrics["scheduler"]["preemptions"] > 0, metrics
        assert metrics["blocks"]["available"] == metrics["blocks"]["total"]
        with pytest.raises(openai.BadRequestError, match="the whole cache has"):
            client.chat.completions.create(model="tiny-kimi", messages=asks[0], max_tokens=900)
    finally:
        thread.stop()
