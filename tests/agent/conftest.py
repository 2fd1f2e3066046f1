"""Fixtures for tests/agent: defined in tests/support/cli_runs.py (tests import helpers from there)."""

from tests.support.cli_runs import (  # noqa: F401  (fixtures and hooks pytest collects)
    home,
    server,
    workspace,
)
