"""The import-cycle check: it finds cycles through every kind of import statement, passes an
acyclic package, and kimi_code itself has no cycle (run the way .ci/run runs it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from textwrap import dedent

from tests.support.import_graph import build_graph, describe_cycles, ignored_edges

REPO = Path(__file__).resolve().parents[2]


def make_package(root: Path, files: dict[str, str]) -> Path:
    """Write a throwaway package `pkg` under `root` from {relative path: source}."""
    package = root / "pkg"
    for name, source in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(source), encoding="utf-8")
    for folder in {package, *(p.parent for p in package.rglob("*.py"))}:
        (folder / "__init__.py").touch()
    return package


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    package = make_package(tmp_path, {
        "a.py": "from pkg.b import helper\n",
        "b.py": """
            def helper():
                from pkg import a  # lazy, but still a cycle
                return a
        """,
    })
    [line] = describe_cycles(package)
    assert "pkg.a, pkg.b" in line and "b.py:3" in line


def test_a_cycle_through_type_checking_and_relative_imports_is_found(tmp_path: Path) -> None:
    package = make_package(tmp_path, {
        "sub/x.py": """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from ..other import y
        """,
        "other/y.py": "from pkg.other import z\n",
        "other/z.py": "import pkg.sub.x\n",
    })
    [line] = describe_cycles(package)
    assert "pkg.other.y, pkg.other.z, pkg.sub.x" in line


def test_from_package_import_submodule_points_at_the_submodule(tmp_path: Path) -> None:
    package = make_package(tmp_path, {
        "a.py": "from pkg.sub import leaf, NAME\n",
        "sub/__init__.py": "NAME = 1\n",
        "sub/leaf.py": "X = 2\n",
    })
    graph = build_graph(package)
    assert set(graph.targets("pkg.a")) == {"pkg.sub.leaf", "pkg.sub"}
    assert describe_cycles(package) == []


def test_an_acyclic_package_passes_and_imports_of_outside_modules_are_ignored(
        tmp_path: Path) -> None:
    package = make_package(tmp_path, {
        "top.py": "import json\nfrom pkg import low\nfrom pkg.mid import thing\n",
        "mid.py": "from pkg.low import base\nthing = base\n",
        "low.py": "import os\nbase = os.sep\n",
    })
    assert describe_cycles(package) == []


def test_kimi_code_has_no_import_cycle() -> None:
    done = subprocess.run([sys.executable, "-m", "tests.support.import_graph", "kimi_code"],
                          cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_checker_fails_the_run_on_a_cycle(tmp_path: Path) -> None:
    package = make_package(tmp_path, {"a.py": "import pkg.b\n", "b.py": "import pkg.a\n"})
    done = subprocess.run([sys.executable, "-m", "tests.support.import_graph", str(package)],
                          cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "cycle among pkg.a, pkg.b" in done.stdout


def test_an_ignored_edge_breaks_its_cycle_and_a_stale_one_is_noted(tmp_path: Path) -> None:
    package = make_package(tmp_path, {"a.py": "import pkg.b\n", "b.py": "import pkg.a\n"})
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.import-cycles]\nignore = ["pkg.b -> pkg.a", "pkg.a -> pkg.gone"]\n')
    ignore = ignored_edges(pyproject)
    assert ignore == {("pkg.b", "pkg.a"), ("pkg.a", "pkg.gone")}
    notes: list[str] = []
    assert describe_cycles(package, ignore, notes) == []
    assert [n.split(";")[0] for n in notes] == [
        "note: stale ignore, pkg.a no longer imports pkg.gone"]
    # an entry for another package checked in the same run is neither applied nor stale here
    [line] = describe_cycles(package, {("other.x", "other.y")})
    assert line.startswith("cycle among pkg.a, pkg.b")
