"""Shared git test helpers and fixtures: hermetic real repositories in temporary directories.

Conftests re-export the fixtures; tests import the helpers from here (never from a conftest)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest


def git(cwd: Path, *args: str, input: str | None = None, check: bool = True) -> str:
    """Run git in `cwd` (argument list, never a shell) and return stdout."""
    proc = subprocess.run(["git", *args], cwd=cwd, input=input, text=True, capture_output=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


@pytest.fixture(autouse=True)
def hermetic_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolate from the developer's git config and kimi-code data: KIMI_CODE_HOME in tmp, an
    empty global git config, fixed identities."""
    home = tmp_path_factory.mktemp("kimi-home")
    gitconfig = home / "gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n")
    monkeypatch.setenv("KIMI_CODE_HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "Test User")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "test@example.com")
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_INDEX_FILE", raising=False)
    monkeypatch.delenv("GIT_WORK_TREE", raising=False)
    monkeypatch.setenv("EDITOR", "false")
    return home


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """make_repo(files={path: text}, name="repo") -> a repository with one commit of `files`."""
    def make(files: dict[str, str] | None = None, name: str = "repo",
             message: str = "initial commit") -> Path:
        root = tmp_path / name
        root.mkdir()
        git(root, "init", "-q")
        for rel, text in (files or {"README.md": "hello\n"}).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", message)
        return root
    return make


def repo_state(root: Path) -> dict[str, str]:
    """Everything a shadow store must never change in the user's repository."""
    gitdir = root / ".git"
    return {
        "status": git(root, "status", "--porcelain=v1", "--untracked-files=all"),
        "refs": git(root, "for-each-ref"),
        "stash": git(root, "stash", "list"),
        "head": (gitdir / "HEAD").read_text(),
        "config": (gitdir / "config").read_text(),
        "index": hashlib.sha256((gitdir / "index").read_bytes()).hexdigest()
        if (gitdir / "index").exists() else "",
        "staged": git(root, "diff", "--cached", "--name-status"),
    }

