"""Fixtures for tests/swarm: defined in tests/support/swarm_harness.py (tests import helpers from there)."""

from tests.support.swarm_harness import (  # noqa: F401  (fixtures and hooks pytest collects)
    home,
    repo,
    servers,
)
