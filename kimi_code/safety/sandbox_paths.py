"""Hard-link escape check for the built-in file tools (issue 10).

Canonical paths (realpath) catch symlinks, but a hard link inside the workspace to a file
outside it has no "outside" path to resolve: writing it writes the outside file. A regular file
with more than one link is therefore refused for writes; its other links may live anywhere.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kimi_code.safety.errors import ToolError


def refuse_hard_link_escape(path: Path) -> None:
    """Raise ToolError when `path` is an existing regular file with several hard links."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
        raise ToolError(
            f"{path} has {info.st_nlink} hard links; writing it could change a file outside the "
            "workspace, so tools refuse. Replace it with a copy first (e.g. `cp --remove-destination"
            f" {path} {path}.tmp && mv {path}.tmp {path}` after checking where it points).")
