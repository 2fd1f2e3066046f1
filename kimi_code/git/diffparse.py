"""Parsing unified diffs (as `git diff` writes them) into files and hunks with line numbers.

Used by commit (`--plan` splits and re-assembles hunks) and review (findings are anchored to the
head side of the hunks). Paths may be C-quoted by git; they are unquoted here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")
_BODY_PREFIXES = frozenset(" +-\\")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f",
            "r": "\r", "v": "\v"}


@dataclass
class Hunk:
    """One `@@` block. `lines` keep their one-character prefix (' ', '+', '-', '\\')."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    section: str = ""
    lines: list[str] = field(default_factory=list)

    @property
    def header(self) -> str:
        return (f"@@ -{self.old_start},{self.old_count} +{self.new_start},{self.new_count} @@"
                f"{self.section}")

    def text(self) -> str:
        return "\n".join([self.header, *self.lines]) + "\n"

    def new_lines(self) -> list[tuple[int, str, bool]]:
        """Head-side lines as (line number, text, changed): context and added lines."""
        out, number = [], self.new_start
        for line in self.lines:
            if line.startswith("+"):
                out.append((number, line[1:], True))
                number += 1
            elif line.startswith(" "):
                out.append((number, line[1:], False))
                number += 1
        return out

    def changed_new_lines(self) -> list[int]:
        return [n for n, _, changed in self.new_lines() if changed]

    @property
    def new_end(self) -> int:
        """Last head-side line covered by the hunk (context included)."""
        return self.new_start + max(self.new_count, 1) - 1

    def stats(self) -> tuple[int, int]:
        # Counted on one joined string (C speed): a generated file can bring millions of lines.
        joined = "\n" + "\n".join(self.lines)
        return joined.count("\n+"), joined.count("\n-")


@dataclass
class DiffFile:
    """One file's section of a diff. `path` is the head-side path (base side for deletions)."""

    path: str
    old_path: str
    status: str  # added | deleted | modified | renamed | mode
    binary: bool = False
    header: list[str] = field(default_factory=list)
    hunks: list[Hunk] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(self.header) + "\n" + "".join(h.text() for h in self.hunks)

    def stats(self) -> tuple[int, int]:
        added = removed = 0
        for hunk in self.hunks:
            a, r = hunk.stats()
            added, removed = added + a, removed + r
        return added, removed


def unquote_path(raw: str) -> str:
    """Undo git's C-style quoting of a path ("a/t\\303\\251st" -> a/tést)."""
    if not (raw.startswith('"') and raw.endswith('"') and len(raw) >= 2):
        return raw
    body, out, i = raw[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567" and re.match(r"[0-7]{3}", body[i + 1:i + 4]):
                out.append(int(body[i + 1:i + 4], 8))
                i += 4
                continue
            out.extend(_ESCAPES.get(nxt, nxt).encode())
            i += 2
            continue
        out.extend(ch.encode("utf-8"))
        i += 1
    return out.decode("utf-8", "surrogateescape")


def _strip_prefix(path: str) -> str:
    path = unquote_path(path.strip())
    return path[2:] if path[:2] in ("a/", "b/") else path


def _start_file(line: str) -> DiffFile:
    # "diff --git a/x b/x": only a fallback; ---/+++ and rename lines are authoritative.
    rest = line[len("diff --git "):]
    if rest.startswith('"'):
        end = rest.index('"', 1) + 1
        old, new = rest[:end], rest[end + 1:]
    else:
        half = len(rest) // 2
        old, new = rest[:half], rest[half + 1:]
    return DiffFile(path=_strip_prefix(new), old_path=_strip_prefix(old), status="modified",
                    header=[line])


def _header_line(current: DiffFile, line: str) -> None:
    current.header.append(line)
    if line.startswith("new file mode"):
        current.status = "added"
    elif line.startswith("deleted file mode"):
        current.status = "deleted"
    elif line.startswith("rename from "):
        current.old_path, current.status = unquote_path(line[12:]), "renamed"
    elif line.startswith("rename to "):
        current.path = unquote_path(line[10:])
    elif line.startswith("Binary files ") or line.startswith("GIT binary patch"):
        current.binary = True
    elif line.startswith("--- ") and line[4:].strip() != "/dev/null":
        current.old_path = _strip_prefix(line[4:].split("\t")[0])
    elif line.startswith("+++ ") and line[4:].strip() != "/dev/null":
        current.path = _strip_prefix(line[4:].split("\t")[0])
    elif line.startswith("+++ /dev/null"):
        current.path = current.old_path


def parse_diff(text: str) -> list[DiffFile]:
    """Parse `git diff` output (any number of files) into DiffFiles."""
    files: list[DiffFile] = []
    current: DiffFile | None = None
    hunk: Hunk | None = None
    for line in text.split("\n"):
        # Hunk body lines first: they are nearly all of a big diff, and never start a file
        # or a hunk (those lines begin with "d" and "@").
        if hunk is not None and line[:1] in _BODY_PREFIXES:
            hunk.lines.append(line)
            continue
        if line.startswith("diff --git "):
            current, hunk = _start_file(line), None
            files.append(current)
            continue
        if current is None:
            continue
        match = _HUNK_RE.match(line)
        if match:
            a, b, c, d, section = match.groups()
            hunk = Hunk(int(a), int(b) if b is not None else 1, int(c),
                        int(d) if d is not None else 1, section)
            current.hunks.append(hunk)
        elif hunk is None:
            _header_line(current, line)
    for f in files:
        if f.status == "modified" and f.old_path != f.path:
            f.status = "renamed"
        if f.status == "modified" and not f.hunks and not f.binary:
            f.status = "mode"
    return files
