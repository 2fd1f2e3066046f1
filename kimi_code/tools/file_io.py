"""The file tools' I/O, race-free: every open goes through a directory fd verified beneath the
root that holds the canonical path (`kimi_code.safety.fs_beneath`), never through a name that a
concurrent job could have swapped for a symlink since the path was checked.

Failures become ToolErrors for the one call; a tree that changed under us is named as such.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kimi_code.safety.fs_beneath import BeneathEntry, UnsafePath, entry_beneath
from kimi_code.tools.base import ToolContext, ToolError
from kimi_code.tools.paths import containing_root, display_path


@contextmanager
def open_entry(path: Path, ctx: ToolContext, *, create_parents: bool = False
               ) -> Iterator[BeneathEntry]:
    """The verified entry for the canonical `path` (resolved and checked by `resolve_path`).

    Raises ToolError when the tree changed so that the path now passes through a symlink
    (inside the `with` body too); other OSErrors propagate for the caller to word.
    """
    root = containing_root(path, ctx)
    if root is None:
        raise ToolError(f"{path} is outside the workspace.")
    try:
        with entry_beneath(root, path, create_parents=create_parents) as entry:
            yield entry
    except UnsafePath as exc:
        raise ToolError(
            f"{display_path(path, ctx)} changed while it was being opened ({exc}); refused so "
            "that nothing is read or written outside the workspace. Resolve the link and try "
            "again with the real path.") from None


@dataclass
class CurrentFile:
    """An existing regular file as opened (status taken on the fd) and its whole content."""

    st: os.stat_result
    data: bytes


def open_regular(entry: BeneathEntry, shown: str, directory_message: str = ""
                 ) -> tuple[BinaryIO, os.stat_result]:
    """The regular file at `entry`, open for reading, and its status (taken on the fd, so it
    describes what was opened). ToolError for a directory (`directory_message` when given)
    or anything but a regular file; FileNotFoundError when nothing is there."""
    fd = entry.open_read()
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ToolError(directory_message or f"{shown} is a directory; give a file path.")
        if not stat.S_ISREG(st.st_mode):
            raise ToolError(f"{shown} is not a regular file (a device, socket or pipe).")
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb"), st


def read_current(entry: BeneathEntry, shown: str) -> CurrentFile | None:
    """The file at `entry` for rewriting, or None when nothing is there. Refuses directories,
    special files and files with several hard links (issue 10: another link may live
    outside the workspace)."""
    try:
        fh, st = open_regular(entry, shown)
    except FileNotFoundError:
        return None
    with fh:
        if st.st_nlink > 1:
            raise ToolError(
                f"{shown} has {st.st_nlink} hard links; writing it could change a file outside "
                "the workspace, so tools refuse. Replace it with a copy first.")
        return CurrentFile(st, fh.read())


def replace_file(entry: BeneathEntry, data: bytes, mode: int, shown: str) -> os.stat_result:
    """Atomically write `data` at `entry` (temp file and rename inside the verified directory);
    the status of the new file, for the read stamp."""
    try:
        return entry.replace(data, mode)
    except OSError as exc:
        raise ToolError(f"Cannot write {shown}: {exc.strerror or exc}.") from None
