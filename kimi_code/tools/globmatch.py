"""Glob patterns and file listing shared by Glob and Grep.

Patterns: `*` and `?` stay within one path segment, `**` as a whole segment spans any number of
directories (including none), `[abc]`/`[!abc]` are character classes, `{a,b}` alternatives and a
backslash escapes the next character. Matching is case-sensitive and `*` also matches dotfiles.

Listing: inside a git work tree the files are `git ls-files -co --exclude-standard` (tracked plus
untracked, minus what .gitignore excludes); elsewhere a walk that skips `.git`. Only regular
files are listed; symlinks are never followed, so nothing outside the tree is reached.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

from kimi_code.git.runner import GitError, git_invocation
from kimi_code.tools.process import Captured, capture

MAX_BRACE_EXPANSIONS = 256
def _split_top_level(body: str) -> list[str]:
    parts, depth, current, i = [], 0, [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            current.append(body[i:i + 2])
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def expand_braces(pattern: str) -> list[str]:
    """`a{b,c}d` -> [`abd`, `acd`], nested and repeated groups included (bounded)."""
    depth, start, i = 0, -1, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                alternatives = _split_top_level(pattern[start + 1:i])
                if len(alternatives) > 1:
                    head, tail = pattern[:start], pattern[i + 1:]
                    out: list[str] = []
                    for alt in alternatives:
                        out.extend(expand_braces(head + alt + tail))
                        if len(out) >= MAX_BRACE_EXPANSIONS:
                            return out[:MAX_BRACE_EXPANSIONS]
                    return out
        i += 1
    return [pattern]


def _translate_class(pattern: str, i: int) -> tuple[str, int] | None:
    """Translate the `[...]` starting at i; None if it is not closed (then `[` is literal)."""
    j = i + 1
    if j < len(pattern) and pattern[j] in "!^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 1
    if j >= len(pattern):
        return None
    body = pattern[i + 1:j]
    negated = body[:1] in ("!", "^")
    if negated:
        body = body[1:]
    body = body.replace("\\", "\\\\").replace("[", "\\[")
    return ("[^/" + body + "]" if negated else "[" + body + "]"), j + 1


def translate(pattern: str) -> str:
    """Regex source (for fullmatch) of one brace-free glob over '/'-separated relative paths."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            j = i
            while j < n and pattern[j] == "*":
                j += 1
            whole_segment = (i == 0 or pattern[i - 1] == "/") and (j == n or pattern[j] == "/")
            if j - i >= 2 and whole_segment:
                if j == n:
                    out.append(".*")
                else:
                    out.append("(?:[^/]*/)*")
                    j += 1
            else:
                out.append("[^/]*")
            i = j
            continue
        if ch == "?":
            out.append("[^/]")
        elif ch == "[" and (cls := _translate_class(pattern, i)) is not None:
            out.append(cls[0])
            i = cls[1]
            continue
        elif ch == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def compile_glob(pattern: str) -> re.Pattern[str]:
    """One regex for a glob with brace alternatives, to fullmatch relative paths."""
    alternatives = [translate(p) for p in expand_braces(pattern)]
    return re.compile("(?:" + "|".join(alternatives) + ")", re.DOTALL)


class PathFilter:
    """ripgrep `--glob` semantics for one glob: without a '/', it matches the file name at any
    depth; with one, the path relative to the search root (a leading '/' anchors explicitly).
    A leading '!' excludes instead; an excluding glob that matches a directory excludes
    everything below it, while an including glob must match the file itself."""

    def __init__(self, glob: str) -> None:
        self.exclude = glob.startswith("!")
        body = glob[1:] if self.exclude else glob
        self.on_name = "/" not in body.rstrip("/")
        self.regex = compile_glob(body.lstrip("/").rstrip("/") or "*")

    def allows(self, rel: str) -> bool:
        if not self.exclude:
            target = rel.rsplit("/", 1)[-1] if self.on_name else rel
            return self.regex.fullmatch(target) is not None
        parts = rel.split("/")
        if self.on_name:
            candidates: Iterable[str] = parts
        else:
            candidates = ("/".join(parts[:k]) for k in range(1, len(parts) + 1))
        return not any(self.regex.fullmatch(c) for c in candidates)


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


async def _git(base: Path, *args: str) -> Captured:
    """`git *args` in `base` through the safe runner's argv and environment (no fsmonitor or
    other repository program, no secrets, none of our GIT_* redirections)."""
    argv, env = git_invocation(list(args), cwd=base, env={"GIT_OPTIONAL_LOCKS": "0"})
    return await capture(argv, cwd=base, env=env)


async def git_files(base: Path) -> list[str] | None:
    """Files under `base` per git (relative, '/'-separated), or None when not in a work tree."""
    try:
        result = await _git(base, "ls-files", "-co", "--exclude-standard", "-z")
    except (FileNotFoundError, GitError):
        return None  # git is not installed, or its configuration cannot be read safely
    if result.returncode != 0:
        return None
    names = dict.fromkeys(n for n in result.stdout.decode("utf-8", "surrogateescape").split("\0") if n)
    return [n for n in names if ".git" not in n.split("/") and _is_regular(base / n)]


async def git_ignores(base: Path) -> bool:
    """Whether git ignores the directory `base` itself (e.g. a build/ or node_modules/ dir)."""
    try:
        result = await _git(base, "check-ignore", "-q", ".")
    except (FileNotFoundError, GitError):
        return False
    return result.returncode == 0


def walk_files(base: Path) -> list[str]:
    """Regular files under `base` by walking the tree (no symlinks followed, .git skipped)."""
    found: list[str] = []
    for root, dirs, files in os.walk(base, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        rel_root = os.path.relpath(root, base)
        for name in sorted(files):
            if _is_regular(Path(root) / name):
                found.append(name if rel_root == "." else f"{Path(rel_root).as_posix()}/{name}")
    return found


# Single-flight listings. A swarm's explore subagents share one workspace and tend to Glob in
# the same instant; each listing is a git subprocess (a fork, a child-watcher thread). Callers
# that arrive while a listing of the same directory is in flight share it, unless a mutating tool
# finished since it began: the change counter is part of the key, so a listing never predates a
# change the caller could have seen.
_changes = 0
_in_flight: dict[tuple[int, str, int], asyncio.Future[list[str]]] = {}


def note_workspace_change() -> None:
    """Record that a tool may have changed files: later listings start afresh."""
    global _changes
    _changes += 1


async def list_files(base: Path) -> list[str]:
    """Regular files under the directory `base`, relative to it, honouring .gitignore in git.

    A directory that is itself ignored (asked for explicitly) is walked in full, as ripgrep
    searches an ignored directory it is pointed at. The list is the caller's to keep.
    """
    key = (id(asyncio.get_running_loop()), str(base), _changes)
    shared = _in_flight.get(key)
    if shared is None:
        shared = _in_flight[key] = asyncio.ensure_future(_list_files(base))
        shared.add_done_callback(lambda done: _forget(key, done))
    # shield: one caller being cancelled must not cancel the listing the others wait for.
    return list(await asyncio.shield(shared))


def _forget(key: tuple[int, str, int], done: asyncio.Future[list[str]]) -> None:
    _in_flight.pop(key, None)
    if not done.cancelled():
        done.exception()  # retrieved: a failure every waiter gave up on is not logged as lost


async def _list_files(base: Path) -> list[str]:
    listed = await git_files(base)
    if listed is None or (not listed and await git_ignores(base)):
        listed = await asyncio.to_thread(walk_files, base)
    return listed
