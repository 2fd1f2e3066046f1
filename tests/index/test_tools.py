"""The agent tools end to end on a real repository, and `kimi-code index` as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kimi_code.tools.base import ToolContext, ToolError
from kimi_code.tools.find_references import FindReferencesTool
from kimi_code.tools.find_symbol import FindSymbolTool
from kimi_code.tools.registry import ToolRegistry
from kimi_code.tools.repo_map import RepoMapTool

FILES = {
    "pkg/shapes.py": ("class Shape:\n    def area(self):\n        return 0\n\n\n"
                      "class Square(Shape):\n    def area(self):\n        return compute_area(2)\n"),
    "pkg/geometry.py": "def compute_area(side):\n    return side * side\n",
    "pkg/main.py": ("from pkg.geometry import compute_area\n\n\n"
                    "def run():\n    print(compute_area(3))\n"),
    "web/app.ts": "export function computeArea(n: number): number {\n  return n * n;\n}\n",
}


@pytest.fixture
def ctx(make_repo):
    return ToolContext(workspace=make_repo(FILES))


async def call(tool, ctx, **raw):
    return await tool.run(tool.parse_args(raw), ctx)


def test_registry_lists_the_index_tools():
    registry = ToolRegistry.builtin(["RepoMap", "FindSymbol", "FindReferences"])
    assert registry.names() == ["RepoMap", "FindSymbol", "FindReferences"]
    for spec in registry.specs():
        assert spec.description  # the .md beside the module was found
    assert all(not registry.get(n).mutates_workspace for n in registry.names())


async def test_find_symbol(ctx):
    res = await call(FindSymbolTool(), ctx, name="compute_area")
    assert res.content == "pkg/geometry.py:1-2  function compute_area\n    def compute_area(side):"
    res = await call(FindSymbolTool(), ctx, name="Square.area")
    assert res.content.splitlines()[0] == "pkg/shapes.py:7-8  method area in Square"
    res = await call(FindSymbolTool(), ctx, name="area", kind="method")
    assert res.display["count"] == 2
    res = await call(FindSymbolTool(), ctx, name="Area")
    assert "No definition named 'Area'" in res.content and "computeArea" in res.content


async def test_find_symbol_rejects_bad_arguments():
    with pytest.raises(ToolError, match="FindSymbol"):
        FindSymbolTool.parse_args({"name": "x", "kind": "spaceship"})
    with pytest.raises(ToolError, match="name"):
        FindSymbolTool.parse_args({})


async def test_find_references(ctx):
    res = await call(FindReferencesTool(), ctx, name="compute_area")
    assert res.content.splitlines() == [
        "Defined at:",
        "  pkg/geometry.py:1  function compute_area",
        "3 references:",
        "  pkg/main.py:1: from pkg.geometry import compute_area",
        "  pkg/main.py:5: print(compute_area(3))",
        "  pkg/shapes.py:8: return compute_area(2)",
    ]
    res = await call(FindReferencesTool(), ctx, name="nothing_here")
    assert "No references to 'nothing_here'" in res.content


async def test_repo_map_tool(ctx, tmp_path):
    res = await call(RepoMapTool(), ctx, focus_files=["pkg/main.py"], max_tokens=200)
    assert "pkg/geometry.py:\n│def compute_area(side):" in res.content
    with pytest.raises(ToolError, match="outside the workspace"):
        await call(RepoMapTool(), ctx, focus_files=[str(tmp_path / "elsewhere.py")])
    with pytest.raises(ToolError, match="does not exist"):
        await call(RepoMapTool(), ctx, focus_files=["pkg/nope.py"])


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kimi_code", "index", *args],
                          capture_output=True, text=True, env=os.environ, timeout=120)


def test_cli_json_map_and_errors(make_repo):
    repo = make_repo(FILES)
    proc = run_cli(str(repo), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["files"] == 4 and data["parsed"] == 4 and data["git"] is True
    assert data["languages"] == {"python": {"files": 3, "definitions": 6},
                                 "typescript": {"files": 1, "definitions": 1}}
    proc = run_cli(str(repo), "--map", "--tokens", "500", "--focus", "pkg/main.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("pkg/geometry.py:\n")
    proc = run_cli(str(repo))
    assert proc.returncode == 0 and "python" in proc.stdout and "Definitions" in proc.stdout
    assert run_cli(str(repo / "missing")).returncode == 2
    bad_focus = run_cli(str(repo), "--map", "--focus", "nope.py")
    assert bad_focus.returncode == 2 and "nope.py" in bad_focus.stderr


def test_defs_json_lines(make_repo):
    repo = make_repo(FILES)
    proc = subprocess.run([sys.executable, "-m", "kimi_code.app.index", str(repo), "--defs"],
                          capture_output=True, text=True, env=os.environ, timeout=120)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert rows[0] == {"path": "pkg/geometry.py", "name": "compute_area", "kind": "function",
                       "line": 1, "end_line": 2}
    assert len(rows) == 7
