"""After a swarm: apply each coder subagent's branch to the workspace, in subagent order.

Only subagents that finished successfully are merged. A clean merge (or no changes) removes the
worktree and the branch. A conflict applies nothing of that subagent, reports the files and keeps
the branch; a subagent that did not succeed but changed files keeps its branch too, so nothing
is ever lost. Worktree folders are always removed (the branch holds the commit).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from kimi_code.tools.subagents import SubagentResult

if TYPE_CHECKING:  # GitPython-free at import: the worktree module loads when a swarm merges
    from kimi_code.git.worktrees import Worktree


def discard_worktree(wt: Worktree, *, delete_branch: bool) -> None:
    """Remove a subagent's worktree (and its branch when asked) together with the index cache
    its RepoMap/FindSymbol calls built, which would otherwise outlive the tree."""
    from kimi_code.git.worktrees import remove_worktree
    from kimi_code.index.cache import forget_cache

    forget_cache(wt.path)
    remove_worktree(wt, delete_branch=delete_branch)


def _merge_one(workspace: Path, result: SubagentResult) -> None:
    from kimi_code.git.worktrees import merge_into_workspace

    wt = result.worktree
    keep_branch = False
    if result.status == "success" and result.commit and result.commit != result.base:
        outcome = merge_into_workspace(workspace, workspace, result.base, result.commit)
        result.merge = outcome.status
        if outcome.status == "conflict":
            result.conflicts, keep_branch = outcome.files, True
    elif result.commit and result.commit != result.base:
        result.merge, keep_branch = "not merged", True
    else:
        result.merge = "nothing"
    discard_worktree(wt, delete_branch=not keep_branch)
    if not keep_branch:
        result.branch = ""
    result.worktree = None


async def merge_back(workspace: Path, base: str | None, results: list[SubagentResult]) -> None:
    """Merge every coder result with a worktree, sorted by subagent number (deterministic)."""
    if base is None:
        return
    pending = sorted((r for r in results if r.worktree is not None), key=lambda r: r.number)
    for result in pending:
        try:
            await asyncio.shield(asyncio.to_thread(_merge_one, workspace, result))
        except Exception as exc:  # report, keep the branch, go on with the others
            result.merge, result.error = "conflict", f"merge failed: {exc}"
            result.worktree = None
