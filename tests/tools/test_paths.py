"""Path confinement: escapes are refused before any I/O; symlinks are resolved first."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kimi_code.tools.base import ToolContext, ToolError
from kimi_code.tools.edit import EditTool
from kimi_code.tools.paths import check_writable, resolve_path
from tests.support.git_repos import git


def test_relative_and_absolute_inside(workspace: Path, ctx: ToolContext) -> None:
    (workspace / "a.txt").write_text("x")
    assert resolve_path("a.txt", ctx) == workspace.resolve() / "a.txt"
    assert resolve_path(str(workspace / "sub" / ".." / "a.txt"), ctx) == workspace.resolve() / "a.txt"
    assert resolve_path("new/dir/file.txt", ctx) == workspace.resolve() / "new/dir/file.txt"


@pytest.mark.parametrize("raw", ["../outside/secret.txt", "sub/../../outside/secret.txt"])
def test_dotdot_escape_refused(raw: str, ctx: ToolContext, outside: Path) -> None:
    with pytest.raises(ToolError, match="outside the workspace.*--add-dir"):
        resolve_path(raw, ctx)


def test_absolute_outside_refused(ctx: ToolContext, outside: Path) -> None:
    with pytest.raises(ToolError, match="outside the workspace"):
        resolve_path(str(outside / "secret.txt"), ctx)
    with pytest.raises(ToolError, match="outside the workspace"):
        resolve_path("/etc/passwd", ctx)


def test_symlink_file_pointing_outside_refused(workspace: Path, ctx: ToolContext, outside: Path) -> None:
    (workspace / "link.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(ToolError, match="resolves to"):
        resolve_path("link.txt", ctx)


def test_symlinked_dir_pointing_outside_refused(workspace: Path, ctx: ToolContext, outside: Path) -> None:
    (workspace / "linkdir").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ToolError, match="outside the workspace"):
        resolve_path("linkdir/secret.txt", ctx)
    with pytest.raises(ToolError, match="outside the workspace"):
        resolve_path("linkdir/new-file.txt", ctx)  # writing through the link is refused too


def test_dangling_symlink_pointing_outside_refused(workspace: Path, ctx: ToolContext, outside: Path) -> None:
    (workspace / "dangling").symlink_to(outside / "not-yet-there.txt")
    with pytest.raises(ToolError, match="outside the workspace"):
        resolve_path("dangling", ctx)


def test_symlink_inside_to_inside_allowed(workspace: Path, ctx: ToolContext) -> None:
    (workspace / "real.txt").write_text("x")
    (workspace / "alias.txt").symlink_to(workspace / "real.txt")
    assert resolve_path("alias.txt", ctx) == (workspace / "real.txt").resolve()


def test_workspace_reached_through_a_symlink(tmp_path: Path, workspace: Path) -> None:
    link = tmp_path / "ws-link"
    link.symlink_to(workspace, target_is_directory=True)
    ctx = ToolContext(workspace=link)
    (workspace / "f.txt").write_text("x")
    assert resolve_path("f.txt", ctx) == (workspace / "f.txt").resolve()
    assert resolve_path(str(link / "f.txt"), ctx) == (workspace / "f.txt").resolve()


def test_extra_dirs_allowed(workspace: Path, outside: Path) -> None:
    ctx = ToolContext(workspace=workspace, extra_dirs=(outside,))
    assert resolve_path(str(outside / "secret.txt"), ctx) == (outside / "secret.txt").resolve()


def test_must_exist(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="does not exist"):
        resolve_path("missing.txt", ctx, must_exist=True)


def test_empty_path(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="empty"):
        resolve_path("  ", ctx)


def test_git_internals_not_writable(workspace: Path, ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match=r"\.git"):
        check_writable(resolve_path(".git/config", ctx), ctx)
    with pytest.raises(ToolError, match=r"\.git"):
        check_writable(resolve_path("vendor/lib/.git/hooks/pre-commit", ctx), ctx)
    check_writable(resolve_path(".gitignore", ctx), ctx)  # not git internals


async def test_tools_refuse_escape_before_io(run_tool, ctx: ToolContext, outside: Path) -> None:
    target = outside / "created-by-tool.txt"
    with pytest.raises(ToolError, match="outside the workspace"):
        await run_tool("Write", file_path=str(target), content="pwned")
    assert not target.exists()
    with pytest.raises(ToolError, match="outside the workspace"):
        await run_tool("Read", file_path="../outside/secret.txt")
    with pytest.raises(ToolError, match="outside the workspace"):
        await run_tool("Edit", file_path=str(outside / "secret.txt"), old_string="top",
                       new_string="bottom")
    assert (outside / "secret.txt").read_text() == "top secret\n"
    with pytest.raises(ToolError, match="outside the workspace"):
        await run_tool("Grep", pattern="secret", path=str(outside))
    with pytest.raises(ToolError, match="outside the workspace"):
        await run_tool("Glob", pattern="*", path="..")
    with pytest.raises(ToolError, match=r"\.\."):
        await run_tool("Glob", pattern="../outside/*")


async def test_write_into_git_dir_refused(run_tool, workspace: Path) -> None:
    (workspace / ".git").mkdir()
    with pytest.raises(ToolError, match=r"\.git"):
        await run_tool("Write", file_path=".git/hooks/post-checkout", content="#!/bin/sh\n")
    assert not (workspace / ".git" / "hooks").exists()


def test_permission_subject_is_workspace_relative(workspace: Path, ctx: ToolContext, outside: Path) -> None:
    tool = EditTool()
    args = tool.parse_args({"file_path": str(workspace / "src" / "m.py"), "old_string": "a",
                            "new_string": "b"})
    assert tool.permission_subject(args, ctx) == "src/m.py"
    assert tool.permission_subject(args) == os.path.normpath(str(workspace / "src" / "m.py"))
    bad = tool.parse_args({"file_path": str(outside / "secret.txt"), "old_string": "a",
                           "new_string": "b"})
    with pytest.raises(ToolError, match="outside the workspace"):
        tool.permission_subject(bad, ctx)
    assert tool.summary(bad, ctx) == str(outside / "secret.txt")  # summaries never raise


async def test_link_loop_and_broken_link_are_named_as_such(run_tool, workspace: Path) -> None:
    (workspace / "loop1.py").symlink_to("loop2.py")
    (workspace / "loop2.py").symlink_to("loop1.py")
    (workspace / "broken.py").symlink_to("gone.py")
    with pytest.raises(ToolError, match="loop1.py is a symbolic link .* link loop"):
        await run_tool("Read", file_path="loop1.py")
    with pytest.raises(ToolError, match="broken.py is a broken symbolic link: its target gone.py"):
        await run_tool("Read", file_path="broken.py")
    with pytest.raises(ToolError, match="^missing.py does not exist"):
        await run_tool("Read", file_path="missing.py")


async def test_a_bare_repository_workspace_is_git_internals(run_tool, workspace: Path,
                                                           ctx: ToolContext) -> None:
    """Running in a bare repository makes it the workspace: its hooks/ would run on the next
    push or fetch, outside any sandbox, so writes there are refused like .git/ writes."""
    import subprocess

    subprocess.run(["git", "init", "-q", "--bare", str(workspace)], check=True)
    with pytest.raises(ToolError, match="inside a git directory"):
        await run_tool("Write", file_path="hooks/post-receive", content="#!/bin/sh\necho hi\n")
    with pytest.raises(ToolError, match="inside a git directory"):
        check_writable(resolve_path("config", ctx), ctx)
    assert not (workspace / "hooks" / "post-receive").exists()


# ---- every git directory, re-evaluated per call (issue 15, class 2) -----------------------

@pytest.mark.parametrize("rel", [".gitignore", ".gitattributes", ".github/workflows/ci.yml",
                                 "git/notes.md", "docs/HEAD", "refs/index.md", "objects/model.py",
                                 "src/.gitkeep", "my.git/readme.txt"])
def test_everyday_git_lookalikes_stay_writable(rel: str, ctx: ToolContext) -> None:
    check_writable(resolve_path(rel, ctx), ctx, b"ref: refs/heads/main\n")


def test_a_head_file_is_refused_only_where_it_would_make_a_git_dir(workspace: Path,
                                                                    ctx: ToolContext) -> None:
    (workspace / "fixture" / "objects").mkdir(parents=True)
    (workspace / "fixture" / "refs").mkdir()
    target = resolve_path("fixture/HEAD", ctx)
    check_writable(target, ctx, b"just some text\n")  # not a HEAD git would accept
    with pytest.raises(ToolError, match="inside a git directory"):
        check_writable(target, ctx, b"ref: refs/heads/main\n")


def test_kimi_code_own_dirs_are_not_writable(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A session started in the home directory has kimi-code's config inside its workspace:
    a Write there would turn on yolo mode or point base_url elsewhere."""
    monkeypatch.setenv("KIMI_CODE_HOME", str(tmp_path / ".kimi-home"))
    ctx = ToolContext(workspace=tmp_path)
    with pytest.raises(ToolError, match="kimi-code's own configuration"):
        check_writable(resolve_path(".kimi-home/config.toml", ctx), ctx)
    check_writable(resolve_path("project/config.toml", ctx), ctx)


