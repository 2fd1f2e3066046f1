"""Pure rendering helpers shared by the TUI and the plain line mode (Rich only, no Textual):
control characters made visible, the key argument of a tool call, coloured unified diffs, and
the diff an approval shows before an edit runs."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from rich.text import Text

FALLBACK_DIFF = {"added": "#7BC96F", "added_bg": "#1D3320", "removed": "#F7768E",
                 "removed_bg": "#3A1D24", "hunk": "#7AA2F7", "header": "#A9B1D6"}
# The argument that best says what a call does, per tool (Claude-compatible names).
KEY_ARGUMENT = {
    "Read": "file_path", "Write": "file_path", "Edit": "file_path", "Glob": "pattern",
    "Grep": "pattern", "Bash": "command", "Agent": "description", "AgentSwarm": "description",
    "RepoMap": "focus_files", "FindSymbol": "name", "FindReferences": "name",
}
_CONTROL_NAMES = {"\t": "\\t", "\r": "\\r", "\x1b": "\\e", "\x00": "\\0", "\x7f": "\\x7f"}


def visible(text: str, *, keep_newlines: bool = True) -> str:
    """`text` with every control character spelled out (\\e, \\r, \\x07, ...), so an approval
    shows exactly what would run: nothing can hide behind a carriage return or an escape code.
    Zero-width and bidi-override characters are spelled out too."""
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch in _CONTROL_NAMES:
            out.append(_CONTROL_NAMES[ch])
        elif code < 0x20 or 0x80 <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif code in (0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF) or 0x202A <= code <= 0x202E \
                or 0x2066 <= code <= 0x2069:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def parse_arguments(arguments: str) -> dict[str, Any]:
    """A call's JSON arguments as a dict ({} when malformed: the loop reports that)."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def key_argument(tool: str, arguments: dict[str, Any], width: int = 80) -> str:
    """One line naming what the call touches: the command, the path, the pattern."""
    key = KEY_ARGUMENT.get(tool)
    value: Any = arguments.get(key) if key else None
    if value is None:
        value = next((v for v in arguments.values() if isinstance(v, str)), "")
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    line = visible(str(value), keep_newlines=False)
    return line if len(line) <= width else line[: width - 1] + "…"


def diff_text(diff: str, palette: dict[str, str] | None = None, *, max_lines: int = 400) -> Text:
    """A unified diff as coloured Rich text (added green, removed red, hunks blue)."""
    colors = {**FALLBACK_DIFF, **(palette or {})}
    text = Text()
    lines = diff.splitlines()
    for index, line in enumerate(lines[:max_lines]):
        if index:
            text.append("\n")
        shown = visible(line, keep_newlines=False)
        if line.startswith(("+++", "---")):
            text.append(shown, style=f"bold {colors['header']}")
        elif line.startswith("@@"):
            text.append(shown, style=colors["hunk"])
        elif line.startswith("+"):
            text.append(shown, style=f"{colors['added']} on {colors['added_bg']}")
        elif line.startswith("-"):
            text.append(shown, style=f"{colors['removed']} on {colors['removed_bg']}")
        else:
            text.append(shown)
    if len(lines) > max_lines:
        text.append(f"\n… {len(lines) - max_lines} more lines", style="dim")
    return text


def _unified(old: str, new: str, name: str) -> str:
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 f"a/{name}", f"b/{name}", n=3)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines).rstrip("\n")


def proposed_diff(tool: str, arguments: dict[str, Any], workspace: Path) -> str:
    """The diff an Edit or Write would make, for the approval modal ("" for other tools).

    This is a preview computed from the call's own arguments; the tool itself re-validates
    everything when it runs."""
    raw_path = arguments.get("file_path")
    if tool not in ("Edit", "Write") or not isinstance(raw_path, str):
        return ""
    path = Path(raw_path)
    path = path if path.is_absolute() else workspace / path
    try:
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
    except (OSError, UnicodeDecodeError):
        current = ""
    if tool == "Write":
        return _unified(current, str(arguments.get("content", "")), raw_path)
    old, new = str(arguments.get("old_string", "")), str(arguments.get("new_string", ""))
    if current and old and old in current:
        replaced = current.replace(old, new) if arguments.get("replace_all") else \
            current.replace(old, new, 1)
        return _unified(current, replaced, raw_path)
    return _unified(old, new, raw_path)


def human_duration(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def human_tokens(count: int) -> str:
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k"
    return f"{count / 1_000_000:.2f}M"
