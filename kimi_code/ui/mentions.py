"""`@` file mentions: the workspace's files (git's tracked and untracked-but-not-ignored files,
or a bounded walk outside git) and fuzzy matching over them."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from kimi_code.git.runner import GitError, run_git

MAX_FILES = 50_000
_SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache", "dist",
              "build", ".tox", ".ruff_cache", ".pytest_cache"}
MENTION = re.compile(r"(?:^|(?<=\s))@([^\s@]*)$")


def list_files(root: Path) -> list[str]:
    """Workspace-relative paths, tracked files first."""
    try:
        out = run_git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                      cwd=root, timeout=10).stdout  # the safe runner (no repository programs)
        files = [f for f in out.decode("utf-8", "replace").split("\0") if f]
        return sorted(dict.fromkeys(files))[:MAX_FILES]
    except (OSError, subprocess.SubprocessError, GitError):
        return _walk(root)


def _walk(root: Path) -> list[str]:
    found: list[str] = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        rel = os.path.relpath(directory, root)
        for name in sorted(files):
            found.append(name if rel == "." else f"{rel}/{name}")
            if len(found) >= MAX_FILES:
                return found
    return found


def score(query: str, candidate: str) -> float | None:
    """Fuzzy subsequence score (higher is better), None when `query` does not match.

    Rewards matches in the file name, at word starts and in runs, and short paths."""
    if not query:
        return 0.0 - len(candidate) / 1000
    q, c = query.lower(), candidate.lower()
    name_start = c.rfind("/") + 1
    total, pos, run = 0.0, 0, 0
    for ch in q:
        found = c.find(ch, pos)
        if found < 0:
            return None
        run = run + 1 if found == pos else 0
        total += 1.0 + run * 2
        if found == 0 or c[found - 1] in "/_-. ":
            total += 3
        if found >= name_start:
            total += 1.5
        pos = found + 1
    if q in c[name_start:]:
        total += 10
    return total - len(candidate) / 100


def fuzzy(query: str, candidates: list[str], limit: int = 20) -> list[str]:
    """The best `limit` candidates for `query`, best first."""
    scored = [(s, c) for c in candidates if (s := score(query, c)) is not None]
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [c for _, c in scored[:limit]]


def mention_at(text_before_cursor: str) -> str | None:
    """The partial mention being typed (`src/ma` for `look at @src/ma`), or None."""
    match = MENTION.search(text_before_cursor)
    return match.group(1) if match else None
