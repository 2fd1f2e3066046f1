"""Edit: replace an exact string in a file (once, or everywhere with replace_all)."""

from __future__ import annotations

import asyncio
import difflib
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from kimi_code.safety.fs_beneath import BeneathEntry
from kimi_code.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult
from kimi_code.tools.file_io import CurrentFile, open_entry, read_current, replace_file
from kimi_code.tools.paths import (
    check_writable,
    display_path,
    resolve_path,
    safe_summary,
    subject_path,
)
from kimi_code.tools.textfile import (
    check_fresh,
    decode_text,
    for_display,
    record_read,
    unified_diff,
)
from kimi_code.tools.write import write_file

SNIPPET_CONTEXT = 3
SNIPPET_MAX_LINES = 30
HINT_SCAN_LINES = 20_000
_LINE_NUMBER_PREFIX = re.compile(r"^\s*\d+\t", re.MULTILINE)


class EditArgs(ToolArgs):
    file_path: str = Field(description="Absolute path, or a path relative to the workspace root.")
    old_string: str = Field(description="The exact text to replace (must match the file exactly).")
    new_string: str = Field(description="The text to put in its place (must differ from old_string).")
    replace_all: bool = Field(
        default=False, description="Replace every occurrence instead of exactly one (default false)."
    )


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _occurrence_lines(text: str, needle: str, limit: int = 20) -> list[int]:
    lines: list[int] = []
    start = 0
    while len(lines) < limit and (index := text.find(needle, start)) != -1:
        lines.append(_line_of(text, index))
        start = index + len(needle)
    return lines


def _whitespace_insensitive_line(text: str, old: str) -> int | None:
    """1-based line where `old` matches if leading/trailing whitespace of each line is ignored."""
    wanted = [ln.strip() for ln in old.strip("\n").split("\n")]
    if not any(wanted):
        return None
    have = [ln.strip() for ln in text.split("\n")[:HINT_SCAN_LINES]]
    for i in range(len(have) - len(wanted) + 1):
        if have[i:i + len(wanted)] == wanted:
            return i + 1
    return None


def _closest_lines(text: str, old: str, count: int = 3) -> list[tuple[int, str]]:
    """The file lines most similar to the most distinctive line of `old`."""
    probe = max((ln.strip() for ln in old.split("\n")), key=len, default="")
    if not probe:
        return []
    scored: list[tuple[float, int, str]] = []
    matcher = difflib.SequenceMatcher(b=probe, autojunk=False)
    for number, line in enumerate(text.split("\n")[:HINT_SCAN_LINES], start=1):
        stripped = line.strip()
        if not stripped:
            continue
        matcher.set_seq1(stripped)
        if matcher.real_quick_ratio() < 0.6 or matcher.quick_ratio() < 0.6:
            continue
        ratio = matcher.ratio()
        if ratio >= 0.6:
            scored.append((ratio, number, line))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [(number, line) for _, number, line in scored[:count]]


def _missing_message(text: str, old: str, shown: str) -> str:
    message = f"old_string was not found in {shown}."
    if _LINE_NUMBER_PREFIX.search(old):
        message += (" It looks like it contains line-number prefixes copied from Read output; "
                    "remove them (they are not part of the file).")
    ws_line = _whitespace_insensitive_line(text, old)
    if ws_line is not None:
        return message + (f" Ignoring indentation and trailing spaces it matches at line {ws_line}:"
                          " copy the exact whitespace from the file (tabs vs spaces).")
    close = _closest_lines(text, old)
    if close:
        rendered = "\n".join(f"{n:>6}\t{for_display(line)[:200]}" for n, line in close)
        message += f" The most similar lines in the file are:\n{rendered}"
    return message + "\nRead the file again if unsure, and copy old_string exactly."


