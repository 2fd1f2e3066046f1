"""Glob: pattern semantics, newest-first order, .gitignore inside git, walking outside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kimi_code.tools.base import ToolError
from kimi_code.tools.globmatch import PathFilter, compile_glob, expand_braces

from .conftest import git, init_repo


def _touch(path: Path, mtime: float, text: str = "x\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (mtime, mtime))


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.py", "a.py", True),
        ("*.py", "src/a.py", False),
        ("**/*.py", "a.py", True),
        ("**/*.py", "src/deep/a.py", True),
        ("src/**", "src/deep/a.txt", True),
        ("src/**/test_*.py", "src/test_a.py", True),
        ("src/**/test_*.py", "src/x/y/test_a.py", True),
        ("src/**/test_*.py", "lib/test_a.py", False),
        ("*.{ts,tsx}", "app.tsx", True),
        ("*.{ts,tsx}", "app.js", False),
        ("file?.txt", "file1.txt", True),
        ("file?.txt", "file10.txt", False),
        ("[!a]*.md", "b.md", True),
        ("[!a]*.md", "a.md", False),
        ("*.md", ".hidden.md", True),
        ("a*b", "a/b", False),
    ],
)
def test_glob_semantics(pattern: str, path: str, expected: bool) -> None:
    assert (compile_glob(pattern).fullmatch(path) is not None) is expected


def test_brace_expansion() -> None:
    assert expand_braces("{a,b}.{x,y}") == ["a.x", "a.y", "b.x", "b.y"]
    assert expand_braces("src/{lib,{app,web}/ui}/*.ts") == ["src/lib/*.ts", "src/app/ui/*.ts",
                                                           "src/web/ui/*.ts"]
    assert expand_braces("{single}") == ["{single}"]


def test_path_filter_like_ripgrep() -> None:
    assert PathFilter("*.py").allows("deep/dir/a.py")
    assert not PathFilter("src/*.py").allows("src/sub/a.py")
    assert PathFilter("src/**/*.py").allows("src/sub/a.py")
    assert not PathFilter("!vendor").allows("vendor/lib/a.py")
    assert PathFilter("!*.min.js").allows("app.js")
    assert not PathFilter("!*.min.js").allows("dist/app.min.js")


async def test_newest_first_in_git_repo_with_gitignore(run_tool, workspace: Path) -> None:
    init_repo(workspace)
    (workspace / ".gitignore").write_text("build/\n*.log\n")
    _touch(workspace / "src" / "old.py", 1_000_000)
    _touch(workspace / "src" / "new.py", 3_000_000)
    _touch(workspace / "mid.py", 2_000_000)
    _touch(workspace / "build" / "gen.py", 4_000_000)
    _touch(workspace / "debug.log", 4_000_000)
    git(workspace, "add", "src/old.py")  # tracked and untracked files are both listed
    result = await run_tool("Glob", pattern="**/*.py")
    assert result.content.splitlines() == ["src/new.py", "mid.py", "src/old.py"]
    everything = await run_tool("Glob", pattern="**/*")
    assert not any(name.startswith((".git/", "build/")) or name.endswith(".log")
                   for name in everything.content.splitlines())
    assert ".gitignore" in everything.content.splitlines()


async def test_walk_outside_git(run_tool, workspace: Path) -> None:
    (workspace / ".git").mkdir()  # not a real repo: git fails, the walk takes over
    (workspace / ".git" / "HEAD").write_text("junk")
    _touch(workspace / "a.txt", 1_000_000)
    _touch(workspace / "d" / "b.txt", 2_000_000)
    result = await run_tool("Glob", pattern="**/*.txt")
    assert result.content.splitlines() == ["d/b.txt", "a.txt"]
    assert "HEAD" not in (await run_tool("Glob", pattern="**")).content


async def test_path_argument_and_absolute_pattern(run_tool, workspace: Path) -> None:
    _touch(workspace / "pkg" / "m.py", 1_000_000)
    _touch(workspace / "other" / "m.py", 1_000_000)
    assert (await run_tool("Glob", pattern="*.py", path="pkg")).content == "pkg/m.py"
    absolute = await run_tool("Glob", pattern=str(workspace / "pkg" / "*.py"))
    assert absolute.content == "pkg/m.py"


async def test_cap_with_note(run_tool, workspace: Path) -> None:
    for i in range(130):
        _touch(workspace / f"f{i:03}.txt", 1_000_000 + i)
    result = await run_tool("Glob", pattern="*.txt")
    lines = result.content.split("\n\n")[0].splitlines()
    assert len(lines) == 100 and lines[0] == "f129.txt"
    assert "100 most recently modified of 130" in result.content


async def test_no_match_and_bad_path(run_tool, workspace: Path) -> None:
    (workspace / "a.txt").write_text("x")
    assert "No files match" in (await run_tool("Glob", pattern="*.rs")).content
    with pytest.raises(ToolError, match="not a directory"):
        await run_tool("Glob", pattern="*", path="a.txt")
    with pytest.raises(ToolError, match="does not exist"):
        await run_tool("Glob", pattern="*", path="nope")


async def test_symlinks_not_followed(run_tool, workspace: Path, outside: Path) -> None:
    (workspace / "escape").symlink_to(outside, target_is_directory=True)
    (workspace / "real.txt").write_text("x")
    result = await run_tool("Glob", pattern="**/*.txt")
    assert result.content == "real.txt"


async def test_explicit_ignored_directory_is_listed(run_tool, workspace: Path) -> None:
    init_repo(workspace)
    (workspace / ".gitignore").write_text("build/\n")
    _touch(workspace / "build" / "gen.py", 1_000_000)
    _touch(workspace / "src.py", 1_000_000)
    assert "build/gen.py" not in (await run_tool("Glob", pattern="**/*.py")).content
    assert (await run_tool("Glob", pattern="*.py", path="build")).content == "build/gen.py"


async def test_a_name_with_a_newline_is_one_quoted_entry_that_reads_back(
        run_tool, workspace: Path) -> None:
    import json

    init_repo(workspace)
    _touch(workspace / "nl\nname.txt", 2_000_000, "inside\n")
    _touch(workspace / "plain.txt", 1_000_000)
    listed = (await run_tool("Glob", pattern="*.txt")).content.splitlines()
    assert listed == ['"nl\\nname.txt"', "plain.txt"]
    grep = (await run_tool("Grep", pattern="inside")).content.splitlines()
    assert grep[1:] == ['"nl\\nname.txt"']
    # the quoted entry is the JSON the model puts in its arguments: it names the real file
    read = await run_tool("Read", file_path=json.loads(listed[0]))
    assert "inside" in read.content
