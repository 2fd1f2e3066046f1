"""The adversarial suite as a scoreboard: every attack in tests/safety/adversarial/ is one test item
(a pass means the attack was blocked), grouped by the module's ATTACK_CLASS.

    .venv/bin/python benchmarks/adversarial.py [-k EXPR]

Prints "class  tried  blocked" per class and the total; exits 1 if any attack got through.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "tests" / "safety" / "adversarial"


class Scoreboard:
    """A pytest plugin that counts outcomes per ATTACK_CLASS."""

    def __init__(self) -> None:
        self.tried: Counter[str] = Counter()
        self.blocked: Counter[str] = Counter()
        self.through: list[str] = []
        self.classes: dict[str, str] = {}

    def pytest_collection_modifyitems(self, items: list[Any]) -> None:
        for item in items:
            module = item.module
            self.classes[item.nodeid] = getattr(module, "ATTACK_CLASS", Path(module.__file__).stem)

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
            return
        cls = self.classes.get(report.nodeid, "?")
        if report.skipped:
            return
        self.tried[cls] += 1
        if report.passed:
            self.blocked[cls] += 1
        else:
            self.through.append(report.nodeid)


def main(argv: list[str]) -> int:
    board = Scoreboard()
    code = pytest.main(["-q", "-p", "no:cacheprovider", str(SUITE), *argv], plugins=[board])
    print()
    print(f"{'class':<24}{'tried':>8}{'blocked':>10}")
    for cls in sorted(board.tried):
        print(f"{cls:<24}{board.tried[cls]:>8}{board.blocked[cls]:>10}")
    total, blocked = sum(board.tried.values()), sum(board.blocked.values())
    print(f"{'total':<24}{total:>8}{blocked:>10}")
    for nodeid in board.through:
        print("NOT BLOCKED:", nodeid)
    return 0 if code == 0 and total == blocked else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
