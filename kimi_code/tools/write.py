"""Write: create a file or replace its whole content, atomically, with a diff for the UI."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from kimi_code.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult
from kimi_code.tools.paths import (
    check_writable,
    display_path,
    resolve_path,
    safe_summary,
    subject_path,
)
from kimi_code.tools.textfile import (
    atomic_write,
    check_fresh,
    load_text,
    record_read,
    unified_diff,
)


class WriteArgs(ToolArgs):
    file_path: str = Field(description="Absolute path, or a path relative to the workspace root.")
    content: str = Field(description="The complete new content of the file.")


def _count_lines(text: str) -> int:
    return len(text.splitlines())


def write_file(path: Path, content: str, ctx: ToolContext) -> ToolResult:
    """Create or overwrite `path` (already resolved and checked) with `content`."""
    shown = display_path(path, ctx)
    if path.is_dir():
        raise ToolError(f"{shown} is a directory; give a file path.")
    existed = path.exists()
    old_text = ""
    if existed:
        check_fresh(ctx, path, "overwrite")
        doc = load_text(path, ctx)
        old_text = doc.text
        if doc.newline == "\r\n" and "\r" not in content:
            content = content.replace("\n", "\r\n")  # keep the file's CRLF convention
        data = doc.encode(content)
    else:
        try:
            data = content.encode("utf-8")
        except UnicodeEncodeError:
            raise ToolError("The content contains invalid characters (lone surrogates).") from None
    if existed and content == old_text:
        return ToolResult(f"{shown} already has exactly this content; nothing was written.",
                          display={"path": shown, "diff": "", "created": False})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
    except OSError as exc:
        raise ToolError(f"Cannot write {shown}: {exc.strerror or exc}.") from None
    record_read(ctx, path)
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
    read_only: ClassVar[bool] = False

    def permission_subject(self, args: WriteArgs, ctx: ToolContext | None = None) -> str:
        return subject_path(args.file_path, ctx)

    def summary(self, args: WriteArgs, ctx: ToolContext | None = None) -> str:
        return safe_summary(args.file_path, ctx)

    async def run(self, args: WriteArgs, ctx: ToolContext) -> ToolResult:
        path = resolve_path(args.file_path, ctx)
        check_writable(path, ctx)
        return await asyncio.to_thread(write_file, path, args.content, ctx)
