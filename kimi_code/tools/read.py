"""Read: a text file as numbered lines, one page at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar

from pydantic import Field

from kimi_code.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult
from kimi_code.tools.file_io import open_entry, open_regular
from kimi_code.tools.paths import (
    containing_root,
    display_path,
    resolve_path,
    safe_summary,
    subject_path,
)
from kimi_code.tools.textfile import (
    SNIFF_BYTES,
    FileKind,
    decode_text,
    record_read,
    refuse_non_text,
    sniff_head,
)

DEFAULT_LIMIT = 2000
MAX_LINE_CHARS = 2000
MAX_PAGE_CHARS = 120_000


class ReadArgs(ToolArgs):
    file_path: str = Field(description="Absolute path, or a path relative to the workspace root.")
    offset: int | None = Field(
        default=None, ge=0, description="1-based line number to start reading from (default 1)."
    )
    limit: int | None = Field(
        default=None, ge=1, description=f"Maximum number of lines to return (default {DEFAULT_LIMIT})."
    )


@dataclass
class Page:
    lines: list[tuple[int, str]]  # (1-based number, text without line ending)
    total: int
    stopped_for_size: bool


def _decoded_lines(fh: BinaryIO, shown: str) -> Iterator[tuple[str, bytes]]:
    """(line without its ending, b"") for UTF-16/32 files, decoded whole."""
    text = decode_text(fh.read(), shown).text
    pieces = text.split("\n")
    if text.endswith("\n"):
        pieces.pop()
    for piece in pieces:
        yield piece.rstrip("\r"), b""


def _count_rest(fh: BinaryIO) -> int:
    """Lines left in `fh` after the current one, counted in large chunks."""
    count, last = 0, b"\n"
    while chunk := fh.read(1 << 20):
        count += chunk.count(b"\n")
        last = chunk[-1:]
    return count if last == b"\n" else count + 1


def _read_page(fh: BinaryIO, kind: FileKind, shown: str, start: int, limit: int) -> Page:
    """Collect lines [start, start+limit) of the open file within the character budget and
    count all lines."""
    page = Page([], 0, False)
    used = 0
    wide = kind.encoding.startswith(("utf-16", "utf-32"))
    source: Iterable[bytes | tuple[str, bytes]] = _decoded_lines(fh, shown) if wide else fh
    for number, raw in enumerate(source, start=1):
        page.total = number
        if number < start:
            continue
        if len(page.lines) >= limit or page.stopped_for_size:
            if not wide:
                page.total = number + _count_rest(fh)
                break
            continue
        if isinstance(raw, tuple):
            text = raw[0]
        else:
            if number == 1 and kind.bom:
                raw = raw[len(kind.bom):]
            text = raw.rstrip(b"\n").rstrip(b"\r").decode(kind.encoding, errors="replace")
        if len(text) > MAX_LINE_CHARS:
            text = f"{text[:MAX_LINE_CHARS]} [... line truncated, {len(text) - MAX_LINE_CHARS} more characters]"
        if used + len(text) > MAX_PAGE_CHARS and page.lines:
            page.stopped_for_size = True
            continue
        page.lines.append((number, text))
        used += len(text) + 8
    return page


def _render(page: Page, shown: str, start: int) -> str:
    if page.total == 0:
        return f"<{shown} is empty>"
    if not page.lines:
        return (f"<{shown} has {page.total} lines; offset {start} is past the end. "
                f"Use an offset between 1 and {page.total}.>")
    body = "\n".join(f"{number:>6}\t{text}" for number, text in page.lines)
    first, last = page.lines[0][0], page.lines[-1][0]
    if last < page.total:
        why = " (page size limit reached)" if page.stopped_for_size else ""
        body += (f"\n\n[Showing lines {first}-{last} of {page.total}{why}. "
                 f"To read more, call Read with offset={last + 1}.]")
    return body


class ReadTool(Tool[ReadArgs]):
    name: ClassVar[str] = "Read"
    Args: ClassVar[type[ToolArgs]] = ReadArgs
    concurrent_safe: ClassVar[bool] = True
    mutates_workspace: ClassVar[bool] = False

    def permission_subject(self, args: ReadArgs, ctx: ToolContext | None = None) -> str:
        return subject_path(args.file_path, ctx)

    def summary(self, args: ReadArgs, ctx: ToolContext | None = None) -> str:
        text = safe_summary(args.file_path, ctx)
        if args.offset or args.limit:
            start = max(args.offset or 1, 1)
            text += f" (lines {start}-{start + (args.limit or DEFAULT_LIMIT) - 1})"
        return text

    async def run(self, args: ReadArgs, ctx: ToolContext) -> ToolResult:
        path = resolve_path(args.file_path, ctx, must_exist=True)
        return await asyncio.to_thread(self._read, path, args, ctx)

    def _read(self, path: Path, args: ReadArgs, ctx: ToolContext) -> ToolResult:
        shown = display_path(path, ctx)
        if containing_root(path, ctx) == path:
            raise ToolError(_directory_message(shown))
        start = max(args.offset or 1, 1)
        try:
            with open_entry(path, ctx) as entry:
                fh, st = open_regular(entry, shown, _directory_message(shown))
            with fh:
                kind = sniff_head(fh.read(SNIFF_BYTES))
                refuse_non_text(kind, shown, st.st_size)
                fh.seek(0)
                page = _read_page(fh, kind, shown, start, args.limit or DEFAULT_LIMIT)
        except OSError as exc:
            raise ToolError(f"Cannot read {shown}: {exc.strerror or exc}.") from None
        record_read(ctx, path, st)
        display = {"path": shown, "total_lines": page.total,
                   "first_line": page.lines[0][0] if page.lines else 0,
                   "last_line": page.lines[-1][0] if page.lines else 0}
        return ToolResult(_render(page, shown, start), display=display)


def _directory_message(shown: str) -> str:
    return (f"{shown} is a directory, not a file. Use Glob to list its files "
            f"(e.g. pattern \"*\" with path \"{shown}\").")
