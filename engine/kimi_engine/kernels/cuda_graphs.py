"""CUDA graphs for the decode step, one per (batch bucket, context bucket), captured at warm-up.

A decode step of B sequences launches hundreds of small kernels per layer; on a GPU the launch
overhead is then larger than the work. Capturing the whole step once per shape bucket and
replaying it removes that overhead. Shapes must be static inside a graph, so every input is
padded up to its bucket:

- the batch (dim 0 of every input) to the next of `batch_buckets` (1, 2, 4, ..., 128): padded
  rows get each input's `pad` value (the runner points them at a reserved scratch cache slot, so
  their writes touch no real sequence) and their outputs are dropped;
- the context (dim 1 of inputs with `has_context`) to a power of two >= `min_context`, padded
  with `pad` (the attention lengths say how much of it is real).

DecodeGraphs owns the static input buffers, the captured graphs (sharing one memory pool) and
the bookkeeping (replays, captures, eager fallbacks). Without CUDA (or with capture=False) it
does exactly the same padding and "replays" by running the step eagerly on the static buffers,
which is how its bookkeeping is tested on the CPU. A step that cannot be captured (it
synchronises with the host, e.g. the torch MoE path) is logged once and that bucket runs eagerly.

This module knows nothing about the model: the step is any function of a dict of tensors
(runner.decode_graphs builds the model's; `kimi-engine serve` uses it on CUDA when
KIMI_ENGINE_CUDA_GRAPHS=1, capturing each bucket the first time a step needs it).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from torch.cuda import _POOL_HANDLE as _PoolHandle
else:
    _PoolHandle = Any

_log = logging.getLogger(__name__)

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
MIN_CONTEXT = 256

Step = Callable[[Mapping[str, torch.Tensor]], torch.Tensor]
GraphKey = tuple[int, int]  # (batch bucket, context bucket)


@dataclass(frozen=True)
class InputSpec:
    """One step input: rows [B, *tail] (or [B, T, *tail] with has_context), padded with `pad`."""

    name: str
    dtype: torch.dtype
    pad: int | float
    tail: tuple[int, ...] = ()
    has_context: bool = False


def batch_bucket(n: int, buckets: Iterable[int] = BATCH_BUCKETS) -> int | None:
    """The smallest bucket >= n (n >= 1), or None when n exceeds every bucket."""
    if n < 1:
        raise ValueError(f"a decode batch has at least one row, got {n}")
    return next((b for b in sorted(buckets) if b >= n), None)


def context_bucket(t: int, min_context: int = MIN_CONTEXT) -> int:
    """Context columns a graph is captured with for t real ones: a power of two >= min_context."""
    if t < 0:
        raise ValueError(f"context length must be >= 0, got {t}")
    return max(min_context, 1 << max(0, t - 1).bit_length())


@dataclass
class GraphStats:
    """What ran how: replays per key, keys captured, eager runs (too big or not capturable)."""

    replays: Counter = field(default_factory=Counter)
    captured: list[GraphKey] = field(default_factory=list)
    eager: int = 0
    failed: dict[GraphKey, str] = field(default_factory=dict)


@dataclass
class _Entry:
    inputs: dict[str, torch.Tensor]
    graph: torch.cuda.CUDAGraph | None = None
    output: torch.Tensor | None = None


class DecodeGraphs:
    """Bucketed, padded, captured decode steps (see the module docstring)."""

    def __init__(self, step: Step, specs: Iterable[InputSpec], device: torch.device, *,
                 batch_buckets: Iterable[int] = BATCH_BUCKETS, max_context: int = 1 << 20,
                 min_context: int = MIN_CONTEXT, capture: bool | None = None) -> None:
        self.step, self.specs, self.device = step, tuple(specs), torch.device(device)
        if not self.specs:
            raise ValueError("DecodeGraphs needs at least one input")
        self.batch_buckets = tuple(sorted(set(batch_buckets)))
        self.max_context, self.min_context = max_context, min_context
        self.capture = (self.device.type == "cuda") if capture is None else capture
        if self.capture and self.device.type != "cuda":
            raise ValueError(f"CUDA graphs need a CUDA device, got {self.device}")
        self.stats = GraphStats()
        self._entries: dict[GraphKey, _Entry] = {}
        self._pool: _PoolHandle | None = None  # the first graph's memory pool, shared by all

    def key_for(self, batch: int, context: int) -> GraphKey | None:
        """The graph a step of `batch` rows and `context` columns replays, or None (run eagerly)."""
        b = batch_bucket(batch, self.batch_buckets)
        c = context_bucket(context, self.min_context)
        if b is None or c > context_bucket(self.max_context, self.min_context):
            return None
        return b, c

    def warm_up(self, keys: Iterable[GraphKey]) -> list[GraphKey]:
        """Capture the graphs of `keys` now (before serving); returns those that captured."""
        return [key for key in keys if self._prepare(key) is not None and key not in self.stats.failed]

    def run(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The step's output for `inputs` (rows [n, ...]): replayed from its bucket's graph when
        there is one, else eager. Returns a fresh tensor [n, ...] (the static output is reused)."""
        n, t = self._shape_of(inputs)
        key = self.key_for(n, t)
        entry = None if key is None or key in self.stats.failed else self._entries.get(key) or self._prepare(key)
        if entry is None:
            self.stats.eager += 1
            return self.step(inputs)
        self._fill(entry.inputs, inputs, n, t)
        if entry.graph is not None:
            entry.graph.replay()
        else:  # no capture (CPU): the same static buffers, run eagerly
            entry.output = self.step(entry.inputs)
        self.stats.replays[key] += 1
        assert entry.output is not None
        return entry.output[:n].clone()

    # --- internals ----------------------------------------------------------------------

    def _shape_of(self, inputs: Mapping[str, torch.Tensor]) -> tuple[int, int]:
        missing = [s.name for s in self.specs if s.name not in inputs]
        if missing:
            raise KeyError(f"decode step inputs missing: {missing}")
        n = inputs[self.specs[0].name].shape[0]
        t = 0
        for s in self.specs:
            x = inputs[s.name]
            if x.shape[0] != n:
                raise ValueError(f"input {s.name} has {x.shape[0]} rows, expected {n}")
            if s.has_context:
                t = max(t, x.shape[1])
        return n, t

    def _static(self, key: GraphKey) -> dict[str, torch.Tensor]:
        b, c = key
        out = {}
        for s in self.specs:
            shape = (b, c, *s.tail) if s.has_context else (b, *s.tail)
            out[s.name] = torch.full(shape, s.pad, dtype=s.dtype, device=self.device)
        return out

    def _fill(self, static: dict[str, torch.Tensor], inputs: Mapping[str, torch.Tensor], n: int, t: int) -> None:
        """Copy the real rows in; reset everything past them to the pad values."""
        for s in self.specs:
            buf, x = static[s.name], inputs[s.name]
            if s.has_context:
                buf[:n, : x.shape[1]].copy_(x)
                buf[:n, x.shape[1]:].fill_(s.pad)
            else:
                buf[:n].copy_(x)
            buf[n:].fill_(s.pad)

    def _prepare(self, key: GraphKey) -> _Entry | None:
        """Static buffers for `key`, and its graph when capturing; None if capture failed."""
        if key in self._entries:
            return self._entries[key]
        entry = _Entry(self._static(key))
        if self.capture:
            try:
                self._capture(entry)
            except Exception as exc:  # e.g. a host sync inside the step: this bucket stays eager
                _log.warning("decode step for bucket %s cannot be captured, running it eagerly: %s", key, exc)
                self.stats.failed[key] = f"{type(exc).__name__}: {exc}"
                return None
            self.stats.captured.append(key)
        self._entries[key] = entry
        return entry

    def _capture(self, entry: _Entry) -> None:
        """Warm up on a side stream (Triton compiles, split-K counters, config lookups), then capture."""
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(2):
                self.step(entry.inputs)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self._pool):
            entry.output = self.step(entry.inputs)
        self._pool = graph.pool()
        entry.graph = graph
