"""Isolated git worktrees for coder subagents, and merging their work back.

- `snapshot_base(repo)`: one commit holding HEAD plus the current uncommitted changes (tracked
  edits and untracked, non-ignored files), written through a private index so the user's index
  and working tree are never touched. Every worktree of a swarm starts from it.
- `create_worktree(...)`: `git worktree add -b kimi-code/<session>/<n>` under the data dir
  (never inside the user's tree).
- `commit_worktree(...)`: the subagent's changes as one commit on its branch.
- `merge_into_workspace(...)`: three-way, file by file (`git merge-file`), into the user's
  working tree only (the index is left alone). All-or-nothing per subagent: if any file
  conflicts, nothing of that subagent is applied and its branch is kept for manual handling.
- `leftovers(repo)` / `cleanup_leftovers(repo)`: what a crash left behind (for doctor --cleanup).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from kimi_code.git.repo import GitError, run_git
from kimi_code.paths import data_dir, ensure_dir

BRANCH_PREFIX = "kimi-code/"
ZERO_SHA = "0" * 40
# Internal commits must not depend on the user's identity, hooks or signing setup.
_GIT_IDENTITY = ["-c", "user.name=kimi-code", "-c", "user.email=kimi-code@localhost",
                 "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null"]


_ADMIN_LOCKS: dict[str, threading.Lock] = {}
_ADMIN_GUARD = threading.Lock()


def _admin_lock(repo: Path) -> threading.Lock:
    """One lock per repository for worktree registration and removal (threads of one process)."""
    with _ADMIN_GUARD:
        return _ADMIN_LOCKS.setdefault(str(repo.resolve()), threading.Lock())


def worktrees_root(repo: Path) -> Path:
    """Per-repository folder for worktrees under the data dir."""
    key = hashlib.sha1(str(repo.resolve()).encode()).hexdigest()[:12]
    return data_dir() / "worktrees" / f"{repo.resolve().name}-{key}"


def _git(args: list[str], cwd: Path, env: dict[str, str] | None = None,
         check: bool = True) -> str:
    return run_git(args, cwd=cwd, env=env, check=check).stdout.decode("utf-8", "replace").strip()


def _head(repo: Path) -> str | None:
    proc = run_git(["rev-parse", "--verify", "-q", "HEAD^{commit}"], cwd=repo, check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def snapshot_base(repo: Path) -> str:
    """A commit of HEAD + uncommitted changes (HEAD itself when the tree is clean)."""
    git_dir = Path(_git(["rev-parse", "--absolute-git-dir"], repo))
    head = _head(repo)
    with tempfile.TemporaryDirectory(prefix="kimi-swarm-") as tmp:
        index = Path(tmp) / "index"
        if (git_dir / "index").exists():
            # keeps git's stat cache (fast add -A); copy2 keeps the mtime too, which git's
            # racy-entry check needs: with a fresh one, a same-size edit made in the same
            # second as the last `git add` would be missing from the snapshot
            shutil.copy2(git_dir / "index", index)
        env = {"GIT_INDEX_FILE": str(index)}
        _git(["add", "-A", "--", "."], repo, env)
        tree = _git(["write-tree"], repo, env)
    if head is not None and tree == _git(["rev-parse", f"{head}^{{tree}}"], repo):
        return head
    parents = ["-p", head] if head else []
    return _git([*_GIT_IDENTITY, "commit-tree", tree, *parents, "-m",
                 "kimi-code: swarm base (HEAD + uncommitted changes)"], repo)


@dataclass(frozen=True)
class Worktree:
    repo: Path
    path: Path
    branch: str
    base: str


def branch_name(session_id: str, n: int) -> str:
    return f"{BRANCH_PREFIX}{session_id}/{n}"


def create_worktree(repo: Path, base: str, session_id: str, n: int) -> Worktree:
    """Check out `base` into a new worktree on branch kimi-code/<session>/<n>."""
    root = ensure_dir(worktrees_root(repo))
    # A unique basename: git names its admin folder after it.
    path = root / f"{session_id[:12]}-{n}"
    branch = branch_name(session_id, n)
    if path.exists():
        remove_worktree(Worktree(repo, path, branch, base), delete_branch=True)
    # `git worktree add` reads the other worktrees' admin folders and trips over half-written
    # ones, so registration is serialised; the checkout (the slow part) runs concurrently.
    with _admin_lock(repo):
        _git(["worktree", "add", "-q", "--no-checkout", "-b", branch, str(path), base], repo)
    _git(["reset", "-q", "--hard", base], path)
    return Worktree(repo, path, branch, base)


def commit_worktree(wt: Worktree, message: str) -> tuple[str, list[str]]:
    """Commit everything the subagent changed; returns (commit, changed paths) or (base, [])."""
    _git(["add", "-A", "--", "."], wt.path)
    if run_git(["diff", "--cached", "--quiet"], cwd=wt.path, check=False).returncode == 0:
        return wt.base, []
    _git([*_GIT_IDENTITY, "commit", "-q", "--no-verify", "-m", message], wt.path)
    commit = _git(["rev-parse", "HEAD"], wt.path)
    return commit, [c.path for c in changes(wt.repo, wt.base, commit)]


def remove_worktree(wt: Worktree, *, delete_branch: bool) -> None:
    """Remove the worktree folder (and its branch when asked); never raises for a missing one.
    Its index cache is the caller's to drop (kimi_code.agent.swarm_merge.discard_worktree):
    git plumbing knows nothing of the index."""
    with _admin_lock(wt.repo):
        run_git(["worktree", "remove", "--force", "--force", str(wt.path)], cwd=wt.repo,
                check=False)
        if wt.path.exists():
            shutil.rmtree(wt.path, ignore_errors=True)
            run_git(["worktree", "prune"], cwd=wt.repo, check=False)
        if delete_branch:
            run_git(["branch", "-D", "-q", wt.branch], cwd=wt.repo, check=False)


@dataclass(frozen=True)
class Change:
    path: str
    old_mode: str
    new_mode: str
    old_sha: str
    new_sha: str


def changes(repo: Path, base: str, commit: str) -> list[Change]:
    """Files that differ between two commits (renames as delete + add), sorted by path."""
    raw = run_git(["diff", "--raw", "-z", "--no-renames", "--no-abbrev", base, commit],
                  cwd=repo).stdout.decode("utf-8", "surrogateescape")
    parts = raw.split("\0")
    out: list[Change] = []
    for header, path in zip(parts[0::2], parts[1::2], strict=False):
        if not header.startswith(":"):
            continue
        old_mode, new_mode, old_sha, new_sha, _status = header[1:].split()
        out.append(Change(path, old_mode, new_mode, old_sha, new_sha))
    return sorted(out, key=lambda c: c.path)


@dataclass
class MergeOutcome:
    status: str  # merged | conflict | nothing
    files: list[str] = field(default_factory=list)  # applied (merged) or conflicting files


def _blob(repo: Path, sha: str) -> bytes | None:
    if sha == ZERO_SHA:
        return None
    return run_git(["cat-file", "blob", sha], cwd=repo).stdout


def _read(root: Path, rel: str) -> bytes | None:
    # Through fds verified beneath the workspace (issue 15): a link on the way raises.
    from kimi_code.safety.fs_beneath import read_beneath

    real = Path(os.path.realpath(root))
    return read_beneath(real, real / rel)


def _merge_text(repo: Path, ours: bytes, base: bytes, theirs: bytes) -> bytes | None:
    """A clean three-way merge of the three versions, or None on conflict."""
    if b"\0" in ours + base + theirs:
        return None  # binary: no line merge
    with tempfile.TemporaryDirectory(prefix="kimi-merge-") as tmp:
        files = []
        for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            (Path(tmp) / name).write_bytes(data)
            files.append(str(Path(tmp) / name))
        proc = run_git(["merge-file", "-p", *files], cwd=repo, check=False)
    return proc.stdout if proc.returncode == 0 else None


def _plan(repo: Path, workspace: Path, change: Change) -> tuple[bytes | None, bool] | None:
    """(new content or None for delete, executable) for one file, or None on conflict."""
    from kimi_code.safety.git_dirs import git_write_refusal

    if git_write_refusal(Path(os.path.realpath(workspace)) / change.path):
        return None  # a tree made with plumbing can name .git/hooks/...: never applied
    base, theirs = _blob(repo, change.old_sha), _blob(repo, change.new_sha)
    ours = _read(workspace, change.path)
    executable = change.new_mode == "100755"
    if ours == theirs or ours == base:
        return theirs, executable
    if ours is None or base is None or theirs is None or "120000" in (change.old_mode, change.new_mode):
        return None
    merged = _merge_text(repo, ours, base, theirs)
    return None if merged is None else (merged, executable)


def merge_into_workspace(repo: Path, workspace: Path, base: str, commit: str) -> MergeOutcome:
    """Apply base..commit to the working tree three-way; nothing is written on any conflict."""
    todo = changes(repo, base, commit)
    if not todo:
        return MergeOutcome("nothing")
    plans: list[tuple[Change, bytes | None, bool]] = []
    conflicts: list[str] = []
    for change in todo:
        plan = _plan(repo, workspace, change)
        if plan is None:
            conflicts.append(change.path)
        else:
            plans.append((change, *plan))
    if conflicts:
        return MergeOutcome("conflict", conflicts)
    for change, content, executable in plans:
        _write(workspace, change.path, content, executable, change.new_mode == "120000")
    return MergeOutcome("merged", [c.path for c in todo])


def _write(root: Path, rel: str, content: bytes | None, executable: bool, symlink: bool) -> None:
    # Never through a symlink in the workspace (issue 15): one planted there by a command
    # would otherwise carry a subagent's file outside it, e.g. into kimi-code's config.
    from kimi_code.safety.fs_beneath import write_beneath

    real = Path(os.path.realpath(root))
    write_beneath(real, real / rel, content, executable=executable, symlink=symlink)


@dataclass(frozen=True)
class Leftovers:
    worktrees: list[Path]
    branches: list[str]


def leftovers(repo: Path) -> Leftovers:
    """Worktrees under the data dir and kimi-code/* branches still present in `repo`."""
    root = worktrees_root(repo)
    listing = _git(["worktree", "list", "--porcelain"], repo)
    paths = [Path(line[len("worktree "):]) for line in listing.splitlines()
             if line.startswith("worktree ")]
    mine = [p for p in paths if p.resolve().is_relative_to(root.resolve())] if root.exists() else []
    refs = _git(["for-each-ref", "--format=%(refname:short)", f"refs/heads/{BRANCH_PREFIX}"], repo)
    return Leftovers(mine, [r for r in refs.splitlines() if r])


def cleanup_leftovers(repo: Path, *, keep_branches: bool = False) -> Leftovers:
    """Remove leftover swarm worktrees (and branches unless kept); returns what was removed."""
    found = leftovers(repo)
    for path in found.worktrees:
        run_git(["worktree", "remove", "--force", "--force", str(path)], cwd=repo, check=False)
        shutil.rmtree(path, ignore_errors=True)
    run_git(["worktree", "prune"], cwd=repo, check=False)
    if not keep_branches:
        for branch in found.branches:
            run_git(["branch", "-D", "-q", branch], cwd=repo, check=False)
    return found if not keep_branches else Leftovers(found.worktrees, [])


__all__ = ["GitError", "Worktree", "Change", "MergeOutcome", "Leftovers", "snapshot_base",
           "create_worktree", "commit_worktree", "remove_worktree", "changes",
           "merge_into_workspace", "leftovers", "cleanup_leftovers", "worktrees_root",
           "branch_name"]
