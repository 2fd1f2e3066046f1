"""Drivers for each place kimi-code runs git, for the adversarial git tests: each one runs
the real code path (the tool, the scan, the TUI's status refresh, checkpoints, the swarm's
worktrees, review, commit) on a context's repository."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from kimi_code.commit import message as commit_message
from kimi_code.git import worktrees
from kimi_code.git.checkpoints.store import CheckpointStore
from kimi_code.git.diffs import working_changes
from kimi_code.git.repo import open_repo
from kimi_code.git.runner import run_git
from kimi_code.index.scan import list_files as index_list_files
from kimi_code.review.review import resolve_target
from kimi_code.tools.base import ToolContext
from kimi_code.tools.registry import load_tool_class
from kimi_code.ui.mentions import list_files as mention_list_files
from kimi_code.ui.session_actions import SessionActions
from tests.support.hostile_git import Spy, Trap


@dataclass
class Ctx:
    """One attack's world: the workspace repository, the trap, the spy, scratch space."""

    repo: Path
    trap: Trap
    spy: Spy
    tmp: Path
    monkeypatch: Any = None  # pytest's, for attacks on kimi-code's own environment


Action = Callable[[Ctx], object]


def status_bar(ctx: Ctx, where: Path | None = None) -> None:
    """The TUI's status-bar refresh (branch + dirty)."""
    host = SimpleNamespace(session=SimpleNamespace(workspace=SimpleNamespace(root=where or ctx.repo)),
                           status=SimpleNamespace(set=lambda **kw: None))
    asyncio.run(SessionActions.refresh_git(host))  # type: ignore[arg-type]


def index_scan(ctx: Ctx, sub: str = "") -> None:
    index_list_files(ctx.repo / sub)


def mentions(ctx: Ctx, sub: str = "") -> None:
    mention_list_files(ctx.repo / sub)


def glob(ctx: Ctx, path: str | None = None) -> None:
    """The Glob tool as the model calls it (optionally with a `path` argument)."""
    tool = load_tool_class("Glob")()
    args = {"pattern": "**/*"} | ({"path": path} if path else {})
    asyncio.run(tool.run(tool.parse_args(args), ToolContext(workspace=ctx.repo, session_id="s")))


def checkpoints(ctx: Ctx) -> None:
    """Snapshot, change, snapshot, restore the first (checkout through the shadow store)."""
    store = CheckpointStore(ctx.repo, "attack")
    first = store.snapshot("first")
    (ctx.repo / "src" / "app.py").write_text("x = 'checkpointed'\n")
    store.snapshot("second")
    store.restore(first.id, force=True)


def swarm(ctx: Ctx) -> None:
    """A coder subagent's life: base snapshot, worktree, edit, commit, merge back, cleanup."""
    base = worktrees.snapshot_base(ctx.repo)
    wt = worktrees.create_worktree(ctx.repo, base, "attack", 1)
    (wt.path / "src" / "app.py").write_text("x = 'from the subagent'\n")
    (wt.path / "README.md").write_text("subagent readme\n")
    commit, _ = worktrees.commit_worktree(wt, "subagent work")
    worktrees.merge_into_workspace(ctx.repo, ctx.repo, base, commit)
    worktrees.remove_worktree(wt, delete_branch=True)
    worktrees.cleanup_leftovers(ctx.repo)


def review(ctx: Ctx) -> None:
    """`kimi-code review --base main --head feature` with a dirty tree (so head is exported)."""
    (ctx.repo / "src" / "app.py").write_text("x = 'dirty, forces the export'\n")
    target = resolve_target(open_repo(ctx.repo), "main", "feature", False, env={})
    target.close()


def review_uncommitted(ctx: Ctx) -> None:
    target = resolve_target(open_repo(ctx.repo), None, "HEAD", True, env={})
    target.close()


def commit_diffs(ctx: Ctx) -> None:
    """What `kimi-code commit` reads: the staged, tracked and working-tree diffs."""
    handle = open_repo(ctx.repo, hooks=True)
    commit_message.staged_diff(handle)
    commit_message.tracked_diff(handle)
    working_changes(handle)


def commit(ctx: Ctx) -> None:
    """`kimi-code commit -a`'s git commit (the user's commit hooks may run here)."""
    handle = open_repo(ctx.repo, hooks=True)
    commit_message.run_commit(handle, "chore: attack", all_=True)


def runner(*args: str) -> Action:
    """The runner itself, as kimi-code's plumbing calls it."""
    def act(ctx: Ctx) -> None:
        run_git(list(args), cwd=ctx.repo, check=False)
    return act


__all__ = ["Ctx", "Action", "status_bar", "index_scan", "mentions", "glob", "checkpoints",
           "swarm", "review", "review_uncommitted", "commit_diffs", "commit", "runner"]
