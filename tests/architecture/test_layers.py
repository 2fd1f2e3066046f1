"""The import-linter contracts in pyproject.toml hold for kimi_code, and they catch an import
that points up a layer or across siblings (checked on a copy of the tree, so the real tree is
never touched)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the project at `cwd`, importing kimi_code from there."""
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False, timeout=300)


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """kimi_code and pyproject.toml copied under tmp_path (no caches)."""
    shutil.copytree(REPO / "kimi_code", tmp_path / "kimi_code",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_hold_for_kimi_code() -> None:
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "broken" in done.stdout and " 0 broken" in done.stdout


def test_an_import_up_a_layer_breaks_the_contract(tree_copy: Path) -> None:
    # a function-level import counts: laziness does not make tools depend on the agent less
    (tree_copy / "kimi_code" / "tools" / "upward.py").write_text(
        "def f():\n    from kimi_code.agent.loop import Agent\n    return Agent\n")
    done = lint_imports(tree_copy)
    assert done.returncode == 1
    assert "kimi_code.tools.upward -> kimi_code.agent.loop" in done.stdout


def test_an_import_between_siblings_breaks_the_contract(tree_copy: Path) -> None:
    (tree_copy / "kimi_code" / "review" / "sideways.py").write_text(
        "from kimi_code.commit import message\n")
    done = lint_imports(tree_copy)
    assert done.returncode == 1
    assert "kimi_code.review.sideways -> kimi_code.commit.message" in done.stdout


def test_textual_below_the_ui_breaks_the_contract(tree_copy: Path) -> None:
    (tree_copy / "kimi_code" / "agent" / "widget.py").write_text("import textual\n")
    done = lint_imports(tree_copy)
    assert done.returncode == 1
    assert "kimi_code.agent.widget -> textual" in done.stdout


def test_a_new_top_level_package_needs_a_layer(tree_copy: Path) -> None:
    (tree_copy / "kimi_code" / "plugins").mkdir()
    (tree_copy / "kimi_code" / "plugins" / "__init__.py").write_text("")
    done = lint_imports(tree_copy)
    assert done.returncode == 1
    assert "kimi_code.plugins" in done.stdout
