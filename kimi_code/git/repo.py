"""Small, safe helpers for talking to git.

Every git process goes through the one runner (`kimi_code.git.runner`): an argument *list*
(never a shell string), no program the repository's configuration names, no secret in its
environment. The user's repository is opened with GitPython (`open_repo`), whose git processes
go through the same runner; plumbing that needs stdin or its own GIT_DIR (the checkpoint store)
uses `run_git` directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import git

from kimi_code.git.gitpython import HookedRepo, SafeRepo
from kimi_code.git.runner import GitError, git_environment, run_git


class NotARepositoryError(GitError):
    """The directory is not inside a git work tree."""


def find_repo_root(path: Path) -> Path | None:
    """The top of the git work tree containing `path`, or None outside any repository."""
    proc = run_git(["rev-parse", "--show-toplevel"], cwd=path, check=False)
    if proc.returncode != 0:
        return None
    out = proc.stdout.decode("utf-8", "surrogateescape").strip()
    return Path(out) if out else None


def workspace_root(path: Path | None = None) -> Path:
    """The workspace for `path` (default cwd): the git root when inside one, else the directory."""
    start = (path or Path.cwd()).resolve()
    return find_repo_root(start) or start


def open_repo(path: Path | None = None, *, hooks: bool = False) -> git.Repo:
    """Open the user's repository containing `path` (default cwd) with GitPython; its git calls
    go through the safe runner (repository hooks only with `hooks=True`, for `kimi-code
    commit`)."""
    start = (path or Path.cwd()).resolve()
    kind = HookedRepo if hooks else SafeRepo
    try:
        return kind(start, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        broken = broken_gitfile(start)
        if broken:
            raise NotARepositoryError(broken) from None
        raise NotARepositoryError(
            f"{start} is not inside a git repository. Run this command from a repository "
            "(or `git init` one first)."
        ) from None


def broken_gitfile(start: Path) -> str | None:
    """A message when `start` (or a parent) has a `.git` *file* whose `gitdir:` target is gone:
    a worktree or submodule whose main repository moved or was deleted. Then "not a repository,
    git init one" would be the wrong advice: it would replace the link."""
    for directory in (start, *start.parents):
        dotgit = directory / ".git"
        if dotgit.is_dir():
            return None
        if not dotgit.is_file():
            continue
        try:
            first = dotgit.read_text(encoding="utf-8", errors="replace").splitlines()[0]
        except (OSError, IndexError):
            first = ""
        target = first.removeprefix("gitdir:").strip()
        if not first.startswith("gitdir:") or not target:
            return f"{dotgit} is not a valid git link (expected a 'gitdir: PATH' line)."
        path = Path(target) if Path(target).is_absolute() else directory / target
        if not path.exists():
            return (f"{dotgit} points to {path}, which does not exist: this worktree or "
                    "submodule lost its main repository (moved or deleted). Run `git worktree "
                    "repair` in the main repository after moving it, or `git submodule update "
                    "--init` for a submodule; do not `git init` here.")
        return None
    return None


def git_dir(repo: git.Repo) -> Path:
    """The repository's git directory (for worktrees: that worktree's own admin directory)."""
    return Path(repo.git_dir)


def operation_in_progress(repo: git.Repo) -> str | None:
    """Name of a merge/rebase/cherry-pick/revert/bisect in progress, or None."""
    gd = git_dir(repo)
    markers = {
        "MERGE_HEAD": "a merge", "rebase-merge": "a rebase", "rebase-apply": "a rebase or am",
        "CHERRY_PICK_HEAD": "a cherry-pick", "REVERT_HEAD": "a revert", "BISECT_LOG": "a bisect",
    }
    for name, what in markers.items():
        if (gd / name).exists():
            return what
    return None


def head_commit(repo: git.Repo) -> git.Commit | None:
    """HEAD's commit, or None in a repository with no commits yet."""
    try:
        return repo.head.commit
    except ValueError:
        return None


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The safe git environment (no secrets, none of our GIT_* redirections) plus `extra`.
    Kept for callers that build an environment first; `run_git(env=...)` does the same."""
    return git_environment(extra)


__all__ = ["GitError", "NotARepositoryError", "run_git", "find_repo_root", "workspace_root",
           "open_repo", "broken_gitfile", "git_dir", "operation_in_progress", "head_commit",
           "clean_env"]
