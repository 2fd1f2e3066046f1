"""One headless run: session (new, --continue, --resume) held under its lock, the agent wired to
its consumers (session log, stream-json), the final result printed."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

from kimi_code.agent.loop import Agent, AgentOptions, TurnResult
from kimi_code.agent.recorder import SessionRecorder
from kimi_code.app.run import RunOptions, exit_code_for, now_ms, print_result
from kimi_code.config import Config, ConfigError, ModelConfig
from kimi_code.events import Event, PermissionDenied, SessionStarted
from kimi_code.output.stream_json import StreamJsonWriter, result_object
from kimi_code.runtime.assemble import (
    Workspace,
    build_tools,
    effective_permissions,
    make_checkpointer,
    system_prompt,
    tool_context,
)
from kimi_code.session.store import SessionNotFoundError, SessionStore


class HeadlessRun:
    def __init__(self, options: RunOptions, config: Config, model: ModelConfig,
                 workspace: Workspace, prompt: str) -> None:
        self.options, self.config, self.model = options, config, model
        self.workspace, self.prompt = workspace, prompt
        self.store = SessionStore()
        self.session_id, self.resumed = self._select_session()
        self.lock = self.store.lock(self.session_id)
        try:
            self.lock.__enter__()
        except Exception as exc:
            self.store.close()
            raise LookupError(str(exc)) from exc
        self.history, self.ledger = (self.store.messages(self.session_id), self.store.ledger(self.session_id)) if self.resumed \
            else ([], [])

    def _select_session(self) -> tuple[str, bool]:
        o = self.options
        if o.resume:
            try:
                return self.store.resolve(o.resume).id, True
            except SessionNotFoundError as exc:
                raise LookupError(str(exc)) from None  # it already says where to look
        if o.continue_:
            latest = self.store.latest(self.workspace.root)
            if latest is None:
                raise LookupError(f"no earlier session in {self.workspace.root} to continue")
            return latest.id, True
        from kimi_code.safety.redact import known_secrets, redact

        title = redact(self.prompt.strip().splitlines()[0], known_secrets())[:80]
        return self.store.create(self.workspace.root, self.model.model or self.model.name,
                                 title=title), False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.lock.__exit__(None, None, None)
        self.store.close()

    def _make_provider(self) -> Any:
        from kimi_code.llm.factory import make_provider

        return make_provider(self.model)

    async def execute(self) -> int:
        started = now_ms()
        try:
            provider = self._make_provider()
        except ConfigError as exc:
            sys.stderr.write(f"kimi-code: {exc}\n")
            return 2
        tools = build_tools()
        try:
            ctx = tool_context(self.workspace, self.session_id)
            perms = effective_permissions(self.config, self.workspace,
                                          mode=self.options.permission_mode,
                                          allow=self.options.allow, deny=self.options.deny)
        except ConfigError as exc:
            sys.stderr.write(f"kimi-code: {exc}\n")
            return 2
        for notice in perms.notices:
            sys.stderr.write(f"kimi-code: {notice}\n")
        # The prompt names the workspace path, which need not be UTF-8 (a latin-1 directory
        # name arrives surrogate-escaped and no endpoint accepts it): U+FFFD for those bytes.
        prompt_text = system_prompt(self.workspace, tools)
        prompt_text = prompt_text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        options = AgentOptions(system_prompt=prompt_text,
                               max_turns=self.options.max_turns, permission_mode=perms.mode,
                               allow=perms.allow, ask=perms.ask, deny=perms.deny,
                               max_tokens=self.model.max_tokens)
        recorder = SessionRecorder(self.store, self.session_id, self.history)
        agent = Agent(provider, tools, ctx, options, history=self.history, ledger=self.ledger,
                      approver=_terminal_approver(),
                      checkpointer=make_checkpointer(self.workspace.root, self.session_id, recorder))
        agent.subscribers.append(recorder)
        writer = StreamJsonWriter(sys.stdout, self.session_id) \
            if self.options.output_format == "stream-json" else None
        if writer is not None:
            agent.subscribers.append(writer)
        agent.subscribers.append(_stderr_notices)
        steps = _StepCounter()
        agent.subscribers.append(steps)
        # Subagents (issue 6): Agent/AgentSwarm run through this runner; child events reach
        # the writer above with parent_tool_use_id set.
        from kimi_code.agent.swarm import make_swarm_runner

        swarm = make_swarm_runner(provider, self.workspace.root, self.config, self.session_id,
                                  self.store)
        swarm.attach(agent)
        agent.emit(SessionStarted(session_id=self.session_id, cwd=str(self.workspace.cwd),
                                  model=self.model.model or self.model.name, tools=tuple(tools.names()),
                                  permission_mode=self.options.permission_mode, resumed=self.resumed))
        try:
            result = await agent.run_turn(self.prompt)
        except asyncio.CancelledError:
            result = TurnResult("cancelled", "", agent.context.total_usage, steps.count,
                                "Interrupted.")
        finally:
            await _kill_background(ctx)
            await swarm.aclose()  # issue 6: providers of custom-model subagent types
            with contextlib.suppress(Exception):
                await provider.aclose()
        self._report(result, started, writer)
        if self.options.output_format == "text" and swarm.history:
            # issue 6: per-subagent summary table; stderr keeps stdout the answer alone.
            from kimi_code.tools.subagents import render_table

            sys.stderr.write(render_table(swarm.history) + "\n")
        return exit_code_for(result)

    def _report(self, result: TurnResult, started: int, writer: StreamJsonWriter | None) -> None:
        duration = now_ms() - started
        obj = result_object(stop_reason=result.stop_reason, text=result.text, error=result.error,
                            session_id=self.session_id, num_turns=result.num_steps,
                            duration_ms=duration, duration_api_ms=duration, usage=result.usage,
                            permission_denials=list(result.permission_denials))
        if writer is not None:
            writer.write(obj)
        else:
            print_result(sys.stdout, self.options.output_format, obj, result.text)
        if result.stop_reason != "end_turn" and result.error:
            sys.stderr.write(f"kimi-code: {result.error}\n")


def _terminal_approver() -> Any:
    """With a terminal on stdin and stderr, "ask" asks there (stdout stays machine-readable);
    without one, asking is impossible and the executor denies and records."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return None
    from kimi_code.agent.approval import ApprovalRequest, ApprovalResponse

    async def approve(request: ApprovalRequest) -> ApprovalResponse:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.output import create_output

        visible = request.subject.encode("unicode_escape").decode("ascii")
        session: PromptSession[str] = PromptSession(output=create_output(stdout=sys.stderr))
        answer = (await session.prompt_async(
            f"Allow {request.tool_name}: {visible}\n  [y]es / [a]lways ({request.suggested_rule}) "
            "/ [n]o, or type a message for the agent: ")).strip()
        if answer.lower() in ("y", "yes"):
            return ApprovalResponse(True)
        if answer.lower() in ("a", "always"):
            return ApprovalResponse(True, remember_rule=request.suggested_rule)
        return ApprovalResponse(False, message="" if answer.lower() in ("", "n", "no") else answer)

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


async def _kill_background(ctx: Any) -> None:
    try:
        from kimi_code.tools.bash import kill_background_jobs
    except ImportError:
        return
    with contextlib.suppress(Exception):
        result = kill_background_jobs(ctx)
        if asyncio.iscoroutine(result):
            await result
