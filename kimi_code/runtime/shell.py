"""`!command` from the prompt (like Claude Code's bash mode): the user's own command, run in the
workspace's current directory, its output capped like the Bash tool's and kept as context for
the next message the user sends."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from kimi_code.runtime.shell_context import wrap

SHELL_TIMEOUT_S = 600


@dataclass(frozen=True)
class ShellResult:
    """One `!command`: what it printed and how it ended (a number, or "timeout",
    "interrupted", "error"); `context` is what goes in front of the next message."""

    command: str
    output: str
    exit_code: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.exit_code == "0"

    @property
    def context(self) -> str:
        return wrap(self.command, self.output, self.exit_code)


async def run_user_command(command: str, cwd: Path, env: dict[str, str]) -> ShellResult:
    """Run `command` (not sandboxed: the user typed it). Cancelling it (Esc) kills its process
    group and returns an "interrupted" result rather than raising, so the output so far is
    still shown and kept."""
    from kimi_code.tools.bash import MAX_OUTPUT_CHARS
    from kimi_code.tools.process import run_command

    started = time.monotonic()
    try:
        result = await run_command(command, cwd=cwd, env=env, timeout=SHELL_TIMEOUT_S,
                                   max_output=MAX_OUTPUT_CHARS)
    except asyncio.CancelledError:  # run_command killed the process group
        output, code = "Interrupted.", "interrupted"
    except OSError as exc:
        output, code = f"Could not run the command: {exc}", "error"
    else:
        code = "timeout" if result.timed_out else str(result.exit_code)
        output = result.output + (f"\n(timed out after {SHELL_TIMEOUT_S} s)"
                                   if result.timed_out else
                                   f"\n(exit code {code})" if code != "0" else "")
    return ShellResult(command, output, code, int((time.monotonic() - started) * 1000))
