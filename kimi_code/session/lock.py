"""One process at a time per session: an advisory `flock` on `<data>/locks/<id>.lock`.

flock belongs to the open file, so the kernel drops it when the holder dies (even kill -9): a
crashed kimi-code never leaves a session stuck. The holder's pid is written into the file only
to name it in the error message. Lock files are unlinked on release; the inode check in
`_acquire` makes that safe against a process that opened the old file just before the unlink.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType

from kimi_code.session.db import SessionStoreError


class SessionInUseError(SessionStoreError):
    """Another live process holds the session."""

    def __init__(self, session_id: str, pid: int | None) -> None:
        if pid == os.getpid():
            who = "this process"
        else:
            who = f"another kimi-code process (pid {pid if pid else 'unknown'})"
        super().__init__(f"session {session_id} is in use by {who}")
        self.session_id = session_id
        self.pid = pid


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


class SessionLock:
    """An exclusive lock on one session. Taken on `__enter__` (or `acquire()`), which raises
    SessionInUseError when another live process holds it; held until `release()`, the end of
    the `with` block, or the death of the process."""

    def __init__(self, lock_dir: Path, session_id: str) -> None:
        self.session_id = session_id
        self.lock_dir = lock_dir
        self.path = lock_dir / f"{session_id}.lock"
        self._fd: int | None = None

    def acquire(self) -> SessionLock:
        """Take the lock (a no-op when this object already holds it)."""
        if self._fd is None:
            self.lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._acquire()
        return self

    def _acquire(self) -> None:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                pid = _read_pid(fd)
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise SessionInUseError(self.session_id, pid) from None
                raise SessionStoreError(f"cannot lock {self.path}: {exc}") from exc
            # The previous holder may have unlinked the file between our open and our flock;
            # then we hold a lock on an orphan inode and must retry on the current file.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the session back. Idempotent."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            # Unlink while still holding the lock, so nobody can be holding this inode's lock.
            self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # closing drops the flock

    def __enter__(self) -> SessionLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def __del__(self) -> None:  # a forgotten lock must not outlive its owner object
        try:
            self.release()
        except Exception:
            pass
