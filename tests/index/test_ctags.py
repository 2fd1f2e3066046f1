"""Python definition recall against universal-ctags on real code (the stdlib's email and
json packages), where ctags is installed."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

import pytest

from kimi_code.index.ctags_compare import ctags_available, python_recall
from kimi_code.index.repo_map import RepoIndex

pytestmark = pytest.mark.skipif(not ctags_available(), reason="universal-ctags not installed")


def test_python_definition_recall_vs_ctags(tmp_path: Path):
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    corpus = tmp_path / "corpus"
    for package in ("email", "json"):
        shutil.copytree(stdlib / package, corpus / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    with RepoIndex(corpus) as index:
        index.update(workers=1)
        recall, total, missed = python_recall(index)
    assert total > 300
    assert recall >= 0.97, sorted(missed)[:20]
