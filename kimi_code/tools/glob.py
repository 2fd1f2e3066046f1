"""Glob: find files by name pattern, newest first, honouring .gitignore inside git."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import ClassVar

from pydantic import Field

from kimi_code.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult
from kimi_code.tools.globmatch import compile_glob, list_files
from kimi_code.tools.paths import display_path, resolve_path, safe_summary
from kimi_code.tools.textfile import path_for_display

MAX_RESULTS = 100
_GLOB_CHARS = frozenset("*?[{")


class GlobArgs(ToolArgs):
    pattern: str = Field(min_length=1, description='Glob pattern, e.g. "**/*.py" or "src/**/*.{ts,tsx}".')
    path: str | None = Field(
        default=None, description="Directory to search in (default: the workspace root)."
    )


def split_pattern(pattern: str, path: str | None) -> tuple[str, str]:
    """(directory to search, pattern relative to it). An absolute pattern's fixed leading
    directories become the directory."""
    pattern = pattern.strip()
    base = path or "."
    if PurePosixPath(pattern).is_absolute():
        parts = PurePosixPath(pattern).parts
        k = next((i for i, part in enumerate(parts) if _GLOB_CHARS & set(part)), len(parts) - 1)
        base, pattern = str(PurePosixPath(*parts[:k])), "/".join(parts[k:])
    while pattern.startswith("./"):
        pattern = pattern[2:]
    if ".." in pattern.split("/"):
        raise ToolError(f'The pattern "{pattern}" contains "..": pass the directory to search '
                        "as `path` instead.")
    return base, pattern


async def glob_files(pattern: str, base: Path) -> list[tuple[str, float]]:
    """(relative path, mtime) of the files under `base` matching `pattern`, newest first."""
    regex = compile_glob(pattern)
    matches: list[tuple[str, float]] = []
    for rel in await list_files(base):
        if regex.fullmatch(rel):
            try:
                mtime = os.lstat(base / rel).st_mtime
            except OSError:
                continue
            matches.append((rel, mtime))
    matches.sort(key=lambda item: (-item[1], item[0]))
    return matches


class GlobTool(Tool[GlobArgs]):
    name: ClassVar[str] = "Glob"
    Args: ClassVar[type[ToolArgs]] = GlobArgs
    concurrent_safe: ClassVar[bool] = True
    mutates_workspace: ClassVar[bool] = False

    def permission_subject(self, args: GlobArgs, ctx: ToolContext | None = None) -> str:
        return args.pattern

    def summary(self, args: GlobArgs, ctx: ToolContext | None = None) -> str:
        where = f" in {safe_summary(args.path, ctx)}" if args.path else ""
        return args.pattern + where

    async def run(self, args: GlobArgs, ctx: ToolContext) -> ToolResult:
        raw_base, pattern = split_pattern(args.pattern, args.path)
        base = resolve_path(raw_base, ctx, must_exist=True)
        shown_base = display_path(base, ctx)
        if not base.is_dir():
            raise ToolError(f"{shown_base} is a file, not a directory; `path` must be a directory.")
        matches = await glob_files(pattern, base)
        if not matches:
            return ToolResult(f'No files match "{pattern}" in {shown_base}.',
                              display={"count": 0})
        shown = [path_for_display(display_path(base / rel, ctx)) for rel, _ in matches[:MAX_RESULTS]]
        content = "\n".join(shown)
        if len(matches) > MAX_RESULTS:
            content += (f"\n\n[Showing the {MAX_RESULTS} most recently modified of {len(matches)} "
                        "matching files. Use a more specific pattern or path to see others.]")
        return ToolResult(content, display={"count": len(matches), "files": shown})
