"""Every place kimi-code runs git, in a repository whose configuration names a program for
everything it can (fsmonitor, pager, editor, ssh, credential helper, askpass, external diff,
clean/smudge filters, textconv, diff and merge drivers, every hook): the program never runs,
and the API key in our environment never reaches git's. The one exception, checked too:
`kimi-code commit`'s own `git commit` runs the user's commit hooks."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from kimi_code.commit import message as commit_message
from kimi_code.git import worktrees
from kimi_code.git.checkpoints.store import CheckpointStore
from kimi_code.git.diffs import working_changes
from kimi_code.git.repo import open_repo
from kimi_code.index.scan import list_files as index_list_files
from kimi_code.review.review import resolve_target
from kimi_code.tools.base import ToolContext
from kimi_code.tools.registry import load_tool_class
from kimi_code.ui.mentions import list_files as mention_list_files
from kimi_code.ui.session_actions import SessionActions
from tests.support.hostile_git import (
    Spy,
    Trap,
    arm_everything,
    assert_live,
    git,
    install_spy,
    make_stat_dirty,
    make_trap,
    new_repo,
)


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Trap, Spy]:
    repo = new_repo(tmp_path / "repo", {"README.md": "hello\n", "src/app.py": "x = 1\n"})
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "src/app.py").write_text("x = 2\n")
    git(repo, "commit", "-qam", "change")
    trap = make_trap(tmp_path / "trap")
    arm_everything(repo, trap)
    assert_live(repo, trap, "status")  # plain git runs the repository's fsmonitor
    make_stat_dirty(repo / "README.md")
    (repo / "new.txt").write_text("untracked\n")
    spy = install_spy(tmp_path, monkeypatch)
    return repo, trap, spy


def _blocked(trap: Trap, spy: Spy, *, allowed_prefix: str | None = None) -> None:
    ran = [line for line in trap.lines() if not (allowed_prefix and line.startswith(allowed_prefix))]
    assert ran == [], f"repository programs ran: {ran}"
    assert spy.calls(), "the call site started no git at all: the test proves nothing"
    assert not spy.saw_canary(), "the API key reached git's environment"


async def test_glob_tool_listing(hostile: tuple[Path, Trap, Spy]) -> None:
    repo, trap, spy = hostile
    tool = load_tool_class("Glob")()
    result = await tool.run(tool.parse_args({"pattern": "**/*.py"}),
                            ToolContext(workspace=repo, session_id="s"))
    assert "app.py" in str(result.content)
    _blocked(trap, spy)


def test_index_scan_listing(hostile: tuple[Path, Trap, Spy]) -> None:
    repo, trap, spy = hostile
    files, by_git = index_list_files(repo)
    assert by_git and "src/app.py" in files
    _blocked(trap, spy)


def test_tui_mentions_listing(hostile: tuple[Path, Trap, Spy]) -> None:
    repo, trap, spy = hostile
    assert "new.txt" in mention_list_files(repo)
    _blocked(trap, spy)


def test_tui_status_bar(hostile: tuple[Path, Trap, Spy]) -> None:
    repo, trap, spy = hostile
    seen: dict[str, object] = {}
    host = SimpleNamespace(session=SimpleNamespace(workspace=SimpleNamespace(root=repo)),
                           status=SimpleNamespace(set=lambda **kw: seen.update(kw)))
    asyncio.run(SessionActions.refresh_git(host))  # type: ignore[arg-type]
    assert seen == {"branch": "feature", "dirty": True}
    _blocked(trap, spy)


def test_checkpoints_snapshot_and_restore(hostile: tuple[Path, Trap, Spy]) -> None:
    repo, trap, spy = hostile
    store = CheckpointStore(repo, "session-1")
    first = store.snapshot("test")
    (repo / "src/app.py").write_text("x = 3\n")
    store.snapshot("test 2")
    report = store.restore(first.id)
    assert report.applied and (repo / "src/app.py").read_text() == "x = 2\n"
    _blocked(trap, spy)


def test_swarm_base_snapshot_worktree_commit_and_merge(hostile: tuple[Path, Trap, Spy]) -> None:
    repo, trap, spy = hostile
    base = worktrees.snapshot_base(repo)
    wt = worktrees.create_worktree(repo, base, "sess", 1)
    assert (wt.path / "new.txt").read_text() == "untracked\n"
    (wt.path / "src/app.py").write_text("x = 4\n")
    commit, changed = worktrees.commit_worktree(wt, "subagent work")
    assert changed == ["src/app.py"]
    outcome = worktrees.merge_into_workspace(repo, repo, base, commit)
    assert outcome.status == "merged" and (repo / "src/app.py").read_text() == "x = 4\n"
    worktrees.remove_worktree(wt, delete_branch=True)
    worktrees.cleanup_leftovers(repo)
    _blocked(trap, spy)


def test_review_branch_diff_and_export(hostile: tuple[Path, Trap, Spy]) -> None:
    repo, trap, spy = hostile
    (repo / "src/app.py").write_text("x = 'edited, not committed'\n")  # forces the export
    target = resolve_target(open_repo(repo), "main", "feature", False, env={})
    try:
        assert [f.path for f in target.files] == ["src/app.py"]
        assert target.temp_dir is not None  # the tree is dirty: head was exported (archive)
        assert (target.root / "src/app.py").read_text() == "x = 2\n"
    finally:
        target.close()
    _blocked(trap, spy)


def test_review_uncommitted(hostile: tuple[Path, Trap, Spy]) -> None:
    repo, trap, spy = hostile
    target = resolve_target(open_repo(repo), None, "HEAD", True, env={})
    try:
        assert {f.path for f in target.files} == {"README.md", "new.txt"}
    finally:
        target.close()
    _blocked(trap, spy)


def test_commit_diffs(hostile: tuple[Path, Trap, Spy]) -> None:
    repo, trap, spy = hostile
    handle = open_repo(repo, hooks=True)
    git(repo, "add", "new.txt")
    trap.reset()
    spy.log.unlink(missing_ok=True)
    assert "new.txt" in commit_message.staged_diff(handle)
    assert "new.txt" in commit_message.tracked_diff(handle)
    assert {f.path for f in working_changes(handle)} >= {"new.txt"}
    _blocked(trap, spy)


def test_commit_runs_only_the_users_commit_hooks(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    repo = new_repo(tmp_path / "repo")
    trap = make_trap(tmp_path / "trap")
    arm_everything(repo, trap)
    (repo / ".git" / "info" / "attributes").unlink()  # filters: see test_commit_refuses_filters
    spy = install_spy(tmp_path, monkeypatch)
    (repo / "README.md").write_text("changed\n")
    handle = open_repo(repo, hooks=True)
    result = commit_message.run_commit(handle, "docs: change readme", all_=True)
    assert result.ok, result.output
    ran = trap.lines()
    assert ran and all(line.startswith("hook ") for line in ran), ran
    assert {"hook pre-commit", "hook commit-msg"} <= set(ran)
    assert not spy.saw_canary() and spy.calls()


def test_commit_refuses_to_stage_past_a_filter(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean filter is never run, and the file is not committed unfiltered either: git
    stops (as git-lfs users would want rather than a raw binary in history)."""
    repo = new_repo(tmp_path / "repo")
    trap = make_trap(tmp_path / "trap")
    git(repo, "config", "filter.evil.clean", trap.command("clean"))
    (repo / ".gitattributes").write_text("*.bin filter=evil\n")
    (repo / "data.bin").write_text("raw\n")
    install_spy(tmp_path, monkeypatch)
    handle = open_repo(repo, hooks=True)  # what `kimi-code commit -a` / --plan stage with
    with pytest.raises(Exception, match="clean filter"):
        handle.git.add("data.bin")
    assert trap.lines() == []
    assert "data.bin" not in git(repo, "ls-files").stdout.decode()
