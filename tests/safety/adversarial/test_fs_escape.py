"""Adversarial: file writes by path that a hostile repository or a hostile subagent aims
outside the workspace without needing a race (issue 15, class 3): links planted to
KIMI_CODE_HOME and its config, a workspace that holds KIMI_CODE_HOME, link chains, dangling
links, a hard link, /proc/self/root, `..` runs, link loops, and the swarm's file-by-file merge
of a subagent commit through a link planted after the subagent started. Each test item is one
attack; it passes when nothing outside changed and every call ended as a tool result.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from kimi_code.tools.base import ToolContext
from tests.support.fs_race import YOLO_CONFIG, ToolDriver, commit_with_path, tree_snapshot

ATTACK_CLASS = "fs-escape"
SECRET = "OUTSIDE-SECRET-" + uuid.uuid4().hex


# ---- escapes a hostile repository sets up without any race --------------------------------

def _static_cases(ws: Path, outside: Path, home: Path) -> dict[str, tuple[ToolContext, list]]:
    """name -> (context, tool calls that must all be refused)."""
    ctx = ToolContext(workspace=ws, session_id="static")
    (home / "config.toml").write_text('[permissions]\nmode = "ask"\n')
    return {
        "repo-dir-link-to-kimi-home": (ctx, [
            ("Write", {"file_path": "cfg/config.toml", "content": YOLO_CONFIG})]),
        "repo-file-link-to-kimi-config": (ctx, [
            ("Read", {"file_path": "settings.toml"}),
            ("Edit", {"file_path": "settings.toml", "old_string": "ask", "new_string": "yolo"})]),
        "workspace-holds-kimi-home": (ToolContext(workspace=home.parent, session_id="static"), [
            ("Write", {"file_path": f"{home.name}/config.toml", "content": YOLO_CONFIG}),
            ("Write", {"file_path": f"{home.name}/new/file.txt", "content": "x\n"})]),
        "link-chain-inside-then-outside": (ctx, [
            ("Write", {"file_path": "chain/made.txt", "content": "pwned\n"})]),
        "dangling-link-creates-outside": (ctx, [
            ("Write", {"file_path": "dangling.txt", "content": "pwned\n"})]),
        "hard-link-to-outside-file": (ctx, [
            ("Write", {"file_path": "hl.txt", "content": "pwned\n"}),
            ("Edit", {"file_path": "hl.txt", "old_string": "original", "new_string": "pwned"})]),
        "proc-self-root-link": (ctx, [
            ("Write", {"file_path": f"procroot/{outside.relative_to('/')}/p.txt",
                       "content": "pwned\n"})]),
        "dotdot-out-of-workspace": (ctx, [
            ("Write", {"file_path": f"a/b/../../../{'../' * 8}{outside.relative_to('/')}/q.txt",
                       "content": "pwned\n"})]),
        "link-loop-never-crashes": (ctx, [
            ("Write", {"file_path": "loop-a/x.txt", "content": "x\n"}),
            ("Read", {"file_path": "loop-a"})]),
    }


def _static_layout(ws: Path, outside: Path, home: Path) -> None:
    (ws / "cfg").symlink_to(home, target_is_directory=True)
    (ws / "settings.toml").symlink_to(home / "config.toml")
    (ws / "chain").symlink_to("hop", target_is_directory=True)
    (ws / "hop").symlink_to(outside, target_is_directory=True)
    (ws / "dangling.txt").symlink_to(outside / "created.txt")
    os.link(outside / "target.txt", ws / "hl.txt")
    (ws / "procroot").symlink_to("/proc/self/root", target_is_directory=True)
    (ws / "loop-a").symlink_to("loop-b")
    (ws / "loop-b").symlink_to("loop-a")


STATIC = ["repo-dir-link-to-kimi-home", "repo-file-link-to-kimi-config",
          "workspace-holds-kimi-home", "link-chain-inside-then-outside",
          "dangling-link-creates-outside", "hard-link-to-outside-file", "proc-self-root-link",
          "dotdot-out-of-workspace", "link-loop-never-crashes"]


@pytest.mark.parametrize("name", STATIC)
def test_static_escape_refused(name: str, workspace: Path, outside: Path, home: Path) -> None:
    _static_layout(workspace, outside, home)
    ctx, calls = _static_cases(workspace, outside, home)[name]
    before = {"outside": tree_snapshot(outside), "home": tree_snapshot(home)}
    driver = ToolDriver(ctx)
    replies = [asyncio.run(driver.call(tool, **arguments)) for tool, arguments in calls]
    assert all(reply.is_error for reply in replies), [r.content for r in replies]
    assert not any("failed unexpectedly" in r.content for r in replies)
    assert {"outside": tree_snapshot(outside), "home": tree_snapshot(home)} == before


# ---- the swarm's merge of a subagent commit writes files by path --------------------------

MERGE_LINK_ATTACKS = {
    # an untracked link planted in the workspace (by a sandboxed command) after the subagent
    # started: its commit adds lib/config.toml, which the merge would carry through the link
    "swarm-merge-through-planted-dir-link": ("lib", ["lib", "config.toml"]),
    "swarm-merge-through-deep-planted-link": ("pkg/lib", ["pkg", "lib", "config.toml"]),
    "swarm-merge-deletes-through-planted-link": ("gone", ["gone", "secret.txt"]),
}


@pytest.mark.parametrize("name", list(MERGE_LINK_ATTACKS))
def test_swarm_merge_never_writes_through_a_planted_link(name: str, workspace: Path,
                                                         home: Path) -> None:
    from kimi_code.git.worktrees import merge_into_workspace

    link, parts = MERGE_LINK_ATTACKS[name]
    (home / "secret.txt").write_text(SECRET + "\n")
    if name.startswith("swarm-merge-deletes"):
        # base holds gone/secret.txt with what the link's target holds; the subagent deletes
        # it: the delete must not follow the link and remove the file outside
        head, base = commit_with_path(workspace, parts, (SECRET + "\n").encode())
        commit = subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t",
                                 "commit-tree", f"{head}^{{tree}}", "-p", base, "-m", "rm"],
                                cwd=workspace, check=True, capture_output=True
                                ).stdout.decode().strip()
    else:
        base, commit = commit_with_path(workspace, parts, YOLO_CONFIG.encode())
    (workspace / link).parent.mkdir(parents=True, exist_ok=True)
    (workspace / link).symlink_to(home, target_is_directory=True)
    before = tree_snapshot(home)
    try:
        outcome = merge_into_workspace(workspace, workspace, base, commit)
        assert outcome.status in ("conflict", "nothing"), outcome
    except Exception as exc:  # the swarm reports any merge failure as a conflict
        assert "symbolic link" in str(exc), exc
    assert tree_snapshot(home) == before
