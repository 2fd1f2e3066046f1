"""kimi-code's own git calls never run repository-controlled programs (hooks, fsmonitor, pager,
ssh command) except the commit hooks of `kimi-code commit`; destructive git commands always ask."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kimi_code.git.repo import open_repo, run_git
from kimi_code.safety.permissions import Decision, PermissionPolicy


@pytest.fixture
def booby_trapped(tmp_path: Path) -> tuple[Path, Path]:
    repo, marker = tmp_path / "repo", tmp_path / "pwned"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\necho ran >> {marker}\n")
    script.chmod(0o755)
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\necho hook >> {marker}\n")
    hook.chmod(0o755)
    for key, value in (("core.fsmonitor", str(script)), ("core.pager", str(script)),
                       ("user.email", "t@t"), ("user.name", "t")):
        subprocess.run(["git", "config", key, value], cwd=repo, check=True)
    (repo / "a.txt").write_text("a\n")
    return repo, marker


def test_run_git_ignores_fsmonitor_pager_and_hooks(booby_trapped: tuple[Path, Path]) -> None:
    repo, marker = booby_trapped
    # Sanity: plain git does run the repository's fsmonitor.
    subprocess.run(["git", "status"], cwd=repo, capture_output=True, check=True)
    assert marker.exists()
    marker.unlink()
    run_git(["status"], cwd=repo)
    run_git(["add", "a.txt"], cwd=repo)
    run_git(["commit", "-qm", "x"], cwd=repo)
    run_git(["log", "-p"], cwd=repo)
    assert not marker.exists()


def test_open_repo_is_safe_unless_commit_hooks_are_wanted(booby_trapped: tuple[Path, Path]) -> None:
    repo, marker = booby_trapped
    safe = open_repo(repo)
    safe.git.add("a.txt")
    safe.git.status()
    safe.git.commit("-qm", "first")
    assert not marker.exists()
    (repo / "a.txt").write_text("b\n")
    with_hooks = open_repo(repo, hooks=True)
    with_hooks.git.add("a.txt")
    with_hooks.git.commit("-qm", "second")
    assert marker.read_text().count("hook") == 1  # only the commit hook ran, not fsmonitor


@pytest.mark.parametrize("command", [
    "git push --force origin main", "git push origin +main", "git reset --hard HEAD~1",
    "git branch -D feature", "git clean -fdx", "git checkout -- .", "git stash drop",
    "make && git clean -f",
])
def test_destructive_git_always_asks_even_in_yolo(command: str) -> None:
    policy = PermissionPolicy.from_strings("yolo", allow=["Bash(git *)", "Bash(make*)"])
    assert policy.decide("Bash", command, read_only=False) is Decision.ASK
    denied = PermissionPolicy.from_strings("yolo", deny=["Bash(git clean*)"])
    assert denied.decide("Bash", "git clean -f", read_only=False) is Decision.DENY


@pytest.mark.parametrize("command", ["git push origin main", "git reset --soft HEAD~1",
                                     "git branch new", "git stash", "git status"])
def test_ordinary_git_follows_the_rules(command: str) -> None:
    policy = PermissionPolicy.from_strings("ask", allow=["Bash(git *)"])
    assert policy.decide("Bash", command, read_only=False) is Decision.ALLOW
