"""Dependency hygiene: kimi_engine never imports kimi_code, and its text-side modules (tokenizer,
chat template, parsers) load without torch so callers can reuse them cheaply."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine" / "kimi_engine"


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, timeout=120, check=True)
    return set(out.stdout.split())


def test_text_modules_do_not_import_torch() -> None:
    mods = _modules_after("import kimi_engine.tokenizer, kimi_engine.chat_template, kimi_engine.parsers")
    assert "torch" not in mods and "kimi_code" not in mods


def test_full_engine_does_not_import_kimi_code() -> None:
    mods = _modules_after("import kimi_engine.engine, kimi_engine.cli, kimi_engine.convert, kimi_engine.plan")
    assert not any(m == "kimi_code" or m.startswith("kimi_code.") for m in mods)
    for source in ENGINE.glob("*.py"):
        assert "kimi_code" not in source.read_text(), source


CONFIG = ENGINE.parent / ".importlinter"


def _lint_imports(pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    """lint-imports on the engine's contracts; `pythonpath` puts another kimi_engine copy first."""
    import os

    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(lint), str(CONFIG)], cwd=ENGINE.parents[1], env=env, capture_output=True,
                          text=True, timeout=120)


def test_engine_import_contracts_hold() -> None:
    proc = _lint_imports()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_contracts_catch_model_code_importing_serving_code(tmp_path: Path) -> None:
    """A lazy import of the launcher inside a runner function breaks the model/serving contract,
    the layers and the cycle check (function-level imports count like module-scope ones)."""
    import shutil

    copy = tmp_path / "kimi_engine"
    shutil.copytree(ENGINE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    runner = copy / "runner.py"
    runner.write_text(runner.read_text() + "\n\ndef _serve_too() -> None:\n    from kimi_engine import launch  # noqa\n")
    proc = _lint_imports(pythonpath=tmp_path)
    assert proc.returncode != 0
    assert "Model code never imports serving code BROKEN" in proc.stdout
    assert "kimi_engine.runner is not allowed to import kimi_engine.launch" in proc.stdout
    assert "No import cycles between sibling modules at any depth BROKEN" in proc.stdout


def _private_uses(source: Path) -> list[str]:
    """`obj._name` on anything but self/cls (or an external module), and `from kimi_engine.x
    import _name`: private names used outside the class or module that owns them."""
    import ast

    tree = ast.parse(source.read_text())
    external = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names if not alias.name.startswith("kimi_engine")}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            if owner not in {"self", "cls"} | external:
                found.append(f"{source.name}:{node.lineno} .{node.attr}")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kimi_engine"):
            found += [f"{source.name}:{node.lineno} {a.name}" for a in node.names if a.name.startswith("_")]
    return found


def test_no_private_name_is_used_outside_its_owner() -> None:
    found = [hit for source in sorted(ENGINE.rglob("*.py")) for hit in _private_uses(source)]
    assert found == []
