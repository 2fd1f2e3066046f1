"""Rendering the repo map from cached definition lines (no file is re-read or re-parsed).

The ranked definitions are cut to the largest prefix whose rendering fits the token budget,
found by binary search. Output looks like source with the bodies elided:

    src/shapes.py:
    ⋮
    │class Shape(Base):
    ⋮
    │    def area(self) -> float:
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MAX_LINE_CHARS = 120


@dataclass(frozen=True)
class MapEntry:
    """One definition as the map shows it."""

    path: str
    line: int
    end_line: int
    name: str
    kind: str
    signature: str


def estimate_tokens(text: str) -> int:
    """A cheap deterministic token estimate (about four characters per token for code).

    Exact tokenizers need downloaded vocabularies; this is for budgeting, not billing.
    """
    return (len(text) + 3) // 4


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…"


def _path_label(path: str) -> str:
    """The file heading: a name holding a newline or other control character is shown quoted
    (JSON style), so it cannot split the map into lines that look like other entries."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        return json.dumps(path, ensure_ascii=False)
    return path


def render_entries(entries: list[MapEntry]) -> str:
    """Render entries grouped by file: files in order of first appearance (rank order),
    definitions by line within a file."""
    if not entries:
        return ""
    by_file: dict[str, list[MapEntry]] = {}
    for entry in entries:
        by_file.setdefault(entry.path, []).append(entry)
    out: list[str] = []
    for path, items in by_file.items():
        out.append(f"{_path_label(path)}:")
        last = 0
        seen_lines: set[int] = set()
        for entry in sorted(items, key=lambda e: (e.line, e.name)):
            if entry.line in seen_lines:
                continue
            seen_lines.add(entry.line)
            if entry.line > last + 1:
                out.append("⋮")
            out.append(f"│{_clip(entry.signature)}")
            last = entry.line
        out.append("⋮")
    return "\n".join(out) + "\n"


def fit_to_budget(ranked: list[MapEntry], max_tokens: int) -> str:
    """The rendering of the longest prefix of `ranked` that fits in `max_tokens`."""
    if max_tokens <= 0 or not ranked:
        return ""
    lo, hi = 0, min(len(ranked), max_tokens)  # every entry costs at least one token
    best = ""
    while lo < hi:
        mid = (lo + hi + 1) // 2
        text = render_entries(ranked[:mid])
        if estimate_tokens(text) <= max_tokens:
            lo, best = mid, text
        else:
            hi = mid - 1
    if lo and not best:
        best = render_entries(ranked[:lo])
    return best
