"""Ranking sanity, budget fitting, determinism, and the system-prompt map."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimi_code.index.render import MapEntry, estimate_tokens, fit_to_budget, render_entries
from kimi_code.index.repo_map import RepoIndex, initial_repo_map

CORE = "class Engine:\n    def start(self):\n        pass\n\n    def stop(self):\n        pass\n"


def project() -> dict[str, str]:
    files = {"core/engine.py": CORE}
    # Many files use Engine: it is the hub of the repository.
    for i in range(8):
        files[f"app/user{i}.py"] = f"from core.engine import Engine\n\ndef use{i}():\n    Engine().start()\n"
    files["billing/ledger.py"] = ("class LedgerEntry:\n    pass\n\n\n"
                                  "def post_ledger_entry(amount):\n    return LedgerEntry()\n")
    files["billing/invoice.py"] = ("from billing.ledger import post_ledger_entry\n\n\n"
                                   "def send_invoice():\n    post_ledger_entry(10)\n")
    return files


def map_files(text: str) -> list[str]:
    return [line[:-1] for line in text.splitlines() if line.endswith(":") and not line.startswith("│")]


def test_hub_ranks_first_and_focus_moves_the_map(make_repo):
    repo = make_repo(project())
    with RepoIndex(repo) as index:
        index.update(workers=1)
        plain = index.render_map(max_tokens=60)
        focused = index.render_map(focus_files=["billing/invoice.py"], max_tokens=60)
        by_symbol = index.render_map(focus_symbols=["LedgerEntry"], max_tokens=60)
    assert map_files(plain)[0] == "core/engine.py"
    assert "│class Engine:" in plain
    assert map_files(focused)[0] == "billing/ledger.py"
    assert "│def post_ledger_entry(amount):" in focused
    assert map_files(by_symbol)[0] == "billing/ledger.py"


def test_map_is_deterministic_and_fits_every_budget(make_repo):
    repo = make_repo(project())
    with RepoIndex(repo) as index:
        index.update(workers=1)
        previous = 0
        for budget in (1, 20, 40, 80, 160, 10_000):
            text = index.render_map(max_tokens=budget)
            assert text == index.render_map(max_tokens=budget)
            assert estimate_tokens(text) <= budget
            assert len(text) >= previous
            previous = len(text)
        full = index.render_map(max_tokens=10_000)
    assert index_defs_count(repo) == full.count("│")
    assert fit_to_budget([], 100) == ""


def index_defs_count(repo: Path) -> int:
    with RepoIndex(repo) as index:
        return sum(1 for _ in index.iter_defs())


def test_render_groups_by_file_in_rank_order_and_marks_gaps():
    entries = [MapEntry("b.py", 10, 12, "g", "function", "def g():"),
               MapEntry("a.py", 1, 2, "A", "class", "class A:"),
               MapEntry("b.py", 2, 3, "f", "function", "def f():"),
               MapEntry("a.py", 2, 3, "m", "method", "    def m(self):")]
    assert render_entries(entries) == (
        "b.py:\n⋮\n│def f():\n⋮\n│def g():\n⋮\n"
        "a.py:\n│class A:\n│    def m(self):\n⋮\n"
    )


def test_initial_repo_map(make_repo, tmp_path):
    repo = make_repo(project())
    text = initial_repo_map(repo, max_tokens=200)
    assert text.startswith("core/engine.py:") and estimate_tokens(text) <= 200
    empty = tmp_path / "empty"
    empty.mkdir()
    assert initial_repo_map(empty) == ""
    assert initial_repo_map(tmp_path / "missing") == ""


def test_initial_repo_map_gives_up_on_time_and_says_so(make_repo, monkeypatch):
    repo = make_repo(project())
    text = initial_repo_map(repo, max_tokens=200, time_budget_s=0.0)
    # Nothing could be parsed in no time: no map yet, but the prompt says why.
    assert text.startswith("(11 files not indexed yet")
    with RepoIndex(repo) as index:
        res = index.update(workers=1)
    assert res.complete
    assert initial_repo_map(repo, max_tokens=200).startswith("core/engine.py:")


@pytest.mark.parametrize("bad", [0, -5])
def test_zero_budget_is_empty(make_repo, bad):
    repo = make_repo(project())
    with RepoIndex(repo) as index:
        index.update(workers=1)
        assert index.render_map(max_tokens=bad) == ""
