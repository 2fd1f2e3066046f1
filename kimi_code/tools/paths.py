"""Path confinement for tools: every path a tool touches is resolved and checked here first.

A path is absolute or relative to the workspace. It is canonicalised with every symlink resolved
(`os.path.realpath`), so a link inside the workspace that points outside resolves to its real,
outside location and is refused. The check happens before any read or write of the target.

The canonical path is what permissions and messages see; the I/O itself re-walks it from the
root's fd without following symlinks (`kimi_code.tools.file_io`), so a tree changed between the
check and the open cannot redirect it. A path that fails to resolve because it is changing
(realpath's readlink racing a swap: EINVAL, ELOOP, ENOENT) is a ToolError for that call.
"""

from __future__ import annotations

import os
from pathlib import Path

from kimi_code.tools.base import ToolContext, ToolError


def _roots(ctx: ToolContext) -> list[Path]:
    """The canonical directories a tool may touch: the workspace first, then --add-dir ones."""
    return [Path(os.path.realpath(p)) for p in (ctx.workspace, *ctx.extra_dirs)]


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def containing_root(path: Path, ctx: ToolContext) -> Path | None:
    """The allowed root that holds the canonical `path`, or None."""
    for root in _roots(ctx):
        if _inside(path, root):
            return root
    return None


def resolve_path(raw: str, ctx: ToolContext, *, must_exist: bool = False) -> Path:
    """Resolve a tool's path argument to a canonical path inside the allowed roots.

    Raises ToolError when the path is empty, lies outside the workspace and every extra
    directory (after resolving symlinks), or (with `must_exist`) does not exist.
    """
    text = raw.strip()
    if not text:
        raise ToolError("The path is empty; give an absolute path or one relative to the workspace.")
    if "\x00" in text:
        raise ToolError(f"The path {raw!r} contains a NUL byte.")
    candidate = Path(text).expanduser()
    if not candidate.is_absolute():
        candidate = Path(ctx.workspace) / candidate
    try:
        resolved = Path(os.path.realpath(candidate))
        root = containing_root(resolved, ctx)
    except OSError as exc:  # a link swapped while realpath read it, a loop appearing, ...
        raise ToolError(f"{raw} could not be resolved ({exc.strerror or exc}); it is changing "
                        "on disk (a symbolic link being replaced?). Try again once it is "
                        "stable.") from None
    if root is None:
        allowed = ", ".join(str(r) for r in _roots(ctx))
        via_link = "" if resolved == Path(os.path.normpath(candidate)) else f" (it resolves to {resolved})"
        raise ToolError(
            f"{raw} is outside the workspace{via_link}; allowed directories: {allowed}. "
            "Use --add-dir to allow it."
        )
    if must_exist and not resolved.exists():
        if os.path.islink(resolved):  # realpath gives up on a loop and returns the link
            raise ToolError(f"{display_path(resolved, ctx)} is a symbolic link that never "
                            "reaches a file (a link loop); fix or remove the link.")
        if os.path.lexists(candidate):
            raise ToolError(f"{raw} is a broken symbolic link: its target "
                            f"{display_path(resolved, ctx)} does not exist.")
        raise ToolError(f"{display_path(resolved, ctx)} does not exist.")
    return resolved


def display_path(path: Path, ctx: ToolContext) -> str:
    """`path` relative to the workspace when inside it, else absolute (for messages and rules)."""
    workspace = Path(os.path.realpath(ctx.workspace))
    if path == workspace:
        return "."
    if _inside(path, workspace):
        return path.relative_to(workspace).as_posix()
    return str(path)


def check_writable(path: Path, ctx: ToolContext, data: bytes = b"") -> None:
    """Refuse writes of `data` to git internals (every git directory, as it is now, and a write
    that would make one: issue 15) and to kimi-code's own config and data (a workspace that
    holds them would let a Write turn on yolo mode). Files with several hard links (issue 10)
    are refused on the opened file itself, by `file_io.read_current`."""
    from kimi_code.safety.git_dirs import git_write_refusal

    if git_write_refusal(path, data) is not None:
        raise ToolError(
            f"{display_path(path, ctx)} is inside a git directory; tools never write git "
            "internals. Use git commands through Bash instead."
        )
    for own in _own_dirs():
        # A coder subagent's workspace is a worktree under the data directory: inside its own
        # tree it writes like anywhere else; the rest of the directory stays refused.
        if _inside(path, own) and not (_inside(ctx.workspace, own) and _inside(path, ctx.workspace)):
            raise ToolError(f"{display_path(path, ctx)} is in kimi-code's own configuration or "
                            "data directory; tools never write there.")


def _own_dirs() -> list[Path]:
    """kimi-code's config, data and cache directories (config.toml, sessions, trust store)."""
    from kimi_code import paths

    return [Path(os.path.realpath(d)) for d in (paths.config_dir(), paths.data_dir(),
                                                paths.cache_dir())]


def subject_path(raw: str, ctx: ToolContext | None) -> str:
    """The permission subject for a path argument: workspace-relative when it resolves inside.

    Without a context the raw path is returned, normalised. Raises ToolError for escapes so the
    call is refused before permissions are even asked.
    """
    if ctx is None:
        return os.path.normpath(raw) if raw.strip() else raw
    return display_path(resolve_path(raw, ctx), ctx)


def safe_summary(raw: str, ctx: ToolContext | None) -> str:
    """Like `subject_path` but never raises (UI one-liners)."""
    try:
        return subject_path(raw, ctx)
    except ToolError:
        return raw
