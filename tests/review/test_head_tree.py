"""The head tree a review reads (review/head_tree.py) and the tools confined to it."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from kimi_code.git.repo import open_repo
from kimi_code.review.confined_tools import (
    REFUSAL_MARK,
    ReviewGlobTool,
    ReviewGrepTool,
    ReviewReadTool,
    guard_path,
)
from kimi_code.review.head_tree import export_worktree
from kimi_code.tools.base import ToolContext, ToolError
from kimi_code.tools.read import ReadTool
from tests.support.git_repos import git


def test_worktree_export_holds_only_reviewable_files(make_repo, tmp_path):
    repo = make_repo({"app.py": "x = 1\n", ".gitignore": ".env\nbuild/\n", "run.sh": "echo\n"})
    os.chmod(repo / "run.sh", 0o755)
    (repo / ".env").write_text("TOKEN=secret\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.bin").write_text("artifact\n")
    (repo / "new.py").write_text("print(1)\n")
    os.symlink("app.py", repo / "alias.py")
    os.symlink("../outside.txt", repo / "escape")
    os.symlink(str(repo / ".git" / "config"), repo / "abs-link")
    nested = repo / "vendor" / "lib"
    nested.mkdir(parents=True)
    git(nested, "init", "-q")
    (nested / "lib.py").write_text("y = 2\n")
    temp, head = export_worktree(open_repo(repo))
    try:
        names = sorted(str(p.relative_to(head)) for p in head.rglob("*"))
        assert names == [".gitignore", "alias.py", "app.py", "new.py", "run.sh"]
        assert os.readlink(head / "alias.py") == "app.py"
        assert os.access(head / "run.sh", os.X_OK) and not os.access(head / "app.py", os.X_OK)
    finally:
        shutil.rmtree(temp)


def _ctx(root: Path) -> ToolContext:
    return ToolContext(workspace=root, env={})


@pytest.mark.parametrize("raw", [".git/config", "a/../.git/HEAD", ".GIT/config",
                                 "/proc/self/cwd/x", "../x", "/etc/passwd", "link/config"])
def test_guard_refuses_git_internals_and_escapes(tmp_path, raw, monkeypatch):
    root = tmp_path / "head"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "config").write_text("[core]\n")
    os.symlink(".git", root / "link")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ToolError, match=REFUSAL_MARK):
        guard_path(raw, _ctx(root))


def test_confined_tools_keep_the_descriptions_and_read_inside(tmp_path):
    root = tmp_path / "head"
    root.mkdir()
    (root / "a.py").write_text("print('ok')\n")
    assert ReviewReadTool.spec().description == ReadTool.spec().description != ""
    args = ReviewReadTool.parse_args({"file_path": "a.py"})
    result = asyncio.run(ReviewReadTool().run(args, _ctx(root)))
    assert "print('ok')" in result.content
    for tool, raw in ((ReviewGlobTool(), {"pattern": ".git/**"}),
                      (ReviewGrepTool(), {"pattern": "x", "glob": ".git/*"})):
        with pytest.raises(ToolError, match=REFUSAL_MARK):
            asyncio.run(tool.run(tool.parse_args(raw), _ctx(root)))
