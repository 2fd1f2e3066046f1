"""Race-free file access beneath a verified root directory (issue 15, class 3).

Checking a path and then opening it by name can be raced: between the two, a background job
swaps a directory for a symlink (`renameat2(RENAME_EXCHANGE)`) and the open lands outside the
workspace. Here every open walks from a directory fd without ever following a symlink:

- `openat2(2)` with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS where the
  kernel has it (Linux 5.6+; syscall 437 on x86_64 and aarch64), one syscall for the whole path;
- otherwise a walk of `openat(O_NOFOLLOW | O_DIRECTORY)`, one component at a time.

The root itself is opened the same way from "/" (its canonical path has no symlinks), so a root
swapped for a link is refused too. A symlink met anywhere on the way, or a `..`, raises
`UnsafePath`: callers resolve symlinks first (canonical paths), so meeting one means the tree
changed under us. Writes create a temp file inside the verified directory and rename it there
(`renameat` with both directory fds), so the final name never follows a link either.

This module knows nothing of tools; the file tools turn its exceptions into tool errors.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import secrets
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
# openat2 has the same number on every architecture that joined after the syscall table was
# unified; these are the ones we ship for.
_OPENAT2_NUMBERS = {"x86_64": 437, "amd64": 437, "aarch64": 437, "arm64": 437}
_O_PATH = getattr(os, "O_PATH", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = (_O_PATH or os.O_RDONLY) | os.O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC
TEMP_SUFFIX = ".kimi-tmp"


class UnsafePath(Exception):
    """A path met a symlink or `..` while being opened beneath its root (it changed since it
    was resolved, or it was never canonical)."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


class _Openat2:
    """The openat2 syscall through libc's syscall(), probed once; `available` is False on
    kernels or seccomp profiles without it (ENOSYS, EPERM) and on other architectures."""

    def __init__(self) -> None:
        self._syscall = None
        number = _OPENAT2_NUMBERS.get(platform.machine().lower())
        if number is None or not _O_PATH:
            return
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            self._syscall, self._number = libc.syscall, number
        except (OSError, AttributeError):
            return
        try:
            os.close(self.open(os.open("/", _DIR_FLAGS), ".", _DIR_FLAGS, close_base=True))
        except OSError:
            self._syscall = None

    @property
    def available(self) -> bool:
        return self._syscall is not None

    def open(self, base_fd: int, relpath: str, flags: int, mode: int = 0,
             *, close_base: bool = False) -> int:
        """openat2(base_fd, relpath) beneath base_fd with no symlinks; raises OSError."""
        assert self._syscall is not None
        how = _OpenHow(flags | _O_CLOEXEC, mode,
                       RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
        try:
            fd: int = self._syscall(self._number, base_fd, os.fsencode(relpath), ctypes.byref(how),
                                    ctypes.sizeof(how))
            if fd < 0:
                code = ctypes.get_errno()
                raise OSError(code, os.strerror(code), relpath)
            return fd
        finally:
            if close_base:
                os.close(base_fd)


_openat2: _Openat2 | None = None


def _kernel_openat2() -> _Openat2:
    global _openat2
    if _openat2 is None:
        _openat2 = _Openat2()
    return _openat2


def openat2_available() -> bool:
    """True when this kernel serves openat2 with RESOLVE_BENEATH (else the O_NOFOLLOW walk)."""
    return _kernel_openat2().available


def _check_parts(parts: Sequence[str]) -> None:
    for part in parts:
        if part in ("", ".", "..") or "/" in part or "\x00" in part:
            raise UnsafePath(f"path component {part!r} is not a plain name")


def _symlink_or_raise(dir_fd: int, name: str, exc: OSError) -> None:
    """Turn an open failure into UnsafePath when `name` is (now) a symlink; else re-raise."""
    try:
        is_link = stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        is_link = False
    if is_link or exc.errno in (errno.ELOOP, errno.EXDEV):
        raise UnsafePath(f"{name!r} is a symbolic link (the tree changed while it was opened)") \
            from None
    raise exc


def _step(dir_fd: int, name: str, create: bool) -> int:
    """Open the directory `name` inside `dir_fd` without following a symlink (mkdir first when
    `create`); the returned fd is a new one, `dir_fd` stays open."""
    if create:
        try:
            os.mkdir(name, 0o777, dir_fd=dir_fd)
        except FileExistsError:
            pass
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):
            _symlink_or_raise(dir_fd, name, exc)
        raise


