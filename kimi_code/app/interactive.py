"""`kimi-code` with no command: the TUI (or `--plain` line mode) on an AgentSession.

The session (kimi_code.runtime.session.AgentSession) assembles and owns the agent; the front
ends subscribe to its events and call its operations, and contain no agent logic.
"""

from __future__ import annotations

import sys

from kimi_code.config import ConfigError
from kimi_code.runtime.session import AgentSession

# The name front ends and tests knew before the runtime existed: the same class.
InteractiveSession = AgentSession


def start_interactive(*, plain: bool, model: str | None, provider: str | None,
                      base_url: str | None, continue_: bool, resume: str | None) -> int:
    """Entry point for `kimi-code` with no command."""
    try:
        session = AgentSession.create(model=model, provider=provider, base_url=base_url)
    except ConfigError as exc:
        if not _onboard(plain, exc):
            sys.stderr.write(f"kimi-code: {exc}\n")
            return 2
        try:
            session = AgentSession.create(model=model, provider=provider, base_url=base_url)
        except ConfigError as again:
            sys.stderr.write(f"kimi-code: {again}\n")
            return 2
    if not plain and sys.stdout.isatty():
        try:
            from kimi_code.ui.app import run_tui
        except ImportError:  # a build without Textual: the line mode still works
            pass
        else:
            return run_tui(session, continue_=continue_, resume=resume)
    from kimi_code.ui.plain import run_plain

    return run_plain(session, continue_=continue_, resume=resume)


def _onboard(plain: bool, error: ConfigError) -> bool:
    """First run in a terminal with no config file: the TUI's onboarding screen writes one.
    Returns whether the user completed it."""
    from kimi_code import paths

    if plain or not sys.stdout.isatty() or paths.config_file().exists():
        return False
    try:
        from kimi_code.ui.app import run_onboarding
    except ImportError:
        return False
    return run_onboarding(str(error))
