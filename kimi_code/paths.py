"""Where kimi-code keeps its files: config, data (sessions, checkpoints, worktrees) and caches.

`KIMI_CODE_HOME` puts everything under one directory (tests and CI use it); otherwise the XDG
base directories are honoured. Nothing is ever written into the user's repository.
"""

from __future__ import annotations

import os
from pathlib import Path


def _home_override() -> Path | None:
    value = os.environ.get("KIMI_CODE_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    """Directory holding config.toml and user themes."""
    if (home := _home_override()) is not None:
        return home
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "kimi-code"


def config_file() -> Path:
    return config_dir() / "config.toml"


def data_dir() -> Path:
    """Directory for sessions.db, checkpoints and worktrees (created on demand by callers)."""
    if (home := _home_override()) is not None:
        return home / "data"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kimi-code"


def cache_dir() -> Path:
    """Directory for disposable caches such as the repository index."""
    if (home := _home_override()) is not None:
        return home / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kimi-code"


def sessions_db() -> Path:
    return data_dir() / "sessions.db"


def ensure_dir(path: Path) -> Path:
    """Create `path` (private to the user) if needed and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
