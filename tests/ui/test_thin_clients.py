"""The front ends are thin clients of AgentSession: no module of kimi_code.ui (nor the
interactive and headless entry points) imports the agent's internals or the runtime's assembly,
at module level or inside a function, and none reaches into `session.agent`. Only the approval
request/answer data types (kimi_code.agent.approval) cross over."""

from __future__ import annotations

import ast
from pathlib import Path

import kimi_code

PACKAGE = Path(kimi_code.__file__).parent
ENTRY_POINTS = ("app/interactive.py", "app/run.py", "app/run_session.py")
ALLOWED = {"kimi_code.agent.approval"}
FORBIDDEN = ("kimi_code.agent", "kimi_code.runtime.assemble")
FORBIDDEN_IN_UI = ("kimi_code.tools",)


def front_end_modules() -> list[Path]:
    return sorted((PACKAGE / "ui").rglob("*.py")) + [PACKAGE / p for p in ENTRY_POINTS]


def imported_names(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, function-level ones included."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the module's package
                parts = module.split(".")[:-node.level]
                base = ".".join([*parts, base] if base else parts)
            names.append((node.lineno, base))
            names += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return names


def is_forbidden(name: str, prefixes: tuple[str, ...]) -> bool:
    if name in ALLOWED or any(name.startswith(a + ".") for a in ALLOWED):
        return False
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def reaches_into_agent(tree: ast.AST) -> list[int]:
    """Lines with `<something>session.agent` or `s.agent` (the session's agent object)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "agent":
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else \
                owner.attr if isinstance(owner, ast.Attribute) else ""
            if name == "s" or name.endswith("session"):
                lines.append(node.lineno)
    return lines


def test_front_ends_import_no_agent_internals() -> None:
    problems = []
    for path in front_end_modules():
        relative = path.relative_to(PACKAGE.parent)
        module = ".".join(relative.with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        prefixes = FORBIDDEN + (FORBIDDEN_IN_UI if module.startswith("kimi_code.ui") else ())
        problems += [f"{relative}:{line} imports {name}"
                     for line, name in imported_names(tree, module)
                     if is_forbidden(name, prefixes)]
        problems += [f"{relative}:{line} uses session.agent" for line in reaches_into_agent(tree)]
    assert problems == [], "front ends must go through AgentSession:\n" + "\n".join(problems)


def test_the_check_sees_function_level_and_relative_imports() -> None:
    tree = ast.parse("def f():\n    from kimi_code.agent.loop import Agent\n"
                     "from ...agent import swarm\nx = app.session.agent\n")
    names = [name for _, name in imported_names(tree, "kimi_code.ui.widgets.x")]
    assert "kimi_code.agent.loop" in names and "kimi_code.agent.swarm" in names
    assert any(is_forbidden(n, FORBIDDEN) for n in names)
    assert reaches_into_agent(tree) == [4]
    assert not is_forbidden("kimi_code.agent.approval", FORBIDDEN)
