""".gitignore semantics for directory walks outside git (inside git, `git ls-files` decides).

Supports what real projects use: comments, `!` negation, trailing-`/` directory patterns,
anchored patterns (containing a `/`), `*`, `?`, `[...]` and `**` in all its positions, nested
.gitignore files (deeper files win), and git's rule that a file under an excluded directory
cannot be re-included (we never descend into an excluded directory).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

# Directories never worth indexing in a plain walk (git would skip them via .gitignore anyway).
ALWAYS_SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", ".tox", ".nox",
    ".mypy_cache", ".pytest_cache", ".ruff_cache",
})


@dataclass(frozen=True)
class Rule:
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _translate(glob: str) -> str:
    """Translate one gitignore glob (no leading `/`, no trailing `/`) into a regex body."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == n:
            out.append("/.*")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = glob.find("]", i + 2)
            if end == -1:
                out.append(re.escape(c))
                i += 1
                continue
            body = glob[i + 1 : end].replace("\\", "\\\\")
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append(f"[{body}]")
            i = end + 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def parse_gitignore(text: str) -> list[Rule]:
    """Parse the text of one .gitignore into rules (in file order)."""
    rules: list[Rule] = []
    for raw in text.splitlines():
        line = raw.rstrip("\n\r")
        if not line or line.startswith("#"):
            continue
        if not line.endswith("\\ "):
            line = line.rstrip(" ")
        negate = line.startswith("!")
        if negate:
            line = line[1:]
        elif line.startswith("\\!") or line.startswith("\\#"):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        body = _translate(line)
        prefix = "" if anchored else "(?:.*/)?"
        rules.append(Rule(re.compile(f"^{prefix}{body}$"), negate, dir_only))
    return rules


def _ignored(stack: list[tuple[str, list[Rule]]], rel: str, is_dir: bool) -> bool:
    """Apply every .gitignore on the way down to `rel`; the last matching rule decides."""
    verdict = False
    for base, rules in stack:
        local = rel[len(base) + 1 :] if base else rel
        for rule in rules:
            if rule.dir_only and not is_dir:
                continue
            if rule.regex.match(local):
                verdict = not rule.negate
    return verdict


def walk_files(root: str) -> Iterator[str]:
    """Yield POSIX paths (relative to `root`) of regular files not ignored by .gitignore
    files found on the way. Symlinks are not followed (a link to a directory could loop)."""
    stack: list[tuple[str, list[Rule]]] = []

    def visit(rel_dir: str) -> Iterator[str]:
        abs_dir = os.path.join(root, rel_dir) if rel_dir else root
        try:
            with open(os.path.join(abs_dir, ".gitignore"), encoding="utf-8", errors="replace") as fh:
                rules = parse_gitignore(fh.read())
        except OSError:
            rules = []
        stack.append((rel_dir, rules))
        try:
            entries = sorted(os.scandir(abs_dir), key=lambda e: e.name)
        except OSError:
            entries = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = entry.is_file(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if entry.name in ALWAYS_SKIP_DIRS or _ignored(stack, rel, True):
                    continue
                yield from visit(rel)
            elif is_file and not _ignored(stack, rel, False):
                yield rel
        stack.pop()

    yield from visit("")
