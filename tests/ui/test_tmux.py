"""The real binary in a real terminal (tmux): it starts, shows the first frame, answers a prompt
streamed from the scripted server, and quits on Ctrl+C Ctrl+C."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support.scripted_server import ScriptedServer

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
WAIT_S = 30.0


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def _wait_for(session: str, needle: str) -> str:
    deadline = time.monotonic() + WAIT_S
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux("capture-pane", "-p", "-t", session)
        if needle in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} never appeared; the screen was:\n{screen}")


def test_binary_starts_and_answers_in_tmux(home: Path, workspace: Path) -> None:
    binary = Path(sys.executable).with_name("kimi-code")
    assert binary.exists(), "install the project (./install.sh) so the console script exists"
    session = f"kimi-test-{uuid.uuid4().hex[:8]}"
    with ScriptedServer([{"text": "Answer from the **scripted** model."}]) as server:
        env = {k: v for k, v in os.environ.items() if k.startswith(("KIMI_", "PATH", "HOME", "LANG"))}
        env.update(KIMI_BASE_URL=server.base_url_openai, TERM="xterm-256color")
        exports = " ".join(f"{k}={v!s}" for k, v in env.items() if " " not in v)
        _tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30",
              f"cd {workspace} && env {exports} {binary}; echo EXITED-$?; sleep 30")
        try:
            _wait_for(session, "Do you trust the files in")  # first open of this workspace
            _tmux("send-keys", "-t", session, "Enter")
            _wait_for(session, "/help for commands")  # the session is open
            _tmux("send-keys", "-t", session, "-l", "hello there")
            _tmux("send-keys", "-t", session, "Enter")
            screen = _wait_for(session, "Answer from the scripted model.")
            assert "› hello there" in screen
            _tmux("send-keys", "-t", session, "C-c")
            _tmux("send-keys", "-t", session, "C-c")
            _wait_for(session, "EXITED-0")
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert len(server.model_bodies()) == 1
    from kimi_code.safety import trust

    assert trust.is_trusted(workspace)  # Enter at the prompt recorded the trust
