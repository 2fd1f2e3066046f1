"""RepoMap: the ranked map of the repository's definitions, fitted to a token budget."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from kimi_code.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult
from kimi_code.tools.paths import resolve_path

DEFAULT_TOKENS = 2048
MAX_TOKENS = 16384


class RepoMapArgs(ToolArgs):
    focus_files: list[str] | None = Field(
        default=None,
        description="Files you are working on (absolute or workspace-relative); the map leans "
        "towards what they use and what uses them.",
    )
    focus_symbols: list[str] | None = Field(
        default=None, description="Identifiers you care about, e.g. [\"QuerySet\", \"filter\"]."
    )
    max_tokens: int | None = Field(
        default=None, ge=64, le=MAX_TOKENS,
        description=f"Token budget for the map (default {DEFAULT_TOKENS}).",
    )


class RepoMapTool(Tool[RepoMapArgs]):
    name: ClassVar[str] = "RepoMap"
    Args: ClassVar[type[ToolArgs]] = RepoMapArgs
    concurrent_safe: ClassVar[bool] = True
    mutates_workspace: ClassVar[bool] = False

    def summary(self, args: RepoMapArgs, ctx: ToolContext | None = None) -> str:
        focus = (args.focus_files or []) + (args.focus_symbols or [])
        return ", ".join(focus)[:80]

    async def run(self, args: RepoMapArgs, ctx: ToolContext) -> ToolResult:
        from kimi_code.index.tooling import partial_note, query_index

        focus: list[str] = []
        for raw in args.focus_files or []:
            path = resolve_path(raw, ctx)  # refuses paths outside the workspace
            if not path.is_file():
                raise ToolError(f"focus file {raw} does not exist (give a file, not a directory).")
            focus.append(str(path))
        symbols = [s.strip() for s in args.focus_symbols or [] if s.strip()]
        budget = args.max_tokens or DEFAULT_TOKENS
        text, result = await query_index(
            ctx.workspace,
            lambda index: index.render_map(focus_files=focus, focus_symbols=symbols,
                                           max_tokens=budget),
        )
        if not text:
            return ToolResult("The repository has no indexed definitions (no source files in a "
                              "supported language)." + partial_note(result))
        return ToolResult(text.rstrip("\n") + partial_note(result),
                          display={"files": text.count(":\n")})
