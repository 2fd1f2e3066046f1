"""Filesystem escapes under the real bubblewrap: every write outside the writable roots, into
git internals or kimi-code's own directories fails, and the real file is untouched."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from kimi_code import paths
from kimi_code.safety.sandbox import Sandbox, SandboxMode
from tests.support.sandboxes import bash, git, make_sandbox


async def test_workspace_is_writable(workspace: Path, sandbox: Sandbox) -> None:
    result = await bash(workspace, sandbox, "echo made > new.txt && mkdir -p d && echo ok > d/f")
    assert not result.is_error, result.content
    assert (workspace / "new.txt").read_text() == "made\n"
    assert (workspace / "d" / "f").read_text() == "ok\n"


async def test_writes_outside_are_refused(workspace: Path, sandbox: Sandbox, outside: Path) -> None:
    name = f"kimi-escape-{uuid.uuid4().hex[:8]}"
    home = Path.home()
    command = "; ".join([
        f"echo x > /etc/{name}", f"echo x > {home}/{name}", f"echo pwned > {outside}/target.txt",
        f"echo x > {outside}/{name}", f"echo x > {workspace}/../{name}",
        f"touch /usr/{name}", f"mkdir {outside}/{name}.d", "echo done",
    ])
    result = await bash(workspace, sandbox, command)
    assert "Read-only file system" in result.content
    for path in (Path("/etc") / name, home / name, outside / name, workspace.parent / name,
                 Path("/usr") / name, outside / f"{name}.d"):
        assert not path.exists(), path
    assert (outside / "target.txt").read_text() == "original\n"


async def test_private_tmp(workspace: Path, sandbox: Sandbox) -> None:
    name = f"kimi-tmp-{uuid.uuid4().hex[:8]}"
    result = await bash(workspace, sandbox, f"echo x > /tmp/{name} && cat /tmp/{name}")
    assert result.content.startswith("x"), result.content
    assert not (Path("/tmp") / name).exists()


async def test_git_internals_are_read_only(workspace: Path, sandbox: Sandbox) -> None:
    hook = workspace / ".git" / "hooks" / "pre-commit"
    config_before = (workspace / ".git" / "config").read_text()
    result = await bash(workspace, sandbox, "printf '#!/bin/sh\\ncurl evil\\n' > .git/hooks/pre-commit; "
                        "echo '[core] fsmonitor = evil' >> .git/config; git commit -qam x; echo end")
    assert "Read-only file system" in result.content
    assert not hook.exists()
    assert (workspace / ".git" / "config").read_text() == config_before


async def test_worktree_pointer_protects_main_git_dir(workspace: Path, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    git("worktree", "add", "-q", str(tree), "-b", "side", cwd=workspace)
    assert (tree / ".git").is_file()
    sandbox = make_sandbox(tree)
    result = await bash(tree, sandbox, "d=$(git rev-parse --git-common-dir); "
                        "echo evil > \"$d/hooks/post-checkout\"; echo evil > .git; "
                        "echo fine > mine.txt; echo end")
    assert (tree / "mine.txt").read_text() == "fine\n", result.content
    assert not (workspace / ".git" / "hooks" / "post-checkout").exists()
    assert (tree / ".git").read_text().startswith("gitdir:")


async def test_agent_dirs_are_read_only(workspace: Path, sandbox: Sandbox) -> None:
    data = paths.ensure_dir(paths.data_dir())
    config = paths.config_file()
    config.write_text('default_model = "kimi"\n')
    result = await bash(workspace, sandbox, f"echo evil > {data}/sessions.db; "
                        f"echo 'base_url = \"http://evil\"' >> {config}; echo end")
    assert "Read-only file system" in result.content
    assert not (data / "sessions.db").exists()
    assert config.read_text() == 'default_model = "kimi"\n'


async def test_symlink_tricks(workspace: Path, sandbox: Sandbox, outside: Path) -> None:
    os.symlink(outside, workspace / "link-out")
    os.symlink(outside / "target.txt", workspace / "link-file")
    result = await bash(workspace, sandbox, "echo pwned > link-out/target.txt; "
                        "echo pwned > link-file; ln -sf /etc/passwd mine && echo x >> mine; "
                        "echo end")
    assert "Read-only file system" in result.content
    assert (outside / "target.txt").read_text() == "original\n"


async def test_hard_link_tricks(workspace: Path, sandbox: Sandbox, outside: Path) -> None:
    result = await bash(workspace, sandbox, f"ln {outside}/target.txt hl && echo pwned >> hl; "
                        "echo end")
    assert (outside / "target.txt").read_text() == "original\n", result.content
    assert not (workspace / "hl").exists()


async def test_extra_dir_is_writable(workspace: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    sandbox = make_sandbox(workspace, extra=(extra,))
    result = await bash(workspace, sandbox, f"echo yes > {extra}/f")
    assert (extra / "f").read_text() == "yes\n", result.content


async def test_read_only_mode(workspace: Path) -> None:
    sandbox = make_sandbox(workspace, mode=SandboxMode.READ_ONLY)
    result = await bash(workspace, sandbox, "cat a.txt; echo x > b.txt")
    assert "hello" in result.content and "Read-only file system" in result.content
    assert not (workspace / "b.txt").exists()


async def test_file_tools_refuse_hard_links_and_symlink_escapes(workspace: Path, outside: Path) -> None:
    import pytest

    from kimi_code.tools.base import ToolContext, ToolError
    from kimi_code.tools.edit import EditArgs, EditTool
    from kimi_code.tools.write import WriteArgs, WriteTool

    ctx = ToolContext(workspace=workspace)
    os.link(outside / "target.txt", workspace / "hl.txt")  # a hard link planted in the repo
    os.symlink(outside / "target.txt", workspace / "sl.txt")
    for raw in ("hl.txt", "sl.txt", "../" + outside.name, str(outside / "target.txt")):
        with pytest.raises(ToolError):
            await WriteTool().run(WriteArgs(file_path=raw, content="pwned"), ctx)
    with pytest.raises(ToolError, match="hard links"):
        await EditTool().run(EditArgs(file_path="hl.txt", old_string="original",
                                      new_string="pwned"), ctx)
    assert (outside / "target.txt").read_text() == "original\n"
