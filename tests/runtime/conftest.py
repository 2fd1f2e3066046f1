"""Fixtures for tests/runtime: the CLI ones (tests/support/cli_runs.py) by default; the TUI
tests import theirs from tests/support/tui.py explicitly."""

from tests.support.cli_runs import (  # noqa: F401  (fixtures pytest collects)
    home,
    server,
    workspace,
)
