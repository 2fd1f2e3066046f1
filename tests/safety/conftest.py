"""Fixtures for tests/safety: defined in tests/support/sandboxes.py (tests import helpers from there)."""

from tests.support.sandboxes import (  # noqa: F401  (fixtures and hooks pytest collects)
    _require_bwrap,
    home,
    outside,
    sandbox,
    workspace,
)
