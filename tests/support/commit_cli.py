"""Helpers shared by several test modules (moved out of tests/commit/test_commit_command.py: tests never import test modules)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kimi_code.app.commit import commit_main
from tests.support.git_repos import git
from tests.support.scripted_server import ScriptedServer


@pytest.fixture
def model_env(monkeypatch):
    def start(script):
        server = ScriptedServer(script).start()
        monkeypatch.setenv("KIMI_BASE_URL", server.base_url_openai)
        monkeypatch.setenv("KIMI_API_KEY", "test")
        monkeypatch.setenv("KIMI_MODEL_NAME", "test")
        monkeypatch.setenv("KIMI_CODE_MAX_RETRIES", "0")
        started.append(server)
        return server
    started: list[ScriptedServer] = []
    yield start
    for server in started:
        server.stop()

def main(**kw) -> int:
    args = dict(all_=False, yes=False, dry_run=False, amend=False, plan=False,
                allow_secrets=False, model=None, provider=None, base_url=None)
    args.update(kw)
    return commit_main(**args)

def prompt_of(server: ScriptedServer, index: int = -1) -> str:
    body = server.model_bodies()[index]
    return "\n".join(str(m.get("content")) for m in body["messages"])

def last_message(root: Path) -> str:
    return git(root, "log", "-1", "--format=%B").strip()

def hook(root: Path, name: str, script: str) -> None:
    path = root / ".git" / "hooks" / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
