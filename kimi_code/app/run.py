"""`kimi-code run`: the agent headless, for scripts and CI.

Exit codes (DESIGN.md section 5): 0 success; 1 failure during execution; 2 usage or
configuration error; 3 max turns reached; 75 provider still failing after retries; 130 Ctrl-C;
143 SIGTERM (the result is still printed).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import Any, TextIO

from kimi_code.app.run_result import (
    EXIT_TERMINATED,
    EXIT_USAGE,
    OUTPUT_FORMATS,
    RunOptions,
    exit_code_for,
    now_ms,
    print_result,
)
from kimi_code.config import ConfigError

# Re-exported: `kimi-code run`'s options and result helpers were always reached through here.
__all__ = ["RunOptions", "exit_code_for", "now_ms", "print_result", "read_prompt",
           "run_headless"]


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"kimi-code: {message}\n")
    return code


def read_prompt(prompt: str | None, stdin: TextIO) -> str:
    if prompt is not None and prompt != "-":
        text = prompt
    elif stdin is None or stdin.isatty():
        raise ConfigError("no prompt: pass it as an argument or pipe it on stdin "
                          "(e.g. `echo 'fix the tests' | kimi-code run`)")
    else:
        text = stdin.read()
    if not text.strip():
        raise ConfigError("the prompt is empty")
    # A prompt in a legacy encoding (a latin-1 file piped in, a non-UTF-8 argv) arrives with
    # surrogate escapes that no store or endpoint accepts: those bytes become U+FFFD.
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def run_headless(options: RunOptions) -> int:
    """Validate options, then run one turn. Returns the exit code."""
    if options.output_format not in OUTPUT_FORMATS:
        return _fail(f"--output-format must be one of {', '.join(OUTPUT_FORMATS)}", EXIT_USAGE)
    if options.max_turns is not None and options.max_turns < 1:
        return _fail("--max-turns must be at least 1", EXIT_USAGE)
    if options.continue_ and options.resume:
        return _fail("use either --continue or --resume, not both", EXIT_USAGE)
    from kimi_code.safety.permissions import PermissionPolicy, RuleError

    try:
        PermissionPolicy.from_strings(options.permission_mode, options.allow, (), options.deny)
        from kimi_code.safety.trust import check_yolo

        check_yolo(options.permission_mode, sys.stdin is not None and sys.stdin.isatty())
        prompt = read_prompt(options.prompt, sys.stdin)
        from kimi_code.runtime.session import Workspace, resolve_model

        config, model = resolve_model(options.model, options.provider, options.base_url)
        workspace = Workspace.discover(add_dirs=options.add_dirs)
    except (ConfigError, RuleError, ValueError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    from kimi_code.app.run_session import HeadlessRun

    run = HeadlessRun(options, config, model, workspace, prompt)  # opened inside the loop
    try:
        return asyncio.run(_execute_until_signalled(run))
    except KeyboardInterrupt:
        return 130
    finally:
        run.close()


async def _execute_until_signalled(run: Any) -> int:
    """Run, treating SIGTERM (a CI job's timeout, `docker stop`, `kill`) like Ctrl-C: the turn
    is cancelled, background jobs are stopped, the session is left resumable and the result
    (error_during_execution) is still printed. Exit status 143, as for a TERM-killed process."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    terminated: list[bool] = []

    def on_term() -> None:
        terminated.append(True)
        if task is not None:
            task.cancel()

    try:
        loop.add_signal_handler(signal.SIGTERM, on_term)
    except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
        pass
    try:
        code = await run.execute()
    except asyncio.CancelledError:
        if not terminated:
            raise
        code = EXIT_TERMINATED
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGTERM)
    return EXIT_TERMINATED if terminated else code
