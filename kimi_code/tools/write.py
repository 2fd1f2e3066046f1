"""Write: create a file or replace its whole content, atomically, with a diff for the UI."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import ClassVar

from pydantic import Field

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
    default_mode,
    record_read,
    unified_diff,
)


class WriteArgs(ToolArgs):
    file_path: str = Field(description="Absolute path, or a path relative to the workspace root.")
    content: str = Field(description="The complete new content of the file.")


def _count_lines(text: str) -> int:
    return len(text.splitlines())


def _encode_new(content: str) -> bytes:
    try:
        return content.encode("utf-8")
    except UnicodeEncodeError:
        raise ToolError("The content contains invalid characters (lone surrogates).") from None


def _plan(path: Path, content: str, current: CurrentFile | None, ctx: ToolContext
          ) -> tuple[bytes, str, str] | None:
    """(bytes to write, old text, new text) for `content`, or None when nothing changes."""
    if current is None:
        return _encode_new(content), "", content
    check_fresh(ctx, path, current.st, "overwrite")
    doc = decode_text(current.data, display_path(path, ctx))
    if doc.newline == "\r\n" and "\r" not in content:
        content = content.replace("\n", "\r\n")  # keep the file's CRLF convention
    if content == doc.text:
        return None
    return doc.encode(content), doc.text, content


def _write_missing_parent(path: Path, data: bytes, ctx: ToolContext) -> os.stat_result:
    """Create the parent directories (verified one by one) and then the new file."""
    shown = display_path(path, ctx)
    with open_entry(path, ctx, create_parents=True) as entry:
        if entry.lstat() is not None:
            raise ToolError(f"{shown} appeared while it was being created; Read it, then "
                            "write it again.")
        return replace_file(entry, data, default_mode(), shown)


def write_file(path: Path, content: str, ctx: ToolContext) -> ToolResult:
    """Create or overwrite `path` (already resolved and checked) with `content`."""
    shown = display_path(path, ctx)
    try:
        with open_entry(path, ctx) as entry:
            current = read_current(entry, shown)
            plan = _plan(path, content, current, ctx)
            if plan is None:
                return ToolResult(f"{shown} already has exactly this content; nothing was "
                                  "written.", display={"path": shown, "diff": "", "created": False})
            data, old_text, content = plan
            check_writable(path, ctx, data)
            mode = stat.S_IMODE(current.st.st_mode) if current else default_mode()
            written = replace_file(entry, data, mode, shown)
    except FileNotFoundError:  # a parent directory is missing: a new file
        data, old_text, current = _encode_new(content), "", None
        check_writable(path, ctx, data)
        try:
            written = _write_missing_parent(path, data, ctx)
        except OSError as exc:
            raise ToolError(f"Cannot write {shown}: {exc.strerror or exc}.") from None
    except OSError as exc:
        raise ToolError(f"Cannot write {shown}: {exc.strerror or exc}.") from None
    record_read(ctx, path, written)
    return _result(path, old_text, content, current is not None, ctx)


def _result(path: Path, old_text: str, content: str, existed: bool, ctx: ToolContext
            ) -> ToolResult:
    shown = display_path(path, ctx)
    diff, added, removed = unified_diff(old_text, content, shown)
    if existed:
        message = f"Updated {shown} (+{added} -{removed} lines)."
    else:
        count = _count_lines(content)
        message = f"Created {shown} ({count} line{'' if count == 1 else 's'})."
    display = {"path": shown, "diff": diff, "created": not existed,
               "added": added, "removed": removed}
    return ToolResult(message, display=display, files_changed=(str(path),))


class WriteTool(Tool[WriteArgs]):
    name: ClassVar[str] = "Write"
    Args: ClassVar[type[ToolArgs]] = WriteArgs
    mutates_workspace: ClassVar[bool] = True

    def permission_subject(self, args: WriteArgs, ctx: ToolContext | None = None) -> str:
        return subject_path(args.file_path, ctx)

    def summary(self, args: WriteArgs, ctx: ToolContext | None = None) -> str:
        return safe_summary(args.file_path, ctx)

    async def run(self, args: WriteArgs, ctx: ToolContext) -> ToolResult:
        path = resolve_path(args.file_path, ctx)
        check_writable(path, ctx, args.content.encode("utf-8", "surrogatepass"))
        return await asyncio.to_thread(write_file, path, args.content, ctx)
