"""One headless run (`kimi-code run`): a thin client of AgentSession. The session (new,
--continue, --resume) is opened under its lock, its events go to the consumers (stream-json,
stderr notices), one turn runs, and the final result is printed."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from kimi_code.app.run_result import RunOptions, exit_code_for, now_ms, print_result
from kimi_code.config import Config, ConfigError, ModelConfig
from kimi_code.events import Event, PermissionDenied, SessionStarted
from kimi_code.output.stream_json import StreamJsonWriter, result_object
from kimi_code.runtime.session import AgentSession, SessionOptions, Workspace


class HeadlessRun:
    def __init__(self, options: RunOptions, config: Config, model: ModelConfig,
                 workspace: Workspace, prompt: str) -> None:
        self.options, self.prompt = options, prompt
        self.session = AgentSession(
            config, model, workspace,
            SessionOptions(permission_mode=options.permission_mode, allow=options.allow,
                           deny=options.deny, max_turns=options.max_turns),
            approver=_terminal_approver())
        self.writer = StreamJsonWriter(sys.stdout, "") \
            if options.output_format == "stream-json" else None
        self.steps = _StepCounter()
        for consumer in (self._started, self.writer, _stderr_notices, self.steps):
            if consumer is not None:
                self.session.subscribe(consumer)

    def _started(self, event: Event) -> None:
        """stream-json lines carry the session id from the moment it is known."""
        if isinstance(event, SessionStarted) and self.writer is not None:
            self.writer.session_id = event.session_id

    def _open(self) -> int | None:
        """Open the session; an exit code when that fails (2: configuration, 1: lookup)."""
        o = self.options
        try:
            self.session.open(continue_=o.continue_, resume=o.resume, title=self.prompt)
        except ConfigError as exc:
            sys.stderr.write(f"kimi-code: {exc}\n")
            return 2
        except LookupError as exc:  # unknown session id, session in use
            sys.stderr.write(f"kimi-code: {exc.args[0] if exc.args else exc}\n")
            return 1
        return None

    def close(self) -> None:
        """Release what an interrupted execute() could not (the lock, the store)."""
        if not self.session.closed:
            asyncio.run(self.session.close())

    async def execute(self) -> int:
        started = now_ms()
        failed = self._open()
        if failed is not None:
            return failed
        try:
            result = await self.session.submit(self.prompt)
        except asyncio.CancelledError:
            result = self.session.interrupted_result(self.steps.count)
        finally:
            subagents = self.session.subagent_history
            await self.session.close()  # background jobs, swarm providers, provider, lock
        self._report(result, started)
        if self.options.output_format == "text" and subagents:
            # issue 6: per-subagent summary table; stderr keeps stdout the answer alone.
            from kimi_code.tools.subagents import render_table

            sys.stderr.write(render_table(subagents) + "\n")
        return exit_code_for(result)

    def _report(self, result: Any, started: int) -> None:
        duration = now_ms() - started
        from kimi_code.safety.redact import redact_error

        error = redact_error(result.error)  # issue 15: no key or URL password in any output
        obj = result_object(stop_reason=result.stop_reason, text=result.text, error=error,
                            session_id=self.session.session_id, num_turns=result.num_steps,
                            duration_ms=duration, duration_api_ms=duration, usage=result.usage,
                            permission_denials=list(result.permission_denials))
        if self.writer is not None:
            self.writer.write(obj)
        else:
            print_result(sys.stdout, self.options.output_format, obj, result.text)
        if result.stop_reason != "end_turn" and error:
            sys.stderr.write(f"kimi-code: {error}\n")


def _terminal_approver() -> Any:
    """With a terminal on stdin and stderr, "ask" asks there (stdout stays machine-readable);
    without one, asking is impossible and the executor denies and records."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None
    from kimi_code.agent.approval import ApprovalRequest, ApprovalResponse, parse_answer

    async def approve(request: ApprovalRequest) -> ApprovalResponse:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.output import create_output

        visible = request.subject.encode("unicode_escape").decode("ascii")
        session: PromptSession[str] = PromptSession(output=create_output(stdout=sys.stderr))
        answer = await session.prompt_async(
            f"Allow {request.tool_name}: {visible}\n  [y]es / [a]lways ({request.suggested_rule}) "
            "/ [n]o, or type a message for the agent: ")
        return parse_answer(answer, request.suggested_rule)

    return approve


class _StepCounter:
    """Steps the top-level agent started: num_turns of a result for an interrupted run."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, event: Event) -> None:
        from kimi_code.events import StepStarted

        if isinstance(event, StepStarted) and not event.agent_id:
            self.count = event.step


def _stderr_notices(event: Event) -> None:
    """Denials and warnings go to stderr so stdout stays machine-readable."""
    from kimi_code.events import Notice, RetryScheduled

    if isinstance(event, PermissionDenied) and not event.agent_id:
        sys.stderr.write(f"kimi-code: denied {event.tool_name}: {event.reason}\n")
    elif isinstance(event, RetryScheduled) and not event.agent_id:
        sys.stderr.write(f"kimi-code: retrying in {event.delay_s:.1f}s "
                         f"(attempt {event.attempt}/{event.max_attempts}): {event.error}\n")
    elif isinstance(event, Notice) and event.level != "info" and not event.agent_id:
        sys.stderr.write(f"kimi-code: {event.level}: {event.message}\n")
