"""Small lifecycle helpers of AgentSession: stopping a session's background jobs, closing its
swarm's providers, and a session title from a prompt."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from kimi_code.runtime.assemble import AgentParts


def stop_jobs(ctx: Any) -> None:
    """Stop the background jobs of a tool context (quick when none is alive)."""
    if ctx is None:
        return
    with contextlib.suppress(Exception):
        from kimi_code.tools.bash_jobs import kill_background_jobs

        kill_background_jobs(ctx)


async def teardown(parts: AgentParts) -> None:
    """Stop the session's background jobs (off the loop: the kill waits a grace period) and
    close its swarm's providers."""
    if parts.ctx is not None:
        await asyncio.to_thread(stop_jobs, parts.ctx)
    if parts.swarm is not None:
        with contextlib.suppress(Exception):
            await parts.swarm.aclose()


def loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def title_from(prompt: str) -> str:
    """A session title from a prompt: its first line, secrets redacted, at most 80 chars."""
    from kimi_code.safety.redact import known_secrets, redact

    lines = prompt.strip().splitlines()
    return redact(lines[0], known_secrets())[:80] if lines else ""