def _snippet(text: str, index: int, new: str) -> str:
    """Numbered lines of the edited region in the new text, with a little context."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    first = _line_of(text, index)
    last = first + new.count("\n")
    start = max(first - SNIPPET_CONTEXT, 1)
    end = min(last + SNIPPET_CONTEXT, len(lines), start + SNIPPET_MAX_LINES - 1)
    return "\n".join(f"{n:>6}\t{for_display(lines[n - 1])}" for n in range(start, end + 1))


def _normalise(doc_text: str, newline: str, old: str, new: str) -> tuple[str, str, str, Callable[[str], str]]:
    """Work on LF text for pure-CRLF files; return (text, old, new, restore)."""
    if newline == "\r\n":
        def unlf(s: str) -> str:
            return s.replace("\r\n", "\n")
        return unlf(doc_text), unlf(old), unlf(new), lambda s: s.replace("\n", "\r\n")
    if newline == "mixed" and old not in doc_text and "\n" in old:
        crlf_old = old.replace("\r\n", "\n").replace("\n", "\r\n")
        if crlf_old in doc_text:
            return doc_text, crlf_old, new.replace("\r\n", "\n").replace("\n", "\r\n"), str
    return doc_text, old, new, str


def _replace_text(text: str, args: EditArgs, old: str, new: str, shown: str
                  ) -> tuple[str, int, int]:
    """(new text, occurrences replaced, index of the first) or a ToolError saying why not."""
    count = text.count(old)
    if count == 0:
        raise ToolError(_missing_message(text, old, shown))
    if count > 1 and not args.replace_all:
        lines = ", ".join(str(n) for n in _occurrence_lines(text, old))
        raise ToolError(
            f"old_string occurs {count} times in {shown} (at lines {lines}). Include more "
            "surrounding lines so it matches exactly one place, or set replace_all to true to "
            "replace every occurrence."
        )
    new_text = text.replace(old, new) if args.replace_all else text.replace(old, new, 1)
    return new_text, count, text.find(old)


def _edit_in(entry: BeneathEntry, current: CurrentFile, path: Path, args: EditArgs,
             ctx: ToolContext) -> ToolResult | None:
    """Edit the open `current` file at the verified `entry`; None when the edit is really a
    whole-file write (empty old_string on an empty file)."""
    shown = display_path(path, ctx)
    check_fresh(ctx, path, current.st, "edit")
    doc = decode_text(current.data, shown)
    if args.old_string == "":
        if doc.text.strip():
            raise ToolError(f"old_string is empty but {shown} is not. Include the text to replace "
                            "in old_string, or use Write to replace the whole file.")
        return None
    text, old, new, restore = _normalise(doc.text, doc.newline, args.old_string, args.new_string)
    new_text, count, first_index = _replace_text(text, args, old, new, shown)
    data = doc.encode(restore(new_text))
    check_writable(path, ctx, data)
    record_read(ctx, path, replace_file(entry, data, stat.S_IMODE(current.st.st_mode), shown))
    diff, added, removed = unified_diff(text, new_text, shown)
    replaced = f"{count} occurrences" if count > 1 else "1 occurrence"
    message = (f"Edited {shown}: replaced {replaced}. The edited region now reads:\n"
               f"{_snippet(new_text, first_index, new)}")
    display = {"path": shown, "diff": diff, "created": False, "added": added,
               "removed": removed, "replacements": count}
    return ToolResult(message, display=display, files_changed=(str(path),))


def edit_file(path: Path, args: EditArgs, ctx: ToolContext) -> ToolResult:
    """Apply one Edit to the resolved, checked `path`, reading and writing through one
    verified directory fd."""
    shown = display_path(path, ctx)
    if args.old_string == args.new_string:
        raise ToolError("old_string and new_string are identical; there is nothing to change.")
    result: ToolResult | None = None
    try:
        with open_entry(path, ctx) as entry:
            current = read_current(entry, shown)
            if current is not None:
                result = _edit_in(entry, current, path, args, ctx)
    except FileNotFoundError:  # a parent directory is missing
        current = None
    except OSError as exc:
        raise ToolError(f"Cannot edit {shown}: {exc.strerror or exc}.") from None
    if result is not None:
        return result
    if current is None and args.old_string != "":
        raise ToolError(f"{shown} does not exist. To create a file use Write "
                        "(or Edit with an empty old_string).")
    return write_file(path, args.new_string, ctx)


class EditTool(Tool[EditArgs]):
    name: ClassVar[str] = "Edit"
    Args: ClassVar[type[ToolArgs]] = EditArgs
    mutates_workspace: ClassVar[bool] = True

    def permission_subject(self, args: EditArgs, ctx: ToolContext | None = None) -> str:
        return subject_path(args.file_path, ctx)

    def summary(self, args: EditArgs, ctx: ToolContext | None = None) -> str:
        return safe_summary(args.file_path, ctx)

    async def run(self, args: EditArgs, ctx: ToolContext) -> ToolResult:
        path = resolve_path(args.file_path, ctx)
        check_writable(path, ctx)
        return await asyncio.to_thread(edit_file, path, args, ctx)
