"""Low-level access to a checkpoint store for its gc: git with the store's environment, the
store lock (shared with CheckpointStore's snapshots), and recovery from a killed writer.

Locking rules. Every writer of a store holds `<store>/lock` (flock) while it writes; the gc's
git children inherit the flock, so a gc killed mid-step keeps the store locked until its git
child has finished too. A gc step that changes the store leaves `<store>/gc-in-progress` while
it runs; found later under the lock, it means that step was killed and every git lock file
left in the repository is stale.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kimi_code.git.runner import run_git

GC_MARKER = "gc-in-progress"   # exists while a gc changes the store; found later = it was killed


def git_env(base: Path) -> dict[str, str]:
    """Environment for plumbing on the store at `base`: its repository and its own index (so
    gc and prune count the index's blobs as reachable), never the user's configuration."""
    return {"GIT_DIR": str(base / "repo"), "GIT_INDEX_FILE": str(base / "index"),
            "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}


# The fds of the flocks this process holds now (store lock, gc lock). Git children inherit
# them, so if this process is killed mid-gc the locks stay held until its git child has
# finished too: no snapshot can run beside an orphaned prune.
_held_fds: list[int] = []


def held_fds() -> tuple[int, ...]:
    """The store-lock descriptors this process holds now (for git children to inherit)."""
    return tuple(_held_fds)


def store_git(base: Path, *args: str, input: bytes | None = None, check: bool = True) -> str:
    """Run git on the store at `base` (argument list, never a shell) and return its stdout.
    Raises GitError with git's message when `check` and git fails. Git inherits the store
    locks this process holds, so a killed gc keeps the store locked until its git exits."""
    proc = run_git(args, cwd=base, env=git_env(base), input=input, check=check,
                   pass_fds=held_fds())
    return proc.stdout.decode("utf-8", "surrogateescape")


def store_bytes(base: Path) -> int:
    """Bytes the store occupies on disk (every file under it)."""
    total = 0
    for root, _dirs, files in os.walk(base):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def store_workspace(base: Path) -> str | None:
    """The workspace path recorded when the store was made, or None if unreadable."""
    try:
        return (base / "workspace").read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


@contextmanager
def held_flock(path: Path) -> Iterator[None]:
    """An exclusive flock on `path`, passed on to the git children started meanwhile."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        _held_fds.append(handle.fileno())
        try:
            yield
        finally:
            _held_fds.remove(handle.fileno())
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def store_lock(base: Path) -> Iterator[None]:
    """The store's writer lock (the same flock CheckpointStore takes for every snapshot), with
    git's own lock files left by a killed writer swept away once it is held."""
    with held_flock(base / "lock"):
        sweep_stale_locks(base)
        yield


@contextmanager
def gc_step(base: Path) -> Iterator[None]:
    """The marker of a gc step that changes the store. Not removed when the step fails, so the
    next writer knows git's lock files in the store are stale."""
    (base / GC_MARKER).write_text(f"{os.getpid()}\n", encoding="utf-8")
    yield
    (base / GC_MARKER).unlink(missing_ok=True)


def sweep_stale_locks(base: Path, now: float | None = None) -> None:
    """Delete git lock files a killed writer left in the store (they would make every later
    ref update or gc fail with "File exists"). Call only under the store lock.

    After a killed gc (its marker file is still there) every lock file in the repository is
    stale: gc's git children hold the store lock too, so none of them can still be running.
    Otherwise a snapshot's git child may outlive its killed parent without the lock, so a lock
    file counts as stale only once older than any live step takes: a minute for ref locks
    (held for milliseconds), ten for the index lock (held while files are hashed)."""
    repo, marker = base / "repo", base / GC_MARKER
    now = time.time() if now is None else now
    candidates = [(base / "index.lock", 600.0), (repo / "HEAD.lock", 60.0),
                  (repo / "packed-refs.lock", 60.0), (repo / "refs" / "kimi" / "latest.lock", 60.0)]
    try:
        candidates += [(e, 60.0) for e in (repo / "refs" / "kimi" / "sessions").iterdir()
                       if e.name.endswith(".lock")]
    except OSError:
        pass
    if marker.exists():
        candidates += [(Path(d) / f, -1.0) for d, _, files in os.walk(repo) for f in files
                       if f.endswith(".lock") or f == "gc.pid"]
    for path, age in candidates:
        try:
            if now - path.stat().st_mtime > age:
                path.unlink()
        except OSError:
            pass
    marker.unlink(missing_ok=True)
