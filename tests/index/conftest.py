"""Fixtures for tests/index: defined in tests/support/index_repos.py (tests import helpers from there)."""

from tests.support.index_repos import (  # noqa: F401  (fixtures and hooks pytest collects)
    kimi_home,
    make_repo,
)