def test_protected_git_paths_finds_every_kind(workspace: Path, tmp_path: Path) -> None:
    from kimi_code.safety.git_dirs import protected_git_paths

    git(workspace, "init", "-q")
    (workspace / "vendor" / "a").mkdir(parents=True)
    git(workspace / "vendor" / "a", "init", "-q")
    git(workspace, "init", "-q", "--bare", "mirrors/m.git")
    (workspace / "sep").mkdir()
    (workspace / "meta").mkdir()
    git(workspace / "sep", "init", "-q", f"--separate-git-dir={workspace / 'meta' / 'gd'}")
    (workspace / "far").mkdir()
    git(workspace / "far", "init", "-q", f"--separate-git-dir={tmp_path / 'far-gd'}")
    (workspace / "pkg").mkdir()
    (workspace / "pkg" / ".git").symlink_to("../mirrors/m.git", target_is_directory=True)
    (workspace / "node_modules" / "x").mkdir(parents=True)
    found = set(protected_git_paths(workspace))
    real = workspace.resolve()
    assert found == {real / ".git", real / "vendor" / "a" / ".git", real / "mirrors" / "m.git",
                     real / "sep" / ".git", real / "meta" / "gd", real / "far" / ".git",
                     real / "pkg" / ".git"}
    # far's git dir lies outside the writable root: read-only in the sandbox already, and a
    # pointer to /proc or /dev must never become a bind mount


