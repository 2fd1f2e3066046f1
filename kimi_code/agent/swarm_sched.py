"""Scheduling pieces of the swarm: global budgets, and an adaptive limit on concurrent model
requests that halves on HTTP 429 and recovers by one slot per successful request (AIMD).

The limit gates *requests*, not subagents: a subagent that is running tools holds no slot, and a
shrink takes effect at once on everything that has not yet sent its next request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from kimi_code.llm.base import Message, StreamEvent, ToolSpec

SHRINK_COOLDOWN_S = 1.0  # one burst of 429s (many requests failing together) shrinks once


@dataclass(frozen=True)
class SwarmLimits:
    max_concurrency: int = 64
    max_agents: int = 300
    max_total_steps: int = 4000
    max_total_tokens: int | None = None  # input + output over all subagents; None: no limit
    agent_timeout_s: float | None = None  # wall time per subagent; None: no limit

    @classmethod
    def from_config(cls, swarm: Any, **overrides: Any) -> SwarmLimits:
        """From a config.SwarmConfig (duck-typed to keep this module free of config imports)."""
        base = cls(max_concurrency=max(1, int(swarm.max_concurrency)),
                   max_agents=max(1, int(swarm.max_agents)),
                   max_total_steps=max(1, int(swarm.max_total_steps)))
        return cls(**{**base.__dict__, **overrides})


class AdaptiveLimiter:
    """A semaphore whose size shrinks on rate limiting and grows back on success."""

    def __init__(self, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.in_use = 0
        self.shrinks = 0
        self.peak_in_use = 0
        self._cond = asyncio.Condition()
        self._last_shrink = float("-inf")

    async def acquire(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_use < self.limit)
            self.in_use += 1
            self.peak_in_use = max(self.peak_in_use, self.in_use)

    async def release(self) -> None:
        async with self._cond:
            self.in_use -= 1
            self._cond.notify_all()

    def on_rate_limited(self) -> None:
        """Halve the limit (at most once per cooldown: one burst is one signal)."""
        now = time.monotonic()
        if now - self._last_shrink < SHRINK_COOLDOWN_S:
            return
        self._last_shrink = now
        self.limit = max(1, self.limit // 2)
        self.shrinks += 1

    async def on_success(self) -> None:
        """Additive recovery: one more slot per successful request, up to the maximum."""
        if self.limit < self.maximum:
            async with self._cond:
                self.limit += 1
                self._cond.notify_all()


class GatedProvider:
    """A ChatProvider that holds a limiter slot for the duration of each streamed request."""

    def __init__(self, inner: Any, limiter: AdaptiveLimiter) -> None:
        self.inner, self.limiter = inner, limiter
        self.model: str = getattr(inner, "model", "")
        self.context_window: int = getattr(inner, "context_window", 128_000)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec], *,
                     max_tokens: int | None = None) -> AsyncIterator[StreamEvent]:
        await self.limiter.acquire()
        ok = False
        try:
            async for event in self.inner.stream(messages, tools, max_tokens=max_tokens):
                yield event
            ok = True
        finally:
            await asyncio.shield(self.limiter.release())
            if ok:
                await self.limiter.on_success()

    async def aclose(self) -> None:
        """The inner provider belongs to whoever created it (usually the parent agent)."""


class Budget:
    """Counters shared by every subagent of a session (a swarm in a swarm counts too)."""

    def __init__(self, limits: SwarmLimits) -> None:
        self.limits = limits
        self.agents = 0
        self.steps = 0
        self.tokens = 0

    def exhausted(self) -> str:
        """Why no more work may start ("" while within budget)."""
        if self.steps >= self.limits.max_total_steps:
            return f"the swarm step budget (max_total_steps={self.limits.max_total_steps}) is spent"
        if self.limits.max_total_tokens is not None and self.tokens >= self.limits.max_total_tokens:
            return f"the swarm token budget (max_total_tokens={self.limits.max_total_tokens}) is spent"
        return ""

    def take_agent(self) -> str:
        """Reserve one subagent; returns why not ("" when reserved)."""
        if self.agents >= self.limits.max_agents:
            return f"the subagent budget (max_agents={self.limits.max_agents}) is spent"
        self.agents += 1
        return ""
