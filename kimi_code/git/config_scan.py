"""Which per-name driver sections (`[filter "x"]`, `[diff "x"]`, `[merge "x"]`,
`[protocol "x"]`, git 2.54's configured hooks `[hook "x"]`) the configuration git could read for one call defines, without starting a
process.

The answer must never miss a name: a missed filter is a program the repository gets to run.
So the scan over-approximates everywhere it can (every ancestor that is or holds a git
directory, every include whatever its condition, any header-shaped text in a file) and gives
up (returns None, so the runner asks git itself) wherever it would have to guess: an include
line it does not fully understand, a path with `~user` or `%(prefix)`, a file that is not a
plain one, an include chain deeper than git's own limit.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

DRIVER_SECTIONS = frozenset({"filter", "diff", "merge", "protocol", "hook"})

_HEADER = re.compile(
    rb"\[\s*(filter|diff|merge|protocol|hook)\s*(?:\"((?:[^\"\\\n]|\\.)*)\"|\.([^\]\s]+))\s*\]",
    re.IGNORECASE)
_WORKTREE_KEY = re.compile(rb"(?:^|\])[ \t]*worktree[ \t]*=", re.IGNORECASE | re.MULTILINE)
# Stands for "a core.worktree setting may be in force" among the names scan_names returns.
WORKTREE = ("core", "worktree")
_INCLUDE_WORD = re.compile(rb"include", re.IGNORECASE)
_INCLUDE_HEADER = re.compile(rb'\s*\[\s*include(?:if\s+"[^"\\\n]*")?\s*\]\s*', re.IGNORECASE)
_SECTION_START = re.compile(rb"\s*\[")
_PATH_LINE = re.compile(rb'\s*path\s*=\s*([^\s"\\;#][^"\\;#]*?)\s*(?:[;#].*)?', re.IGNORECASE)
_BLANK_OR_COMMENT = re.compile(rb"\s*(?:[;#].*)?")
_MAX_CONFIG_BYTES = 4 * 1024 * 1024
_MAX_INCLUDE_DEPTH = 10  # git's own limit


def _gitdir_files(gitdir: str) -> list[str]:
    """The configuration files a git directory contributes (its own, and its common dir's)."""
    files = [os.path.join(gitdir, "config"), os.path.join(gitdir, "config.worktree")]
    try:
        with open(os.path.join(gitdir, "commondir"), encoding="utf-8", errors="replace") as f:
            common = f.read().strip()
    except OSError:
        return files
    if common:
        root = os.path.join(gitdir, common)  # join keeps an absolute `common` as it is
        files += [os.path.join(root, "config"), os.path.join(root, "config.worktree")]
    return files


def _dotgit_target(dotgit: str) -> str | None:
    """Where a `.git` file (worktree, submodule) points."""
    try:
        with open(dotgit, encoding="utf-8", errors="replace") as f:
            first = f.readline().rstrip("\r\n")
    except OSError:
        return None
    target = first.removeprefix("gitdir:").strip()
    if not first.startswith("gitdir:") or not target:
        return None
    return os.path.join(os.path.dirname(dotgit), target)


def _ancestors(start: str) -> list[str]:
    out = [start]
    while (parent := os.path.dirname(out[-1])) != out[-1]:
        out.append(parent)
    return out


def config_files(cwd: Path, env: Mapping[str, str]) -> list[str]:
    """Every file git could read configuration from for a call in `cwd` with `env` (system
    config is off), includes aside. Every ancestor that is or holds a git directory counts,
    whichever git's discovery would stop at."""
    files: list[str] = []
    for name in ("GIT_DIR", "GIT_COMMON_DIR"):
        if env.get(name):
            files += _gitdir_files(os.path.join(cwd, env[name]))
    if env.get("GIT_CONFIG_GLOBAL"):
        files.append(env["GIT_CONFIG_GLOBAL"])
    else:
        home = env.get("HOME") or os.path.expanduser("~")
        xdg = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
        files += [os.path.join(home, ".gitconfig"), os.path.join(xdg, "git", "config")]
    literal = os.path.abspath(cwd)
    for directory in dict.fromkeys([*_ancestors(literal), *_ancestors(os.path.realpath(literal))]):
        if os.path.isfile(os.path.join(directory, "HEAD")):  # a bare repository or git dir
            files += _gitdir_files(directory)
        dotgit = os.path.join(directory, ".git")
        try:
            mode = os.stat(dotgit).st_mode
        except OSError:
            continue
        if stat.S_ISDIR(mode):
            files += _gitdir_files(dotgit)
        elif stat.S_ISREG(mode) and (target := _dotgit_target(dotgit)) is not None:
            files += _gitdir_files(target)
    return list(dict.fromkeys(files))


def _read(path: str) -> bytes | None:
    """The file's bytes; b"" when absent; None when it is not a plain, reasonably sized file
    (a FIFO would block us; git would read it, so only git can say what it holds)."""
    if path == os.devnull:
        return b""
    try:
        st = os.stat(path)
    except OSError:
        return b""
    if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_CONFIG_BYTES:
        return None
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _names_in(data: bytes) -> set[tuple[str, str]]:
    found = set()
    for match in _HEADER.finditer(data):
        section = match.group(1).decode().lower()
        if match.group(2) is not None:  # [filter "Name"]: case kept, \x means x
            name = re.sub(rb"\\(.)", rb"\1", match.group(2)).decode("utf-8", "surrogateescape")
        else:  # legacy [filter.Name]: git lower-cases it
            name = match.group(3).decode("utf-8", "surrogateescape").lower()
        found.add((section, name))
    if _WORKTREE_KEY.search(data):  # any section: over-approximates core.worktree
        found.add(WORKTREE)
    return found


def _include_targets(data: bytes, origin: str, home: str) -> list[str] | None:
    """The paths this file includes (every include section, whatever its condition), or None
    when a line mentioning includes is not one this reader fully understands."""
    if not _INCLUDE_WORD.search(data):
        return []
    targets: list[str] = []
    in_include = False
    for line in data.split(b"\n"):
        line = line.rstrip(b"\r")
        if _SECTION_START.match(line):
            in_include = _INCLUDE_HEADER.fullmatch(line) is not None
            if not in_include and _INCLUDE_WORD.search(line):
                return None  # e.g. `[include] path = x` on one line, or escapes in a condition
            continue
        if in_include:
            match = _PATH_LINE.fullmatch(line)
            if match is None:
                if _BLANK_OR_COMMENT.fullmatch(line):
                    continue
                return None
            target = _resolve(match.group(1).decode("utf-8", "surrogateescape"), origin, home)
            if target is None:
                return None
            targets.append(target)
        elif _INCLUDE_WORD.search(line):
            return None
    return targets


def _resolve(value: str, origin: str, home: str) -> str | None:
    """An include path as git resolves it (relative to the including file), or None."""
    if "%(" in value or (value.startswith("~") and not value.startswith("~/")):
        return None
    if value.startswith("~/"):
        return os.path.join(home, value[2:])
    return os.path.join(os.path.dirname(origin), value)


def scan_names(cwd: Path, env: Mapping[str, str]) -> set[tuple[str, str]] | None:
    """Every (section, name) defined in the configuration git could read for a call in `cwd`
    (includes followed), plus WORKTREE when a core.worktree may be set; None when only git
    itself can tell."""
    home = env.get("HOME") or os.path.expanduser("~")
    names: set[tuple[str, str]] = set()
    todo = [(path, 0) for path in config_files(cwd, env)]
    seen: set[str] = set()
    while todo:
        path, depth = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        data = _read(path)
        if data is None or depth > _MAX_INCLUDE_DEPTH:
            return None
        names |= _names_in(data)
        targets = _include_targets(data, path, home)
        if targets is None:
            return None
        todo += [(target, depth + 1) for target in targets]
    return names


def discovered_work_tree(cwd: Path) -> tuple[str, str | None]:
    """What git's discovery finds from `cwd` when no core.worktree redirects it: ("worktree",
    the nearest directory holding a `.git` entry), ("gitdir", None) when a git directory (a
    bare repository) comes first, ("none", None) outside any repository."""
    for directory in _ancestors(os.path.realpath(cwd)):
        if os.path.lexists(os.path.join(directory, ".git")):
            return "worktree", directory
        if os.path.isfile(os.path.join(directory, "HEAD")) and \
                os.path.isdir(os.path.join(directory, "objects")):
            return "gitdir", None
    return "none", None


__all__ = ["DRIVER_SECTIONS", "WORKTREE", "config_files", "discovered_work_tree", "scan_names"]
