"""ReportFinding (review mode only): record one finding in `ctx.state["findings"]`.

The tool only appends to the review's own list; validation against the diff, anchoring and
fingerprints happen afterwards (kimi_code.review.findings). When the review put the diff's hunk
ranges in `ctx.state["review_hunks"]` ({path: [(start, end), ...]}), the model is told at once
whether its line is inside the diff, so it can correct itself.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from kimi_code.tools.base import Tool, ToolArgs, ToolContext, ToolResult

FINDINGS_KEY = "findings"
HUNKS_KEY = "review_hunks"


class ReportFindingArgs(ToolArgs):
    file: str = Field(description="Path relative to the repository root (head side).")
    line: int = Field(ge=1, description="First head-side line of the problem.")
    end_line: int | None = Field(default=None, ge=1, description="Last line (default: line).")
    severity: Literal["error", "warning", "note"]
    category: Literal["bug", "security", "performance", "correctness", "style", "tests", "docs"]
    title: str = Field(min_length=1, max_length=200, description="One-line summary.")
    body: str = Field(min_length=1, max_length=8000, description="What is wrong and why.")
    suggestion: str | None = Field(default=None, max_length=8000,
                                   description="Replacement code for line..end_line.")


class ReportFindingTool(Tool[ReportFindingArgs]):
    name: ClassVar[str] = "ReportFinding"
    Args: ClassVar[type[ToolArgs]] = ReportFindingArgs
    concurrent_safe: ClassVar[bool] = True
    mutates_workspace: ClassVar[bool] = False  # writes only to the review's in-memory list

    def permission_subject(self, args: ReportFindingArgs, ctx: ToolContext | None = None) -> str:
        return args.file

    async def run(self, args: ReportFindingArgs, ctx: ToolContext) -> ToolResult:
        path = args.file.strip().removeprefix("./")
        root = str(ctx.workspace).rstrip("/") + "/"
        if path.startswith(root):
            path = path[len(root):]
        finding = args.model_dump()
        finding["file"] = path
        findings = ctx.state.setdefault(FINDINGS_KEY, [])
        findings.append(finding)
        return ToolResult(f"Recorded finding {len(findings)}: {args.title}{self._placement(path, args.line, ctx)}")

    @staticmethod
    def _placement(path: str, line: int, ctx: ToolContext) -> str:
        hunks = ctx.state.get(HUNKS_KEY)
        if not isinstance(hunks, dict):
            return ""
        ranges = hunks.get(path)
        if ranges is None:
            return (f" — note: {path} is not part of this diff, so the finding will be dropped. "
                    f"Changed files: {', '.join(sorted(hunks)[:20])}.")
        if any(start <= line <= end for start, end in ranges):
            return ""
        shown = ", ".join(f"{s}-{e}" for s, e in ranges[:10])
        return (f" — note: line {line} is outside the diff's hunks ({shown}); it will be moved "
                "to the nearest changed line or dropped.")
