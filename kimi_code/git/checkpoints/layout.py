"""Where a workspace's shadow checkpoint store lives and the names of its bookkeeping files.

The lowest checkpoint module (stdlib and `paths` only): the session-start gc check (auto), the
collector (gc), the store and the CLI all need these names, and none of them may import the
others just to learn them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from kimi_code import paths

STAMP_NAME = "last-gc"          # mtime: when gc last started; contents: its last result (JSON)
LOG_NAME = "gc.log"             # stderr of the last automatic run (overwritten each time)


def store_dir(workspace: Path) -> Path:
    """Where the shadow store of `workspace` lives (not created)."""
    digest = hashlib.sha256(str(Path(workspace).resolve()).encode("utf-8", "surrogateescape"))
    return paths.data_dir() / "checkpoints" / digest.hexdigest()[:16]
