"""Fixtures for tests/ui: defined in tests/support/tui.py (tests import helpers from there)."""

from tests.support.tui import (  # noqa: F401  (fixtures and hooks pytest collects)
    home,
    server,
    workspace,
)
