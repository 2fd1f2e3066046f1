"""Removing restored-away files from the workspace without touching what the user made since."""

from __future__ import annotations

from pathlib import Path


def remove_file(root: Path, rel: str) -> None:
    """Remove one file (or symlink) and the parent directories that it leaves empty."""
    full = root / rel
    try:
        if full.is_dir() and not full.is_symlink():
            return  # became a directory meanwhile: leave the user's data alone
        full.unlink()
    except FileNotFoundError:
        pass
    parent = full.parent
    while parent != root and root in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            break
        parent = parent.parent


def remove_empty_tree(path: Path) -> None:
    for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if child.is_dir() and not child.is_symlink():
            try:
                child.rmdir()
            except OSError:
                return
    try:
        path.rmdir()
    except OSError:
        pass
