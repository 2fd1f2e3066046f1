"""The test tree's own contract: shared helpers live in tests/support/, and no test module (conftests
included) imports another test module. A helper that two folders need moves to tests/support/."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imported_test_modules(path: Path) -> list[str]:
    """Every `tests.*` module `path` imports (function-level imports included), except tests.support."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found += [n for n in names
                  if (n == "tests" or n.startswith("tests.")) and not n.startswith("tests.support")]
    return found


def test_no_test_imports_another_test_module() -> None:
    offenders = {str(p.relative_to(TESTS)): mods for p in sorted(TESTS.rglob("*.py"))
                 if (mods := imported_test_modules(p))}
    assert offenders == {}, f"move the shared helpers to tests/support/: {offenders}"


def test_support_modules_are_not_collected_as_tests() -> None:
    collected = [p.name for p in (TESTS / "support").glob("test_*.py")]
    assert collected == []


def test_the_checker_sees_function_level_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from tests.agent.test_run_e2e import x\n"
                      "import tests.support.wire\n")
    assert imported_test_modules(sample) == ["tests.agent.test_run_e2e"]
