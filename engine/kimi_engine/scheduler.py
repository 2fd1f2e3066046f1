"""Continuous batching over the paged latent cache.

One scheduler thread owns the model and the cache. Each step it
  1. drops cancelled requests (their blocks are freed before the next forward),
  2. admits waiting requests while batch slots allow and the cache has blocks for what their
     prompt needs now (prefix-cache lookup first), keeping a small watermark of blocks free for
     the running sequences to grow into,
  3. builds one ragged batch: a token for every decoding sequence (taking a fresh block when it
     crosses a block boundary), then prefill chunks up to the step's token budget (chunked
     prefill: a long prompt never stalls the running decodes),
  4. runs it, samples one token for every sequence whose prompt is fully computed, and hands the
     token to the request's `emit` callback (called on the scheduler thread).
Blocks are taken as sequences grow, so many more sequences share the pool than if each reserved
prompt + max_tokens up front. When the pool runs dry mid-decode, the most recently admitted
running sequence is preempted: its blocks are released (its full blocks stay in the prefix cache)
and it goes back to the front of the queue, to be recomputed from prompt + output so far when
blocks free up. Recomputation samples nothing, so greedy output (and a seeded generator's stream)
is the same as without preemption. A request that fits the pool alone is never failed.
Requests join and leave between any two steps. The waiting queue is bounded: QueueFullError.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from kimi_engine.paged_cache import PagedLatentCache
from kimi_engine.runner import Chunk
from kimi_engine.sampling import SamplingParams, sample

Emit = Callable[[int | None, str | None], None]  # (token or None, finish reason or None)
StepFn = Callable[[Sequence[Chunk]], torch.Tensor]  # chunks -> logits [n, V]
SampleHook = Callable[["Request", torch.Tensor], "int | None"]
log = logging.getLogger("kimi_engine.scheduler")


class QueueFullError(RuntimeError):
    """The waiting queue is at its bound (HTTP 429)."""


class RequestTooLargeError(ValueError):
    """The request can never fit the cache or the context (HTTP 400)."""


@dataclass(eq=False)
class Request:
    """A generation request. `prompt` token ids; `budget` the most tokens it may generate."""

    prompt: list[int]
    params: SamplingParams
    budget: int
    emit: Emit
    id: int = field(default_factory=itertools.count().__next__)
    cancelled: bool = False
    output: list[int] = field(default_factory=list)
    table: list[int] = field(default_factory=list)
    hashes: list[bytes] = field(default_factory=list)
    computed: int = 0  # positions whose latents are in the cache
    prefill_to: int = 0  # positions to compute before sampling (prompt, or prompt + output on resume)
    cached_tokens: int = 0  # prompt tokens served from the prefix cache at first admission
    preemptions: int = 0
    generator: torch.Generator | None = None

    @property
    def tokens(self) -> list[int]:
        return self.prompt + self.output


@dataclass
class SchedulerStats:
    steps: int = 0
    batched_steps: int = 0  # steps that ran more than one sequence
    max_batch: int = 0
    prefill_tokens: int = 0
    decode_tokens: int = 0
    finished: int = 0
    cancelled: int = 0
    preemptions: int = 0  # sequences pushed back to the queue because the pool ran dry
    recomputed_tokens: int = 0  # prefill tokens run again for preempted sequences


class Scheduler:
    """Continuous-batching loop on its own thread. Thread safe: submit/cancel from any thread.

    `watermark`: fraction of the pool (at least one block) that admission leaves free while other
    sequences run, so that admitting a prompt does not at once force a preemption."""

    def __init__(self, step_fn: StepFn, cache: PagedLatentCache, stop_ids: Sequence[int], *,
                 max_batch: int = 32, max_queue: int = 256, step_tokens: int = 256,
                 sample_hook: SampleHook | None = None, watermark: float = 0.01) -> None:
        self.step_fn, self.cache = step_fn, cache
        self.stop_ids = set(stop_ids)
        self.max_batch, self.max_queue, self.step_tokens = max_batch, max_queue, step_tokens
        self.sample_hook = sample_hook
        self.watermark_blocks = max(1, int(cache.num_blocks * watermark))
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []  # in admission order: the last is the first to preempt
        self.stats = SchedulerStats()
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="kimi-scheduler", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def shutdown(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self.error is None

    def submit(self, req: Request) -> None:
        """Queue a request; raises QueueFullError or RequestTooLargeError (prompt + budget beyond
        the whole pool: it could never finish, even alone)."""
        need = self._blocks_for(len(req.prompt) + req.budget)
        if need > self.cache.num_blocks:
            raise RequestTooLargeError(
                f"prompt of {len(req.prompt)} tokens plus max_tokens {req.budget} needs {need} cache blocks "
                f"of {self.cache.block_size} tokens; the whole cache has {self.cache.num_blocks} "
                f"(lower max_tokens or start the server with more cache)")
        if req.params.seed is not None:
            req.generator = torch.Generator().manual_seed(req.params.seed)
        with self._cv:
            if len(self.waiting) >= self.max_queue:
                raise QueueFullError(f"{len(self.waiting)} requests are already waiting; retry later")
            self.waiting.append(req)
            self._cv.notify_all()

    def cancel(self, req: Request) -> None:
        """Stop generating for `req`; its slot and blocks are freed before the next step."""
        with self._cv:
            req.cancelled = True
            self._cv.notify_all()

    def _blocks_for(self, positions: int) -> int:
        return -(-positions // self.cache.block_size)

    def _loop(self) -> None:
        try:
            while True:
                with self._cv:
                    self._cv.wait_for(lambda: self._stop or self.waiting or self.running)
                    if self._stop:
                        break
                    self._reap_cancelled()
                    self._admit()
                if self.running:
                    self.step()
        except BaseException as e:  # surfaced by the server as 503 and on /health
            self.error = e
            log.error("the scheduler stopped; every request now gets 503", exc_info=e)
            for req in [*self.running, *self.waiting]:
                req.emit(None, "error")

    def _reap_cancelled(self) -> None:
        for req in [r for r in self.waiting if r.cancelled]:
            self.waiting.remove(req)
            self.stats.cancelled += 1
        for req in [r for r in self.running if r.cancelled]:
            self._finish(req, None)
            self.stats.cancelled += 1

    def _admit(self) -> None:
        """Admit from the head of the queue (first come, first served; a preempted sequence is
        back at the head) while its prompt's blocks fit beside the watermark."""
        while self.waiting and len(self.running) < self.max_batch:
            req = self.waiting[0]
            tokens = req.tokens  # prompt, plus the output so far when resuming after preemption
            matched, hashes = self.cache.match_prefix(tokens, count=False)
            need = self._blocks_for(len(tokens)) - len(matched)
            # Alone, a request always fits (submit checked prompt + budget against the pool).
            headroom = self.watermark_blocks if self.running else 0
            if need + headroom > self.cache.available:
                self.cache.release(matched)
                return  # wait for running requests to free blocks
            self.waiting.popleft()
            self.cache.count_lookup(len(tokens), len(matched))
            req.table = matched + [self.cache.allocate() for _ in range(need)]
            req.hashes = hashes
            req.computed = len(matched) * self.cache.block_size
            req.prefill_to = len(tokens)
            if req.preemptions == 0:
                req.cached_tokens = req.computed
            self.running.append(req)

    def _grow(self, req: Request) -> bool:
        """Make sure `req`'s table covers position `req.computed`, taking one fresh block when it
        crosses a block boundary; preempt the newest sequences while the pool is dry. False when
        `req` itself had to be preempted."""
        if req.computed < len(req.table) * self.cache.block_size:
            return True
        while self.cache.available == 0:
            victim = self.running[-1]
            self._preempt(victim)
            if victim is req:
                return False
        req.table.append(self.cache.allocate())
        return True

    def _preempt(self, req: Request) -> None:
        """Free `req`'s blocks (its full computed blocks stay registered in the prefix cache, so
        the recompute mostly hits) and put it back at the head of the queue."""
        self.running.remove(req)
        self.cache.release(req.table)
        req.table, req.hashes, req.computed = [], [], 0
        req.preemptions += 1
        self.stats.preemptions += 1
        with self._cv:
            self.waiting.appendleft(req)

    def _plan_step(self) -> tuple[list[Chunk], list[Request]]:
        """Decode tokens first (oldest sequence first, growing tables), then prefill chunks."""
        chunks: list[Chunk] = []
        owners: list[Request] = []
        budget = self.step_tokens
        i = 0
        while i < len(self.running):
            req = self.running[i]
            i += 1
            # A preemption only removes sequences after this one (or this one itself), so the
            # chunks already planned keep their blocks.
            if req.computed >= req.prefill_to and self._grow(req):
                chunks.append(Chunk([req.tokens[-1]], req.computed, req.table))
                owners.append(req)
                budget -= 1
        for req in self.running:
            if req.computed < req.prefill_to and budget > 0:
                piece = req.tokens[req.computed : min(req.prefill_to, req.computed + budget)]
                chunks.append(Chunk(piece, req.computed, req.table))
                owners.append(req)
                budget -= len(piece)
        return chunks, owners

    def step(self) -> None:
        """One forward over every running sequence (decodes first, then prefill chunks)."""
        chunks, owners = self._plan_step()
        if not chunks:
            return
        decoding = [req.computed >= req.prefill_to for req in owners]
        logits = self.step_fn(chunks)
        self.stats.steps += 1
        self.stats.batched_steps += len(chunks) > 1
        self.stats.max_batch = max(self.stats.max_batch, len(chunks))
        for req, chunk, row, decode in zip(owners, chunks, logits, decoding, strict=True):
            req.computed += len(chunk.tokens)
            if decode:
                self.stats.decode_tokens += 1
            else:
                self.stats.prefill_tokens += len(chunk.tokens)
                self.stats.recomputed_tokens += len(chunk.tokens) if req.preemptions else 0
            self.cache.register(req.table, req.tokens[: req.computed], req.hashes)
            if req.computed == len(req.tokens):
                self._sample(req, row)

    def _sample(self, req: Request, logits: torch.Tensor) -> None:
        """logits [V] -> the request's next token, emitted; finishes on a stop id or the budget."""
        token = self.sample_hook(req, logits) if self.sample_hook else None
        if token is None:
            token = int(sample(logits[None], req.params, req.generator)[0])
        if token in self.stop_ids or token in req.params.stop_token_ids:
            self._finish(req, "stop")
            return
        req.output.append(token)
        req.emit(token, None)
        if len(req.output) >= req.budget:
            self._finish(req, "length")

    def _finish(self, req: Request, reason: str | None) -> None:
        self.running.remove(req)
        self.cache.release(req.table)
        req.table = []
        self.stats.finished += reason is not None
        if reason is not None:
            req.emit(None, reason)
