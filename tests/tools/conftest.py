"""Fixtures for the tool tests: a real temporary workspace (optionally a real git repo) and a
helper that runs a tool through its real argument parsing."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from kimi_code.tools.base import ToolContext, ToolResult
from kimi_code.tools.registry import load_tool_class

RunTool = Callable[..., Coroutine[Any, Any, ToolResult]]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the workspace, with a secret file in it."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_text("top secret\n")
    return out


@pytest.fixture
def ctx(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ToolContext:
    monkeypatch.setenv("KIMI_CODE_HOME", str(tmp_path / "home"))
    return ToolContext(workspace=workspace, session_id="test-session")


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True,
                          capture_output=True, text=True).stdout


def init_repo(path: Path) -> Path:
    git(path, "init", "-q", "-b", "main")
    return path


@pytest.fixture
def run_tool(ctx: ToolContext) -> RunTool:
    """`await run_tool("Read", file_path=...)`: parse arguments like the loop does, then run."""

    async def _run(name: str, _ctx: ToolContext | None = None, **arguments: Any) -> ToolResult:
        tool = load_tool_class(name)()
        args = tool.parse_args(arguments)
        return await tool.run(args, _ctx or ctx)

    return _run
