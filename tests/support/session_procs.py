"""Every session test gets its own KIMI_CODE_HOME, so stores are real files in a tmp dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kimi_code.session.store import SessionStore

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("KIMI_CODE_HOME", str(path))
    return path


@pytest.fixture()
def store(home: Path):
    s = SessionStore()
    yield s
    s.close()


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    return path


def spawn(script: str, *args: str, home: Path) -> subprocess.Popen[str]:
    """Start a Python child running `script` with KIMI_CODE_HOME=home; stdout is a pipe."""
    env = {**os.environ, "KIMI_CODE_HOME": str(home), "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=str(REPO))




HOLD_LOCK = """
import sys, time
from kimi_code.session import SessionStore
store = SessionStore()
with store.lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""

def _kill(proc) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
