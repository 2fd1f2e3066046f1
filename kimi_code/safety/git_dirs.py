"""Every git directory is protected, not only the one that existed at start (issue 15, class 2).

A git directory names programs git runs (hooks/, config's core.fsmonitor, filters, pagers), so
a file written into one runs later, outside any sandbox, the next time git touches that
repository. Protected, re-evaluated on every call:

- anything under a path component named `.git` (also as case-insensitive file systems and
  NTFS see it: `.GIT`, `.git.`, `git~1`), which covers nested repositories, submodules, a
  `.git` made during the session and worktree/submodule pointer files (`.git` as a file);
- anything inside a directory git accepts as a git directory (its own test: a valid HEAD plus
  objects/ and refs/, or a commondir file), which covers bare repositories, a workspace opened
  inside one, and the targets of `gitdir:` pointers wherever they live;
- a write that would *make* a directory a git directory (a valid HEAD beside objects/ and
  refs/, say), so one cannot be assembled file by file.

`protected_git_paths(root)` lists what exists now under a root, for the sandbox to bind
read-only; `git_write_refusal(target, data)` is the per-write check of the file tools.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# What a git directory holds that makes git run programs or read another repository; bound
# read-only as a whole when the root itself is a git directory (a bare workspace).
GIT_DIR_ENTRIES = ("HEAD", "config", "config.worktree", "hooks", "objects", "refs", "info",
                   "packed-refs", "commondir", "gitdir", "worktrees", "modules", "logs",
                   "index", "shallow", "branches", "remotes")
_HEX_ID = re.compile(rb"[0-9a-fA-F]{40}")
_HEAD_PROBE_BYTES = 256


def is_dotgit_name(name: str) -> bool:
    """True for `.git` and the names that mean `.git` on case-insensitive or Windows file
    systems (`.GIT`, `.git.`, `.git ` and the 8.3 short name `git~1`)."""
    folded = name.lower().rstrip(". ")
    return folded in (".git", "git~1")


def valid_head(data: bytes) -> bool:
    """True when `data` would pass git's HEAD check: `ref: refs/...` or an object id."""
    if data.startswith(b"ref:"):
        return data[4:].lstrip().startswith(b"refs/")
    return _HEX_ID.match(data) is not None


def _head_ok(directory: Path) -> bool:
    head = directory / "HEAD"
    try:
        if head.is_symlink():
            return os.readlink(head).startswith("refs/")
        with open(head, "rb") as fh:
            return valid_head(fh.read(_HEAD_PROBE_BYTES))
    except OSError:
        return False


def is_git_dir(directory: Path) -> bool:
    """Whether git would take `directory` as a git directory (bare repository, a `.git`, a
    worktree's or submodule's git directory)."""
    if not _head_ok(directory):
        return False
    return (directory / "commondir").is_file() or (
        (directory / "objects").is_dir() and (directory / "refs").is_dir())


def _would_be_git_dir(directory: Path, rel: tuple[str, ...], data: bytes) -> bool:
    """Whether writing `data` at directory/rel would turn `directory` into a git directory."""
    first = rel[0]
    head = valid_head(data) if rel == ("HEAD",) else _head_ok(directory)
    if not head:
        return False
    if rel == ("commondir",) or (directory / "commondir").is_file():
        return True
    objects = (first == "objects" and len(rel) > 1) or (directory / "objects").is_dir()
    refs = (first == "refs" and len(rel) > 1) or (directory / "refs").is_dir()
    return objects and refs


def git_write_refusal(target: Path, data: bytes = b"") -> str | None:
    """Why writing `data` to the canonical `target` would write git internals, or None.

    Checked on the whole path, not only the part under a root: a session started inside
    `.git` has that directory as its workspace.
    """
    if any(is_dotgit_name(part) for part in target.parts):
        return f"{target} is inside a .git directory"
    for directory in target.parents:
        rel = target.relative_to(directory).parts
        if is_git_dir(directory):
            return f"{target} is inside the git directory {directory}"
        if rel[0] in ("HEAD", "objects", "refs", "commondir") and \
                _would_be_git_dir(directory, rel, data):
            return f"writing {target} would make {directory} a git directory"
    return None


def _pointer_targets(pointer: Path, base: Path) -> list[Path]:
    """The git directory a `.git` file (`gitdir: X`) or symlink names, and its common dir."""
    if pointer.is_symlink():
        return [Path(os.path.realpath(pointer))]
    try:
        with open(pointer, encoding="utf-8", errors="replace") as fh:
            first = fh.readline().strip()
    except OSError:
        return []
    if not first.startswith("gitdir:"):
        return []
    named = Path(first.removeprefix("gitdir:").strip())
    gitdir = Path(os.path.realpath(named if named.is_absolute() else base / named))
    found = [gitdir]
    try:
        common = Path((gitdir / "commondir").read_text(encoding="utf-8").strip())
    except OSError:
        return found
    found.append(Path(os.path.realpath(common if common.is_absolute() else gitdir / common)))
    return found


def _git_dir_entries(directory: Path) -> list[Path]:
    return [directory / name for name in GIT_DIR_ENTRIES if os.path.lexists(directory / name)]


def protected_git_paths(root: Path) -> list[Path]:
    """Everything under `root` that sandboxed commands must not write, as it is now: every
    `.git` (directory, pointer file or symlink) at any depth and what its pointer names,
    every nested git directory (a bare repository inside the tree), and, when `root` is
    itself a git directory, its internals (hooks/, config, ...). Symlinked directories are not
    followed; a found git directory is not descended into. Call it per command: a `.git` made
    since the last call is in the next list."""
    real = Path(os.path.realpath(root))
    found: list[Path] = []
    if is_git_dir(real):
        found.extend(_git_dir_entries(real))
        return found
    pending = [real]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                listed = list(entries)
        except OSError:
            continue
        names = {entry.name for entry in listed}
        if directory != real and "HEAD" in names and is_git_dir(directory):
            found.append(directory)  # a bare repository or a relocated git directory
            continue
        for entry in listed:
            path = Path(entry.path)
            if is_dotgit_name(entry.name):
                found.append(path)
                if not entry.is_dir(follow_symlinks=False):
                    found.extend(_pointer_targets(path, directory))
            elif entry.is_dir(follow_symlinks=False):
                pending.append(path)
    return list(dict.fromkeys(found))
