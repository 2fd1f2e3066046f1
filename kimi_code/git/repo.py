"""Small, safe helpers for talking to git.

Every git invocation goes through `run_git` with an argument *list* (never a shell string), so a
branch or file name can never be interpreted by a shell. The user's repository is opened with
GitPython (`open_repo`); plumbing that needs stdin or a private environment (the checkpoint
store) uses `run_git` directly.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import git

# What kimi-code's own git calls switch off: repository-local hooks, fsmonitor daemons, pagers
# and ssh commands are all ways for a cloned repository's configuration to run code when we
# merely look at it. Passed as GIT_CONFIG_* environment (git >= 2.31) so GitPython calls get it
# too. `kimi-code commit` is the one place the user's commit hooks are meant to run.
_SAFE_CONFIG: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.pager", "cat"),
    ("core.sshCommand", "false"),
    ("core.askPass", ""),
)


# Output settings a user's configuration may change but our parsers rely on: an empty context
# line printed as "" instead of " " (suppressBlankEmpty) shifts every line number after it and
# makes `git apply` reject the patches `commit --plan` builds; signature output would land
# inside `git log --format` text.
_STABLE_OUTPUT: tuple[tuple[str, str], ...] = (
    ("diff.suppressBlankEmpty", "false"),
    ("diff.noprefix", "false"),
    ("diff.mnemonicPrefix", "false"),
    ("log.showSignature", "false"),
    ("color.ui", "never"),
)


def safe_git_env(base: Mapping[str, str] | None = None, *, hooks: bool = False) -> dict[str, str]:
    """`base` (default os.environ) plus the configuration that keeps git from running
    repository-controlled programs. With `hooks=True` the repository's hooks stay enabled."""
    env = dict(os.environ if base is None else base)
    pairs = [*_SAFE_CONFIG, *_STABLE_OUTPUT]
    if not hooks:
        pairs.append(("core.hooksPath", os.devnull))
    start = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
    for offset, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{start + offset}"] = key
        env[f"GIT_CONFIG_VALUE_{start + offset}"] = value
    env["GIT_CONFIG_COUNT"] = str(start + len(pairs))
    env.update(GIT_PAGER="cat", PAGER="cat", GIT_TERMINAL_PROMPT="0")
    return env


class GitError(Exception):
    """A git command failed; `stderr` holds git's own explanation."""

    def __init__(self, message: str, stderr: str = "", returncode: int | None = None) -> None:
        super().__init__(message)
        self.stderr = stderr
        self.returncode = returncode


class NotARepositoryError(GitError):
    """The directory is not inside a git work tree."""


def run_git(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
    hooks: bool = False,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.CompletedProcess[bytes]:
    """Run `git *args` in `cwd` and return the completed process (stdout/stderr as bytes).

    `env` replaces the environment entirely when given (callers build it from `os.environ`);
    either way the safe configuration of `safe_git_env` is added (hooks off unless `hooks`).
    Raises GitError naming the command and git's message when `check` and git fails.
    `pass_fds`: descriptors git inherits (a held flock stays held while git runs, even if we die).
    """
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, env=safe_git_env(env, hooks=hooks), input=input,
            capture_output=True, check=False, pass_fds=pass_fds,
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH; install git and retry.") from None
    if check and proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise GitError(f"git {args[0]} failed: {err or 'exit ' + str(proc.returncode)}",
                       stderr=err, returncode=proc.returncode)
    return proc


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
    run with `safe_git_env` (repository hooks only with `hooks=True`, for `kimi-code commit`)."""
    start = (path or Path.cwd()).resolve()
    try:
        repo = git.Repo(start, search_parent_directories=True)
        safe = safe_git_env(None, hooks=hooks)
        repo.git.update_environment(**safe)
        return repo
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
    """os.environ without GIT_* variables that would redirect git (GIT_DIR, GIT_INDEX_FILE...),
    plus `extra`. Used so that a caller's environment cannot make us write the wrong repository."""
    redirecting = {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                   "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE"}
    env = {k: v for k, v in os.environ.items() if k not in redirecting}
    env.update(extra or {})
    return env
