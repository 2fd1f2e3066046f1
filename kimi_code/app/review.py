"""`kimi-code review`: review a diff headless and write findings for CI.

Exit codes: 0 no finding at or above --fail-on (or nothing to review); 1 findings at or above
--fail-on, or the review could not complete; 2 usage/configuration error; 75 the model endpoint
kept failing with a retryable error.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TypeAlias

import git

from kimi_code.git.repo import GitError, NotARepositoryError, open_repo
from kimi_code.review.findings import SEVERITY_RANK, ReviewReport
from kimi_code.review.review import ReviewError, file_diff_budget, resolve_target
from kimi_code.review.run import ReviewOptions, default_secrets, run_review

if TYPE_CHECKING:
    from kimi_code.llm.base import ChatProvider
    from kimi_code.review.review import ReviewTarget

# What signal.signal takes and returns.
SignalHandler: TypeAlias = Callable[[int, FrameType | None], object] | int | signal.Handlers | None

FORMATS = ("markdown", "json", "sarif", "github")
FAIL_ON = ("error", "warning", "note", "never")


def render(report: ReviewReport, format_: str) -> str:
    """The report in one of FORMATS."""
    if format_ == "sarif":
        from kimi_code.review.sarif import to_sarif

        return json.dumps(to_sarif(report), indent=2) + "\n"
    if format_ == "json":
        from kimi_code.review.review_json import to_json

        return json.dumps(to_json(report), indent=2) + "\n"
    if format_ == "github":
        from kimi_code.review.github import to_github

        return to_github(report)
    from kimi_code.review.markdown import to_markdown

    return to_markdown(report)


def exit_code(report: ReviewReport, fail_on: str) -> int:
    if report.errors:
        return 1
    if fail_on == "never":
        return 0
    threshold = SEVERITY_RANK[fail_on]
    return 1 if any(SEVERITY_RANK.get(f.severity, 0) >= threshold for f in report.findings) else 0


def output_problem(output: Path | None) -> str | None:
    """Why `-o FILE` cannot be written, checked before any model call is paid for."""
    if output is None:
        return None
    if output.is_dir():
        return f"-o {output} is a directory; give a file name, e.g. -o {output / 'review.md'}"
    blocker = next((p for p in output.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        return f"cannot write -o {output}: {blocker} is a file, not a directory"
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create the directory of -o {output}: {exc.strerror or exc}"
    if not os.access(output.parent, os.W_OK) or (output.exists() and
                                                 not os.access(output, os.W_OK)):
        return f"-o {output} is not writable"
    return None


def _write(text: str, output: Path | None) -> bool:
    """Write the report; if the file cannot be written after all, the report goes to stdout
    (a finished review is never thrown away) and False is returned."""
    if output is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text, encoding="utf-8")
            return True
        except OSError as exc:
            print(f"error: could not write {output} ({exc.strerror or exc}); the report "
                  "follows on stdout instead.", file=sys.stderr)
    from kimi_code.output.encoding import encodable

    sys.stdout.write(encodable(text, sys.stdout))  # a latin-1 locale must not lose the report
    sys.stdout.flush()
    return output is None


def _progress(message: str) -> None:
    print(f"kimi-code review: {message}", file=sys.stderr, flush=True)


async def _review(provider: ChatProvider, target: ReviewTarget, opts: ReviewOptions) -> ReviewReport:
    try:
        return await run_review(provider, target, opts, progress=_progress)
    finally:
        await provider.aclose()


def _exit_on_sigterm() -> SignalHandler:
    """Make SIGTERM (a CI job's timeout, `kill`) unwind like Ctrl-C, so `finally` blocks run;
    by default Python dies on the spot. Returns the previous handler (None off the main
    thread, where handlers cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    return signal.signal(signal.SIGTERM, stop)


def _restore_sigterm(previous: SignalHandler) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def review_main(base: str | None, head: str, uncommitted: bool, format_: str,
                output: Path | None, fail_on: str, model: str | None, provider: str | None,
                base_url: str | None, cwd: Path | None = None,
                options: ReviewOptions | None = None) -> int:
    """Entry point of `kimi-code review`. Project config is never loaded here."""
    from kimi_code.config import ConfigError, load_config, with_overrides
    from kimi_code.llm.factory import make_provider

    if format_ not in FORMATS:
        print(f"error: --format must be one of {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    if fail_on not in FAIL_ON:
        print(f"error: --fail-on must be one of {', '.join(FAIL_ON)}", file=sys.stderr)
        return 2
    problem = output_problem(output)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        _, selected = with_overrides(load_config(), model=model, provider=provider,
                                     base_url=base_url)
        repo = open_repo(cwd)
        target = resolve_target(repo, base, head, uncommitted)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ReviewError as exc:
        print(f"{'error: ' if exc.code else ''}{exc}", file=sys.stderr)
        if exc.code == 0:
            _write(render(ReviewReport(base=base or "", head=head), format_), output)
        return exc.code
    except (NotARepositoryError, GitError, git.GitCommandError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    opts = options or ReviewOptions()
    opts.secrets = default_secrets(dict(os.environ), selected.api_key)
    if opts.max_file_chars is None:  # a small local model must not get a 400k-char file diff
        opts.max_file_chars = file_diff_budget(selected.context_window)
    # ...nor a part of several files bigger than that
    opts.chunk_chars = min(opts.chunk_chars, opts.max_file_chars)
    previous = _exit_on_sigterm()
    try:
        report = asyncio.run(_review(make_provider(selected), target, opts))
    finally:
        target.close()  # also on SIGTERM: an exported head tree must not stay in the temp dir
        _restore_sigterm(previous)
    written = _write(render(report, format_), output)
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    if report.retryable and not report.findings:
        return 75
    return exit_code(report, fail_on) if written else 1
