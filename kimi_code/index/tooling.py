"""Shared plumbing for the index's agent tools (RepoMap, FindSymbol, FindReferences).

Each call brings the cache up to date (cheap when warm: a listing and a stat per file), then
queries it, all in a worker thread so the agent's event loop keeps running.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kimi_code.index.repo_map import RepoIndex
from kimi_code.index.scan import ScanResult

T = TypeVar("T")

# A tool call should not hang on a cold, huge repository: parse this long, answer from what
# is indexed, and say so. The work is cached, so the next call continues where this stopped.
TOOL_INDEX_BUDGET_S = 20.0


def partial_note(result: ScanResult) -> str:
    """A line telling the model the index is incomplete, or ""."""
    if result.complete:
        return ""
    return (f"\n(note: the index is still incomplete — {result.pending} files not parsed yet; "
            "results may miss them. Calling the tool again continues indexing.)")


async def query_index(workspace: Path, fn: Callable[[RepoIndex], T]) -> tuple[T, ScanResult]:
    """Update the workspace's index (bounded in time) and run `fn` on it in a thread."""

    def work() -> tuple[T, ScanResult]:
        with RepoIndex(Path(workspace)) as index:
            def op() -> tuple[T, ScanResult]:
                result = index.update(deadline=time.monotonic() + TOOL_INDEX_BUDGET_S)
                return fn(index), result

            return index.recovering(op)

    return await asyncio.to_thread(work)
