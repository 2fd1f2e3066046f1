"""The agent loop: a turn is a sequence of steps (stream -> tool calls -> results -> next step).

- Read-only calls that need no approval start while later calls are still streaming and run
  concurrently; anything that mutates runs after the stream, in order.
- A failed or cut stream retries the whole step from the last consistent state: nothing of the
  failed attempt enters the history, and only side-effect-free calls can have started.
- Cancellation (Ctrl-C, Esc) leaves a consistent history: partial text is kept, every tool call
  gets a result.
Every action is an event; front ends only consume events.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kimi_code.agent.approval import Approver
from kimi_code.agent.compaction import compact
from kimi_code.agent.context import Context
from kimi_code.agent.executor import PreparedCall, ToolExecutor
from kimi_code.agent.retry import RetryPolicy
from kimi_code.events import (
    AssistantMessage,
    CheckpointCreated,
    CompactionDone,
    Event,
    Notice,
    RetryScheduled,
    StepStarted,
    TextDelta,
    ThinkingDelta,
    ToolMessageAdded,
    TurnFinished,
    TurnStarted,
    UserMessageAdded,
)
from kimi_code.llm.base import (
    ChatProvider,
    ContextOverflowError,
    Message,
    ProviderError,
    StreamEnd,
    TextChunk,
    ThinkingBlock,
    ThinkingBlockDone,
    ThinkingChunk,
    ToolCall,
    ToolCallDone,
    Usage,
    sendable,
)
from kimi_code.safety.permissions import PermissionPolicy
from kimi_code.tools.base import ToolContext
from kimi_code.tools.registry import ToolRegistry

INTERRUPTED = "Interrupted: the user stopped the turn before this tool call completed."
REPEAT_WARN_AT = 3
REPEAT_STOP_AT = 5

Checkpointer = Callable[[str], Awaitable[str | None]]


@dataclass
class AgentOptions:
    system_prompt: str = ""
    max_turns: int | None = None  # steps per turn
    permission_mode: str = "accept-edits"
    allow: tuple[str, ...] = ()
    ask: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    max_tokens: int | None = None
    compact_at: float = 0.85  # fraction of the context window
    retry: RetryPolicy = field(default_factory=RetryPolicy.from_env)


@dataclass(frozen=True)
class TurnResult:
    stop_reason: str  # end_turn | max_turns | cancelled | provider_error | repeated_calls
    text: str
    usage: Usage
    num_steps: int
    error: str = ""
    error_status: int | None = None
    retryable: bool = False
    permission_denials: tuple[dict[str, Any], ...] = ()


class _StopTurn(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class _StepOutcome:
    message: Message
    usage: Usage
    early: dict[str, asyncio.Task[tuple[Message, dict[str, Any]]]]
    prepared: dict[str, PreparedCall]


class Agent:
    def __init__(self, provider: ChatProvider, tools: ToolRegistry, ctx: ToolContext,
                 options: AgentOptions | None = None, *,
                 on_event: Callable[[Event], None] | None = None,
                 approver: Approver | None = None, history: list[Message] | None = None,
                 ledger: list[str] | None = None, checkpointer: Checkpointer | None = None,
                 agent_id: str = "") -> None:
        self.provider, self.tools, self.ctx = provider, tools, ctx
        self.options = options or AgentOptions()
        self.agent_id = agent_id
        self.subscribers: list[Callable[[Event], None]] = [on_event] if on_event else []
        self.context = Context(self.options.system_prompt, provider.context_window,
                               list(history or []), list(ledger or []))
        o = self.options
        self.policy = PermissionPolicy.from_strings(o.permission_mode, o.allow, o.ask, o.deny)
        self.executor = ToolExecutor(tools, ctx, self.policy, approver, self.emit, agent_id)
        self.checkpointer = checkpointer
        self._steering: list[str] = []
        self._repeats: dict[str, int] = {}

    # ---- public API --------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        for subscriber in self.subscribers:
            subscriber(event)

    def steer(self, text: str) -> None:
        """Queue a user message to inject into the running turn before its next step."""
        self._steering.append(text)

    async def run_turn(self, prompt: str) -> TurnResult:
        """Run one user turn to completion (or max turns, failure, cancellation)."""
        self.emit(TurnStarted(prompt=prompt, agent_id=self.agent_id))
        await self._checkpoint(f"turn: {prompt.strip().splitlines()[0][:60] if prompt.strip() else ''}")
        self._add_user(prompt)
        self._repeats.clear()
        start_usage = self.context.total_usage
        steps, text = 0, ""
        try:
            while True:
                self._drain_steering()
                if self.options.max_turns is not None and steps >= self.options.max_turns:
                    return self._finish("max_turns", text, start_usage, steps,
                                        f"Reached the maximum of {self.options.max_turns} turns.")
                await self._maybe_compact()
                steps += 1
                self.emit(StepStarted(step=steps, agent_id=self.agent_id))
                message = await self._step()
                text = message.content or text
                if not message.tool_calls and not self._steering:
                    return self._finish("end_turn", message.content, start_usage, steps)
        except _StopTurn as stop:
            return self._finish(stop.reason, text, start_usage, steps, str(stop))
        except ProviderError as exc:
            return self._finish("provider_error", text, start_usage, steps, str(exc),
                                status=exc.status, retryable=exc.retryable)
        except asyncio.CancelledError:
            self._repair_after_cancel()
            self._finish("cancelled", text, start_usage, steps, "Cancelled by the user.")
            raise

    async def compact_now(self) -> bool:
        """Compact on request (/compact). Returns whether anything was compacted."""
        return await self._compact(trigger="manual")

    # ---- steps ---------------------------------------------------------------------------------

    async def _step(self) -> Message:
        policy = self.options.retry
        overflow_compacted = False
        for attempt in range(1, policy.max_attempts + 1):
            try:
                outcome = await self._stream_step()
                break
            except ContextOverflowError:
                if overflow_compacted or not await self._compact(trigger="overflow"):
                    raise
                overflow_compacted = True
            except ProviderError as exc:
                if not exc.retryable or attempt == policy.max_attempts:
                    if exc.retryable:
                        exc.args = (f"{exc} (still failing after {attempt} attempts)",)
                    raise
                delay = policy.delay(attempt, exc.retry_after)
                self.emit(RetryScheduled(attempt=attempt, max_attempts=policy.max_attempts,
                                         delay_s=delay, error=str(exc), status=exc.status,
                                         agent_id=self.agent_id))
                await asyncio.sleep(delay)
        else:  # pragma: no cover - the loop always breaks or raises
            raise ProviderError("no attempt made", retryable=False)
        self.context.add(outcome.message)
        self.context.record_usage(outcome.usage)
        self.emit(AssistantMessage(message=outcome.message, usage=outcome.usage,
                                   agent_id=self.agent_id))
        await self._run_tools(outcome)
        return outcome.message

    async def _stream_step(self) -> _StepOutcome:
        text: list[str] = []
        thinking: list[str] = []
        signature = ""
        blocks: list[ThinkingBlock] = []  # each signed thinking block, to send back exactly
        calls: list[ToolCall] = []
        prepared: dict[str, PreparedCall] = {}
        early: dict[str, asyncio.Task[tuple[Message, dict[str, Any]]]] = {}
        usage, stop_reason = Usage(), "end_turn"
        try:
            stream = self.provider.stream(self.context.wire_messages(), self.tools.specs(),
                                          max_tokens=self.options.max_tokens)
            async for event in stream:
                if isinstance(event, TextChunk):
                    text.append(event.text)
                    self.emit(TextDelta(text=event.text, agent_id=self.agent_id))
                elif isinstance(event, ThinkingChunk):
                    thinking.append(event.text)
                    signature = event.signature or signature
                    if event.text:
                        self.emit(ThinkingDelta(text=event.text, agent_id=self.agent_id))
                elif isinstance(event, ThinkingBlockDone):
                    blocks.append(event.block)
                elif isinstance(event, ToolCallDone):
                    call = self._unique_id(event.call, calls)
                    calls.append(call)
                    prep = prepared[call.id] = self.executor.prepare(call)
                    # Start early only while every earlier call in this step is side-effect free.
                    if prep.runs_freely and all(prepared[c.id].runs_freely for c in calls):
                        early[call.id] = asyncio.create_task(self.executor.execute(prep))
                elif isinstance(event, StreamEnd):
                    usage, stop_reason = event.usage, event.stop_reason
        except BaseException as exc:
            for task in early.values():
                task.cancel()
            if isinstance(exc, asyncio.CancelledError) and (text or thinking):
                # Keep what the user already saw; drop unfinished tool calls.
                partial = Message(role="assistant", content="".join(text),
                                  thinking="".join(thinking))
                self.context.add(partial)
                self.emit(AssistantMessage(message=partial, usage=Usage(), agent_id=self.agent_id))
            raise
        if stop_reason == "max_tokens" and not calls and not text:
            self.emit(Notice(level="warning", message="The model hit its output token limit.",
                             agent_id=self.agent_id))
        message = Message(role="assistant", content="".join(text), thinking="".join(thinking),
                          thinking_signature=signature, tool_calls=tuple(calls),
                          thinking_blocks=tuple(blocks))
        return _StepOutcome(message, usage, early, prepared)

    @staticmethod
    def _unique_id(call: ToolCall, previous: list[ToolCall]) -> ToolCall:
        ids = {c.id for c in previous}
        if call.id and call.id not in ids:
            return call
        return ToolCall(id=f"{call.id or 'call'}_{len(previous)}", name=call.name,
                        arguments=call.arguments)

    async def _run_tools(self, outcome: _StepOutcome) -> None:
        """Execute the step's calls: batches of free concurrent-safe calls concurrently, others
        in order. Results enter the history in call order; a checkpoint follows each call
        that changed the workspace."""
        calls = list(outcome.message.tool_calls)
        stop: _StopTurn | None = None
        index = 0
        try:
            while index < len(calls):
                batch = [calls[index]]
                if outcome.prepared[calls[index].id].runs_freely:
                    while index + len(batch) < len(calls) and \
                            outcome.prepared[calls[index + len(batch)].id].runs_freely:
                        batch.append(calls[index + len(batch)])
                results = await asyncio.gather(*(self._execute(c, outcome) for c in batch))
                for call, (message, _display) in zip(batch, results, strict=True):
                    message, stop = self._check_repeat(call, message, stop)
                    self._add_tool_message(message)
                    if outcome.prepared[call.id].mutated:  # coder swarms that merged included
                        await self._checkpoint(f"after {call.name}")
                index += len(batch)
        finally:
            for task in outcome.early.values():
                task.cancel()
        if stop is not None:
            raise stop

    def _execute(self, call: ToolCall, outcome: _StepOutcome) -> Awaitable[tuple[Message, dict[str, Any]]]:
        key = self._repeat_key(call)
        if self._repeats.get(key, 0) + 1 >= REPEAT_STOP_AT:
            async def refuse() -> tuple[Message, dict[str, Any]]:
                return Message(role="tool", tool_call_id=call.id, is_error=True, content=(
                    f"Not run: this exact {call.name} call was repeated {REPEAT_STOP_AT} times. "
                    "The turn is stopped to avoid a loop.")), {}
            return refuse()
        if call.id in outcome.early:
            return outcome.early.pop(call.id)
        return self.executor.execute(outcome.prepared[call.id])

    @staticmethod
    def _repeat_key(call: ToolCall) -> str:
        try:
            normalised = json.dumps(json.loads(call.arguments or "{}"), sort_keys=True)
        except json.JSONDecodeError:
            normalised = call.arguments
        return f"{call.name}:{normalised}"

    def _check_repeat(self, call: ToolCall, message: Message,
                      stop: _StopTurn | None) -> tuple[Message, _StopTurn | None]:
        key = self._repeat_key(call)
        count = self._repeats[key] = self._repeats.get(key, 0) + 1
        if count >= REPEAT_STOP_AT:
            self.emit(Notice(level="error", agent_id=self.agent_id,
                             message=f"Stopped: identical {call.name} call repeated {count} times."))
            return message, stop or _StopTurn("repeated_calls",
                                              f"Identical {call.name} call repeated {count} times.")
        if count >= REPEAT_WARN_AT:
            self.emit(Notice(level="warning", agent_id=self.agent_id,
                             message=f"The agent repeated an identical {call.name} call {count} times."))
            warning = (f"\n\n[kimi-code: you have made this identical {call.name} call {count} times "
                       f"this turn. It will be refused at {REPEAT_STOP_AT}. Change approach.]")
            message = Message(role="tool", content=message.content + warning,
                              tool_call_id=message.tool_call_id, is_error=message.is_error)
        return message, stop

    # ---- helpers -------------------------------------------------------------------------------

    def _add_user(self, text: str) -> None:
        message = Message(role="user", content=sendable(text))
        self.context.add(message)
        self.emit(UserMessageAdded(message=message, agent_id=self.agent_id))

    def _drain_steering(self) -> None:
        while self._steering:
            self._add_user(self._steering.pop(0))

    async def _maybe_compact(self) -> None:
        if self.context.used_fraction() >= self.options.compact_at:
            await self._compact(trigger="auto")

    async def _compact(self, trigger: str) -> bool:
        result = await compact(self.provider, self.context)
        if result is None:
            return False
        self.context.total_usage = self.context.total_usage + result.usage
        self.emit(CompactionDone(tokens_before=result.tokens_before,
                                 tokens_after=result.tokens_after, summary=result.summary,
                                 ledger=tuple(result.ledger), kept_messages=result.kept_messages,
                                 trigger=trigger, agent_id=self.agent_id))
        return True

    async def _checkpoint(self, trigger: str) -> None:
        if self.checkpointer is None:
            return
        try:
            checkpoint_id = await self.checkpointer(trigger)
        except Exception as exc:  # a failed snapshot must never stop the agent
            self.emit(Notice(level="warning", message=f"Checkpoint failed: {exc}",
                             agent_id=self.agent_id))
            return
        if checkpoint_id:
            self.emit(CheckpointCreated(checkpoint_id=checkpoint_id, trigger=trigger,
                                        agent_id=self.agent_id))

    def _add_tool_message(self, message: Message) -> None:
        self.context.add(message)
        self.emit(ToolMessageAdded(message=message, agent_id=self.agent_id))

    def _repair_after_cancel(self) -> None:
        for call_id in self.context.dangling_tool_calls():
            self._add_tool_message(Message(role="tool", content=INTERRUPTED, tool_call_id=call_id,
                                           is_error=True))

    def _finish(self, reason: str, text: str, start: Usage, steps: int, error: str = "", *,
                status: int | None = None, retryable: bool = False) -> TurnResult:
        total = self.context.total_usage
        usage = Usage(total.input_tokens - start.input_tokens,
                      total.output_tokens - start.output_tokens,
                      total.cache_read_tokens - start.cache_read_tokens,
                      total.cache_write_tokens - start.cache_write_tokens)
        result = TurnResult(reason, text, usage, steps, error, status, retryable,
                            tuple(self.executor.denials))
        self.emit(TurnFinished(stop_reason=reason, result=text, num_steps=steps, usage=usage,
                               error=error, agent_id=self.agent_id))
        return result
