"""Fixtures for tests/session: defined in tests/support/session_procs.py (tests import helpers from there)."""

from tests.support.session_procs import (  # noqa: F401  (fixtures and hooks pytest collects)
    home,
    store,
    workspace,
)
