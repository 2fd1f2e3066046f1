"""Fixtures for the index tests: a private KIMI_CODE_HOME and real git repositories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def kimi_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Caches go under the test's own directory, never into the user's."""
    home = tmp_path / "kimi-home"
    monkeypatch.setenv("KIMI_CODE_HOME", str(home))
    return home


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com",
         "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        capture_output=True, text=True, check=True,
    )
    return proc.stdout


def write(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def make_repo(tmp_path: Path):
    """Create a committed git repository from {relative path: content}."""

    def make(files: dict[str, str | bytes], name: str = "repo") -> Path:
        repo = tmp_path / name
        repo.mkdir()
        git(repo, "init", "-q")
        for rel, text in files.items():
            write(repo, rel, text)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "init")
        return repo

    return make