def test_protected_git_paths_of_a_bare_root_lists_its_internals(tmp_path: Path) -> None:
    from kimi_code.safety.git_dirs import protected_git_paths

    bare = tmp_path / "b.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    found = protected_git_paths(bare)
    assert bare.resolve() / "hooks" in found and bare.resolve() / "config" in found
    assert bare.resolve() not in found  # the workspace itself stays writable


def _set_mtime_back(directory: Path, old: os.stat_result) -> None:
    """Set the directory's times back to `old` (as an attacker would) once its ctime has moved
    on: the kernel's timestamps are coarse, so wait for the clock tick as an event."""
    while directory.stat().st_ctime_ns == old.st_ctime_ns:
        os.utime(directory, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.utime(directory, ns=(old.st_atime_ns, old.st_mtime_ns))


def test_protected_git_paths_sees_a_repo_made_after_a_cached_walk(
        workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Listings are reused while a directory's (dev, inode, ctime) holds; a nested repository
    made afterwards changes its parent's ctime, even with the mtime set back."""
    from kimi_code.safety import git_dirs

    (workspace / "lib").mkdir()
    real = time.time_ns
    monkeypatch.setattr(git_dirs.time, "time_ns", lambda: real() + 10_000_000_000)
    assert git_dirs.protected_git_paths(workspace) == []  # cached as settled
    lib = workspace / "lib"
    old = lib.stat()
    (lib / ".git").mkdir()
    _set_mtime_back(lib, old)
    assert lib.stat().st_mtime_ns == old.st_mtime_ns
    assert git_dirs.protected_git_paths(workspace) == [lib.resolve() / ".git"]
