"""What `kimi-code run` is asked (RunOptions) and how it answers: exit codes, the printed
result, the clock. Shared by the command (app/run.py) and the headless session
(app/run_session.py), so neither imports the other's module back."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

OUTPUT_FORMATS = ("text", "json", "stream-json")
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_MAX_TURNS, EXIT_PROVIDER = 0, 1, 2, 3, 75
EXIT_TERMINATED = 143  # 128 + SIGTERM


@dataclass(frozen=True)
class RunOptions:
    prompt: str | None = None
    output_format: str = "text"
    max_turns: int | None = None
    permission_mode: str = "accept-edits"
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    continue_: bool = False
    resume: str | None = None
    add_dirs: tuple[Path, ...] = ()
    model: str | None = None
    provider: str | None = None
    base_url: str | None = None


def exit_code_for(result: Any) -> int:
    if result.stop_reason == "end_turn":
        return EXIT_OK
    if result.stop_reason == "max_turns":
        return EXIT_MAX_TURNS
    if result.stop_reason == "provider_error":
        if result.retryable:
            return EXIT_PROVIDER
        return EXIT_USAGE if result.error_status in (401, 403) else EXIT_FAILURE
    if result.stop_reason == "cancelled":
        return 130
    return EXIT_FAILURE


def print_result(out: TextIO, fmt: str, result_obj: dict[str, Any], text: str) -> None:
    from kimi_code.output.encoding import encodable
    from kimi_code.output.stream_json import json_line

    if fmt == "json":
        out.write(json_line(result_obj, out))
    elif fmt == "text":
        if text:
            out.write(encodable(text if text.endswith("\n") else text + "\n", out))
    out.flush()


def now_ms() -> int:
    return int(time.monotonic() * 1000)
