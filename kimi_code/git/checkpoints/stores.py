"""All checkpoint stores under the data dir, and removing the ones whose workspace is gone.

A store records its workspace's path in `<store>/workspace` when it is made. A store whose
workspace no longer exists (deleted, or moved: a moved workspace gets a new store) is an orphan.
Removal renames the store to `checkpoints/.trash-*` first (atomic, under the store lock) and
then deletes it, so a crash mid-removal leaves a trash directory, never a half-deleted store
that looks alive; leftovers are swept by the next `checkpoints gc --all-workspaces`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from kimi_code import paths
from kimi_code.git.checkpoints.io import store_bytes, store_lock, store_workspace

TRASH_PREFIX = ".trash-"


@dataclass(frozen=True)
class StoreInfo:
    """One store: where it is, the workspace it belongs to (None: not recorded), whether that
    workspace still exists, and its size on disk."""

    base: Path
    workspace: str | None
    exists: bool
    bytes: int

    @property
    def orphan(self) -> bool:
        """Safe to remove: its workspace is recorded and gone. A store with no recorded
        workspace is never called an orphan (we cannot tell whose it is)."""
        return self.workspace is not None and not self.exists


def stores_root() -> Path:
    return paths.data_dir() / "checkpoints"


def list_stores() -> list[StoreInfo]:
    """Every checkpoint store, sorted by workspace path."""
    root = stores_root()
    if not root.is_dir():
        return []
    found = []
    for base in sorted(root.iterdir()):
        if base.name.startswith(TRASH_PREFIX) or not base.is_dir():
            continue
        workspace = store_workspace(base)
        exists = workspace is not None and Path(workspace).is_dir()
        found.append(StoreInfo(base, workspace, exists, store_bytes(base)))
    return sorted(found, key=lambda s: (s.workspace or "", s.base.name))


def remove_store(base: Path) -> None:
    """Delete one store for good (takes its lock, so no snapshot is mid-write)."""
    root = base.parent
    trash = root / f"{TRASH_PREFIX}{base.name}-{uuid.uuid4().hex[:8]}"
    with store_lock(base):
        os.rename(base, trash)
    shutil.rmtree(trash, ignore_errors=True)


def trash_leftovers() -> list[Path]:
    """Trash directories left by a removal that was interrupted."""
    root = stores_root()
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.name.startswith(TRASH_PREFIX) and p.is_dir())


def sweep_trash() -> int:
    """Delete the interrupted removals' leftovers; returns the bytes freed."""
    freed = 0
    for path in trash_leftovers():
        freed += store_bytes(path)
        shutil.rmtree(path, ignore_errors=True)
    return freed
