"""Grep: regex search over file contents (ripgrep when installed, else pure Python)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from kimi_code.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult
from kimi_code.tools.grep_search import FileHits, SearchOutcome, SearchSpec, path_key, search
from kimi_code.tools.paths import display_path, resolve_path, safe_summary
from kimi_code.tools.textfile import for_display, path_for_display

MAX_LINE_CHARS = 500
MAX_OUTPUT_CHARS = 30_000


class GrepArgs(ToolArgs):
    pattern: str = Field(min_length=1, description="Regular expression to search for.")
    path: str | None = Field(default=None, description="File or directory to search (default: workspace root).")
    glob: str | None = Field(default=None, description='Only search files matching this glob, e.g. "*.py" or "src/**/*.{ts,tsx}".')
    type: str | None = Field(default=None, description='Only search files of this type, e.g. "py", "js", "rust", "go".')
    output_mode: Literal["content", "files_with_matches", "count"] = Field(
        default="files_with_matches",
        description='"files_with_matches" (default): file paths; "content": matching lines; "count": matching lines per file.',
    )
    case_insensitive: bool = Field(default=False, alias="-i", description="Case-insensitive search.")
    line_numbers: bool = Field(default=True, alias="-n", description="Show line numbers (content mode; default true).")
    after: int | None = Field(default=None, ge=0, alias="-A", description="Lines of context after each match (content mode).")
    before: int | None = Field(default=None, ge=0, alias="-B", description="Lines of context before each match (content mode).")
    context: int | None = Field(default=None, ge=0, alias="-C", description="Lines of context before and after each match (content mode).")
    head_limit: int | None = Field(default=None, ge=1, description="Return only the first N lines / files / counts.")
    multiline: bool = Field(default=False, description="Let the pattern span lines; `.` then also matches newlines.")


def _shown(base: Path, rel: str, ctx: ToolContext) -> str:
    return path_for_display(display_path(base / rel if rel else base, ctx))


def _cut(text: str) -> str:
    if len(text) <= MAX_LINE_CHARS:
        return text
    return f"{text[:MAX_LINE_CHARS]} [... {len(text) - MAX_LINE_CHARS} more characters]"


def content_lines(files: list[FileHits], base: Path, ctx: ToolContext, numbers: bool,
                  with_context: bool) -> list[str]:
    """grep-style lines: `path:N:text` for matches, `path-N-text` for context, `--` between
    non-adjacent groups when context is shown."""
    out: list[str] = []
    for hits in sorted(files, key=lambda h: path_key(h.rel)):
        shown = _shown(base, hits.rel, ctx)
        previous = None
        for number in sorted(hits.lines):
            text, is_match = hits.lines[number]
            if with_context and out and (previous is None or number != previous + 1):
                out.append("--")
            sep = ":" if is_match else "-"
            prefix = f"{shown}{sep}{number}{sep}" if numbers else f"{shown}{sep}"
            out.append(prefix + _cut(for_display(text)))
            previous = number
    return out


def _limit(lines: list[str], head_limit: int | None) -> tuple[list[str], bool]:
    """Keep the first `head_limit` entries ("--" separators do not count) and the char budget."""
    kept: list[str] = []
    entries, size = 0, 0
    for line in lines:
        is_entry = line != "--"
        if (head_limit is not None and is_entry and entries >= head_limit) or \
                size + len(line) + 1 > MAX_OUTPUT_CHARS:
            return kept, True
        kept.append(line)
        entries += is_entry
        size += len(line) + 1
    while kept and kept[-1] == "--":
        kept.pop()
    return kept, False


def _mtime(path: Path) -> float:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0


def render(outcome: SearchOutcome, args: GrepArgs, base: Path, ctx: ToolContext) -> tuple[str, int]:
    """The text the model reads and the number of files that matched."""
    files = outcome.files
    if args.output_mode == "files_with_matches":
        files = sorted(files, key=lambda h: (-_mtime(base / h.rel if h.rel else base), path_key(h.rel)))
        lines = [_shown(base, h.rel, ctx) for h in files]
        kept, cut = _limit(lines, args.head_limit)
        head = f"Found {len(files)} file{'s' if len(files) != 1 else ''}"
        text = "\n".join([head + (" (most recently modified first)" if len(files) > 1 else ""), *kept])
    elif args.output_mode == "count":
        files = sorted(files, key=lambda h: path_key(h.rel))
        kept, cut = _limit([f"{_shown(base, h.rel, ctx)}:{h.matched_lines}" for h in files], args.head_limit)
        total = sum(h.matched_lines for h in files)
        text = "\n".join(kept) + (f"\n\nFound {total} matching line{'s' if total != 1 else ''} "
                                  f"in {len(files)} file{'s' if len(files) != 1 else ''}.")
    else:
        before, after = _context(args)
        lines = content_lines(files, base, ctx, args.line_numbers, bool(before or after))
        kept, cut = _limit(lines, args.head_limit)
        text = "\n".join(kept)
    if cut:
        text += ("\n\n[Output truncated. Narrow the search with path, glob or type, or use "
                 "head_limit / a different output_mode.]")
    if outcome.incomplete:
        text += "\n[The search produced too much output and was stopped early; results are partial.]"
    return text, len(files)


def _context(args: GrepArgs) -> tuple[int, int]:
    """(before, after): -B / -A win over -C, as in grep and ripgrep."""
    both = args.context or 0
    before = args.before if args.before is not None else both
    after = args.after if args.after is not None else both
    return before, after


def build_spec(args: GrepArgs, base: Path) -> SearchSpec:
    if not args.multiline and ("\\n" in args.pattern or "\n" in args.pattern):
        raise ToolError("The pattern contains a newline; set multiline to true to match across lines.")
    before, after = _context(args) if args.output_mode == "content" else (0, 0)
    return SearchSpec(pattern=args.pattern, base=base, mode=args.output_mode,
                      ignore_case=args.case_insensitive, multiline=args.multiline,
                      before=before, after=after, glob=args.glob, file_type=args.type,
                      head_limit=args.head_limit, max_chars=MAX_OUTPUT_CHARS,
                      max_line_chars=MAX_LINE_CHARS)


class GrepTool(Tool[GrepArgs]):
    name: ClassVar[str] = "Grep"
    Args: ClassVar[type[ToolArgs]] = GrepArgs
    concurrent_safe: ClassVar[bool] = True
    mutates_workspace: ClassVar[bool] = False
    # "auto": ripgrep when on PATH; tests force "python" or "ripgrep".
    engine: Literal["auto", "ripgrep", "python"] = "auto"

    def permission_subject(self, args: GrepArgs, ctx: ToolContext | None = None) -> str:
        return args.pattern

    def summary(self, args: GrepArgs, ctx: ToolContext | None = None) -> str:
        where = f" in {safe_summary(args.path, ctx)}" if args.path else ""
        return f"{args.pattern!r}{where}"

    async def run(self, args: GrepArgs, ctx: ToolContext) -> ToolResult:
        base = resolve_path(args.path or ".", ctx, must_exist=True)
        outcome = await search(build_spec(args, base), self.engine)
        shown_base = display_path(base, ctx)
        if not outcome.files:
            return ToolResult(f"No matches for {args.pattern!r} in {shown_base}.",
                              display={"files": 0, "engine": outcome.engine})
        text, count = render(outcome, args, base, ctx)
        return ToolResult(text, display={"files": count, "engine": outcome.engine})
