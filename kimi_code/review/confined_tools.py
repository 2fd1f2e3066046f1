"""Read, Glob and Grep as a reviewer gets them: confined to the exported head tree.

The workspace of a review is already an export without `.git` (review/head_tree.py) and the
ordinary path checks refuse what resolves outside it. These subclasses add a second, review-only
fence in front of every call (issue 15, class 7), so that a regression in either layer alone
does not hand the model a CI token:

- a path naming a `.git` component (any case), before or after resolving symlinks, is refused;
- a path whose canonical form (symlinks, `..`, `/proc/self/cwd`, `/proc/self/root` resolved)
  is not inside the head tree is refused.

Refusals carry REFUSAL_MARK, so the review's report lists them among the refused actions.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from kimi_code.tools.base import ToolContext, ToolError, ToolResult
from kimi_code.tools.glob import GlobArgs, GlobTool, split_pattern
from kimi_code.tools.grep import GrepArgs, GrepTool
from kimi_code.tools.read import ReadArgs, ReadTool

REFUSAL_MARK = "outside the reviewed head tree"


def _names_git_dir(text: str) -> bool:
    return any(part.lower() == ".git" for part in PurePosixPath(text).parts)


def guard_path(raw: str | None, ctx: ToolContext) -> None:
    """Raise ToolError unless `raw` (absolute or workspace-relative; None = the workspace)
    stays inside the head tree and clear of git internals."""
    text = (raw or ".").strip() or "."
    root = Path(os.path.realpath(ctx.workspace))
    refusal = (f"{text} is {REFUSAL_MARK}: a review reads only the files of the change's head "
               "side (no .git, nothing outside it).")
    if "\x00" in text or _names_git_dir(text):
        raise ToolError(refusal)
    candidate = Path(text).expanduser()
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        resolved = Path(os.path.realpath(candidate))
    except (OSError, ValueError):
        raise ToolError(refusal) from None
    if resolved != root and root not in resolved.parents:
        raise ToolError(refusal)
    if _names_git_dir(str(resolved.relative_to(root))):
        raise ToolError(refusal)


class ReviewReadTool(ReadTool):
    """Read, confined to the head tree."""

    @classmethod
    def description(cls) -> str:
        return ReadTool.description()

    def permission_subject(self, args: ReadArgs, ctx: ToolContext | None = None) -> str:
        if ctx is not None:
            guard_path(args.file_path, ctx)
        return super().permission_subject(args, ctx)

    async def run(self, args: ReadArgs, ctx: ToolContext) -> ToolResult:
        guard_path(args.file_path, ctx)
        return await super().run(args, ctx)


class ReviewGlobTool(GlobTool):
    """Glob, confined to the head tree (an absolute pattern's directory included)."""

    @classmethod
    def description(cls) -> str:
        return GlobTool.description()

    async def run(self, args: GlobArgs, ctx: ToolContext) -> ToolResult:
        base, pattern = split_pattern(args.pattern, args.path)
        guard_path(base, ctx)
        if _names_git_dir(pattern):
            raise ToolError(f"{args.pattern} is {REFUSAL_MARK}: git internals are not part of "
                            "the change.")
        return await super().run(args, ctx)


class ReviewGrepTool(GrepTool):
    """Grep, confined to the head tree."""

    @classmethod
    def description(cls) -> str:
        return GrepTool.description()

    async def run(self, args: GrepArgs, ctx: ToolContext) -> ToolResult:
        guard_path(args.path, ctx)
        if args.glob and _names_git_dir(args.glob):
            raise ToolError(f"{args.glob} is {REFUSAL_MARK}: git internals are not part of "
                            "the change.")
        return await super().run(args, ctx)


CONFINED_TOOLS = (ReviewReadTool, ReviewGlobTool, ReviewGrepTool)
