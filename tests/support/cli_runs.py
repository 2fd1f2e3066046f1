"""Fixtures for end-to-end agent tests: a real git workspace, an isolated KIMI_CODE_HOME, and
`kimi-code run` as a subprocess against the scripted HTTP server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.scripted_server import ScriptedServer

KIMI = str(Path(sys.executable).with_name("kimi-code"))


@dataclass
class RunResult:
    code: int
    stdout: str
    stderr: str

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (repo / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=repo, check=True)
    return repo


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def base_env(home: Path, server: ScriptedServer | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIMI_", "MOONSHOT_"))}
    env.update(KIMI_CODE_HOME=str(home), KIMI_CODE_RETRY_BASE_DELAY="0.01",
               KIMI_CODE_NO_REPO_MAP="1", KIMI_MODEL_NAME="test-model", KIMI_API_KEY="sk-test")
    if server is not None:
        env["KIMI_BASE_URL"] = server.base_url_openai
    env.update(extra)
    return env


def run_kimi(args: list[str], *, cwd: Path, env: dict[str, str], stdin: str | None = None,
             timeout: float = 60) -> RunResult:
    proc = subprocess.run([KIMI, *args], cwd=cwd, env=env, input=stdin, capture_output=True,
                          text=True, timeout=timeout)
    return RunResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer([]) as s:
        yield s