def open_dir_beneath(base_fd: int, parts: Sequence[str], *, create: bool = False) -> int:
    """A new fd for the directory base_fd/parts..., never through a symlink or `..`.

    With `create`, missing directories are made on the way (mkdir -p). Raises UnsafePath for a
    symlink on the way, OSError (ENOENT, ENOTDIR, EACCES) otherwise.
    """
    _check_parts(parts)
    if not parts:
        return os.dup(base_fd)
    kernel = _kernel_openat2()
    if kernel.available:
        try:
            return kernel.open(base_fd, "/".join(parts), _DIR_FLAGS)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EXDEV):
                raise UnsafePath(f"{'/'.join(parts)!r} passes through a symbolic link") from None
            # ENOTDIR may be a symlink where a directory was expected (O_NOFOLLOW): the walk
            # below tells the two apart; ENOENT with `create` is the walk's job too.
            if not (exc.errno == errno.ENOTDIR or (create and exc.errno == errno.ENOENT)):
                raise
    fd = os.dup(base_fd)
    try:
        for name in parts:
            next_fd = _step(fd, name, create)
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_root(root: Path) -> int:
    """An fd for the canonical directory `root`, opened from "/" without following any
    symlink: a root that is (now) a link, or reached through one, is refused."""
    if not root.is_absolute():
        raise UnsafePath(f"{root} is not an absolute path")
    top = os.open("/", _DIR_FLAGS)
    try:
        return open_dir_beneath(top, root.parts[1:])
    finally:
        os.close(top)


@dataclass
class BeneathEntry:
    """A name inside a verified directory fd; every operation is relative to that fd."""

    dir_fd: int
    name: str

    def lstat(self) -> os.stat_result | None:
        """The entry's own status (a symlink is not followed), or None when it is absent."""
        try:
            return os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def open_read(self) -> int:
        """An fd for reading the entry; never follows a symlink, never blocks on a FIFO."""
        try:
            return os.open(self.name, os.O_RDONLY | os.O_NONBLOCK | _O_NOFOLLOW | _O_CLOEXEC,
                           dir_fd=self.dir_fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                _symlink_or_raise(self.dir_fd, self.name, exc)
            raise

    def replace(self, data: bytes, mode: int) -> os.stat_result:
        """Atomically make the entry a regular file holding `data` with permission `mode`: a
        temp file in the same verified directory, fsynced, renamed over the name (a symlink
        there is replaced, never followed). Returns the new file's status."""
        tmp = f".{self.name[:100]}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC,
                     0o600, dir_fd=self.dir_fd)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fchmod(fd, mode)
                os.fsync(fd)
                written = os.fstat(fd)
            finally:
                os.close(fd)
            os.rename(tmp, self.name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=self.dir_fd)
            except OSError:
                pass
            raise
        return written


@contextmanager
def entry_beneath(root: Path, target: Path, *, create_parents: bool = False
                  ) -> Iterator[BeneathEntry]:
    """The entry for canonical `target` inside canonical `root`, its directory opened from the
    root without symlinks (made first with `create_parents`). The fds close on exit."""
    parts = target.relative_to(root).parts
    if not parts:
        raise IsADirectoryError(errno.EISDIR, "the root directory itself is not a file",
                                str(target))
    root_fd = open_root(root)
    try:
        dir_fd = open_dir_beneath(root_fd, parts[:-1], create=create_parents)
    finally:
        os.close(root_fd)
    try:
        _check_parts(parts[-1:])
        yield BeneathEntry(dir_fd, parts[-1])
    finally:
        os.close(dir_fd)



def read_beneath(root: Path, target: Path) -> bytes | None:
    """What a canonical-root-relative `target` holds for a file-by-file merge: a regular
    file's bytes, a symlink's own target text, or None when nothing (or a directory) is
    there. Never reads through a symlink on the way (UnsafePath)."""
    try:
        with entry_beneath(root, target) as entry:
            st = entry.lstat()
            if st is None or stat.S_ISDIR(st.st_mode):
                return None
            if stat.S_ISLNK(st.st_mode):
                return os.fsencode(os.readlink(entry.name, dir_fd=entry.dir_fd))
            fd = entry.open_read()
            with os.fdopen(fd, "rb") as fh:
                return fh.read() if stat.S_ISREG(os.fstat(fh.fileno()).st_mode) else None
    except (FileNotFoundError, NotADirectoryError):  # a parent is missing or is a file
        return None


def write_beneath(root: Path, target: Path, content: bytes | None, *, executable: bool,
                  symlink: bool) -> None:
    """Make `target` (inside canonical `root`) hold `content`: None removes it, `symlink`
    makes a link whose target text is `content`, otherwise an atomic regular file (an
    existing file's mode kept, 0o644 for a new one, exec bits as asked). Parents are made;
    nothing is ever written or removed through a symlink (UnsafePath)."""
    with entry_beneath(root, target, create_parents=content is not None) as entry:
        st = entry.lstat()
        if content is None or symlink:
            if st is not None and not stat.S_ISDIR(st.st_mode):
                os.unlink(entry.name, dir_fd=entry.dir_fd)
            if symlink and content is not None:
                os.symlink(os.fsdecode(content), entry.name, dir_fd=entry.dir_fd)
            return
        mode = stat.S_IMODE(st.st_mode) if st is not None and stat.S_ISREG(st.st_mode) \
            else 0o644
        entry.replace(content, mode | 0o111 if executable else mode & ~0o111)
