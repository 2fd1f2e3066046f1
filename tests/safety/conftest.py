"""Fixtures for the safety suite: the real bubblewrap (its absence is a failure, never a skip),
an isolated KIMI_CODE_HOME, a real git workspace, an outside directory the sandbox can see, and
a helper that runs a command through the real Bash tool with the sandbox in its context."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kimi_code.safety.sandbox import Sandbox, SandboxLimits, SandboxMode, SandboxPolicy
from kimi_code.safety.sandbox_probe import reset_self_tests
from kimi_code.safety.secrets import child_env
from kimi_code.tools.base import ToolContext, ToolResult
from kimi_code.tools.bash import BashArgs, BashTool


@pytest.fixture(autouse=True)
def _require_bwrap() -> None:
    # The sandbox is the security boundary: a machine that runs this suite must have it.
    if shutil.which("bwrap") is None:
        pytest.fail("bubblewrap (bwrap) is missing: install it (`apt-get install bubblewrap`, or "
                    "`./install.sh --dev` as root on Debian/Ubuntu); the safety suite never skips")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("KIMI_CODE_HOME", str(path))
    reset_self_tests()
    return path


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                   cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def workspace(tmp_path: Path, home: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    (repo / "a.txt").write_text("hello\n")
    git("add", ".", cwd=repo)
    git("commit", "-qm", "init", cwd=repo)
    return repo


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory outside the workspace that is visible inside the sandbox (not under /tmp,
    which the sandbox replaces with a private one)."""
    path = Path("/var/tmp") / f"kimi-safety-{uuid.uuid4().hex[:10]}"
    path.mkdir(parents=True)
    (path / "target.txt").write_text("original\n")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_sandbox(workspace: Path, *, network: bool = False, extra: tuple[Path, ...] = (),
                 limits: SandboxLimits | None = None,
                 mode: SandboxMode = SandboxMode.WORKSPACE_WRITE) -> Sandbox:
    return Sandbox(SandboxPolicy.for_workspace(workspace, extra, mode, network, limits))


@pytest.fixture
def sandbox(workspace: Path) -> Sandbox:
    return make_sandbox(workspace)


def context(workspace: Path, sandbox: Sandbox | None) -> ToolContext:
    services = {"sandbox": sandbox} if sandbox is not None else {}
    return ToolContext(workspace=workspace, session_id="safety", env=child_env(),
                       services=services)


async def bash(workspace: Path, sandbox: Sandbox | None, command: str,
               timeout_ms: int = 30_000) -> ToolResult:
    """Run `command` through the real Bash tool, sandboxed by `sandbox`."""
    tool = BashTool()
    return await tool.run(BashArgs(command=command, timeout=timeout_ms),
                          context(workspace, sandbox))
