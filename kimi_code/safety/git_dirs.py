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
import stat
import time
from dataclasses import dataclass
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


def _read_small(path: Path, limit: int = 4096) -> bytes | None:
    """The first `limit` bytes of a regular file, or None. Never blocks: a FIFO planted as
    HEAD or .git would otherwise hang every later call."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError):
        return None
    try:
        return os.read(fd, limit) if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except OSError:
        return None
    finally:
        os.close(fd)


def _head_ok(directory: Path) -> bool:
    head = directory / "HEAD"
    try:
        if head.is_symlink():
            return os.readlink(head).startswith("refs/")
    except OSError:
        return False
    data = _read_small(head, _HEAD_PROBE_BYTES)
    return data is not None and valid_head(data)


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


def _real(path: Path) -> Path | None:
    """The canonical path, or None when resolving fails (a /proc link we may not read, a link
    being swapped): this module never raises for what a repository holds."""
    try:
        return Path(os.path.realpath(path))
    except (OSError, ValueError):
        return None


def _pointer_targets(pointer: Path, base: Path) -> list[Path]:
    """The git directory a `.git` file (`gitdir: X`) or symlink names, and its common dir."""
    if pointer.is_symlink():
        return [real] if (real := _real(pointer)) else []
    first = (_read_small(pointer) or b"").decode("utf-8", "replace").split("\n")[0].strip()
    if not first.startswith("gitdir:"):
        return []
    named = Path(first.removeprefix("gitdir:").strip())
    gitdir = _real(named if named.is_absolute() else base / named)
    if gitdir is None:
        return []
    found = [gitdir]
    text = _read_small(gitdir / "commondir")
    if text is not None:
        common = Path(text.decode("utf-8", "replace").strip())
        if (real := _real(common if common.is_absolute() else gitdir / common)) is not None:
            found.append(real)
    return found


def _git_dir_entries(directory: Path) -> list[Path]:
    return [directory / name for name in GIT_DIR_ENTRIES if os.path.lexists(directory / name)]


@dataclass(frozen=True)
class _Listing:
    """What one directory held when it was last scanned (for the per-call walk)."""

    identity: tuple[int, int, int]  # (st_dev, st_ino, st_ctime_ns) when it was scanned
    scanned_ns: int
    subdirs: tuple[str, ...]  # full paths
    dotgits: tuple[tuple[str, bool], ...]  # (name, is a real directory)
    maybe_git_dir: bool  # has HEAD plus objects/ and refs/, or commondir


# Directory listings by path, reused while the directory's ctime is unchanged: adding,
# removing or renaming an entry changes it, and unlike the mtime no process can set it back
# (utimensat itself bumps the ctime), so a new `.git` or nested repository is always seen;
# only content checks (HEAD, pointer files) are redone every call. Bounded.
_LISTINGS: dict[str, _Listing] = {}
_MAX_LISTINGS = 200_000
# A listing taken within this long of the directory's last change may have missed an entry
# made in the same clock tick (file system timestamps are coarse), so it is not reused.
_RACY_NS = 2_000_000_000


def _scan(directory: str, identity: tuple[int, int, int]) -> _Listing:
    subdirs, dotgits = [], []
    names: set[str] = set()
    with os.scandir(directory) as entries:
        for entry in entries:
            names.add(entry.name)
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dotgit_name(entry.name):
                dotgits.append((entry.name, is_dir))
            elif is_dir:
                subdirs.append(entry.path)
    maybe = "HEAD" in names and ("commondir" in names or {"objects", "refs"} <= names)
    return _Listing(identity, time.time_ns(), tuple(subdirs), tuple(dotgits), maybe)


def _listing(directory: str) -> _Listing | None:
    try:
        st = os.stat(directory, follow_symlinks=False)
        identity = (st.st_dev, st.st_ino, st.st_ctime_ns)
        cached = _LISTINGS.get(directory)
        if cached is not None and cached.identity == identity and \
                cached.scanned_ns - st.st_ctime_ns > _RACY_NS:
            return cached
        listing = _scan(directory, identity)
    except OSError:
        return None
    if len(_LISTINGS) >= _MAX_LISTINGS:
        _LISTINGS.clear()
    _LISTINGS[directory] = listing
    return listing


def protected_git_paths(root: Path) -> list[Path]:
    """Everything under `root` that sandboxed commands must not write, as it is now: every
    `.git` (directory, pointer file or symlink) at any depth and what its pointer names (when
    that lies under `root` too),
    every nested git directory (a bare repository inside the tree), and, when `root` is
    itself a git directory, its internals (hooks/, config, ...). Symlinked directories are not
    followed; a found git directory is not descended into. Call it per command: a `.git` made
    since the last call is in the next list (directory listings are reused only while their
    directory is unchanged)."""
    real = _real(root)
    if real is None:
        return []
    if is_git_dir(real):
        return _git_dir_entries(real)
    found: list[Path] = []
    top = str(real)
    pending = [top]
    while pending:
        directory = pending.pop()
        listing = _listing(directory)
        if listing is None:
            continue
        if listing.maybe_git_dir and directory != top and is_git_dir(Path(directory)):
            found.append(Path(directory))  # a bare repository or a relocated git directory
            continue
        for name, is_dir in listing.dotgits:
            path = Path(directory, name)
            found.append(path)
            if not is_dir:
                found.extend(_pointer_targets(path, Path(directory)))
        pending.extend(listing.subdirs)
    # Only what exists under `root` is listed. A dangling `.git` link, or a pointer to nowhere,
    # to /proc/self/fd or to /dev/null, would make bwrap refuse to start or break every
    # command (a hostile repository's denial of service); outside the writable roots all is
    # read-only anyway, and each writable root's own walk finds the git directories in it.
    return [path for path in dict.fromkeys(found)
            if (path == real or real in path.parents) and os.path.exists(path)]
