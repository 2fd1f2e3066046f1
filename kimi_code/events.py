"""The one typed event stream the agent emits.

Front ends (TUI, headless output, the session log) only consume these events; none of them
contains agent logic. Every event is a frozen dataclass; `agent_id` is "" for the main agent and
the spawning tool call's id for a subagent (which is what `parent_tool_use_id` means in
stream-json).

The set is closed: `AnyEvent` (end of file) is the union of every event, and consumers dispatch
with `match closed(event):` ending in `case _: assert_never(event)`, so the type checker names
every consumer that does not handle (or explicitly ignore) a newly added event.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypeAlias, cast, get_args

from kimi_code.llm.base import Message, ToolCall, Usage


@dataclass(frozen=True, kw_only=True)
class Event:
    agent_id: str = ""

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind
        return data


@dataclass(frozen=True, kw_only=True)
class SessionStarted(Event):
    session_id: str
    cwd: str
    model: str
    tools: tuple[str, ...]
    permission_mode: str
    resumed: bool = False


@dataclass(frozen=True, kw_only=True)
class TurnStarted(Event):
    """The user sent a prompt; a turn (several steps) begins."""

    prompt: str


@dataclass(frozen=True, kw_only=True)
class StepStarted(Event):
    step: int


@dataclass(frozen=True, kw_only=True)
class TextDelta(Event):
    text: str


@dataclass(frozen=True, kw_only=True)
class ThinkingDelta(Event):
    text: str


@dataclass(frozen=True, kw_only=True)
class AssistantMessage(Event):
    """A complete assistant message of one step (after streaming), with that step's usage."""

    message: Message
    usage: Usage


@dataclass(frozen=True, kw_only=True)
class ToolCallStarted(Event):
    call: ToolCall


@dataclass(frozen=True, kw_only=True)
class ToolCallFinished(Event):
    """A tool call's result, as the model will see it (`message` has role "tool")."""

    call: ToolCall
    message: Message
    duration_ms: int
    display: dict[str, Any] = field(default_factory=dict)  # e.g. {"diff": "..."} for the UI


@dataclass(frozen=True, kw_only=True)
class ToolMessageAdded(Event):
    """A tool result entered the history (in call order, after its assistant message)."""

    message: Message


@dataclass(frozen=True, kw_only=True)
class PermissionDenied(Event):
    tool_name: str
    tool_use_id: str
    tool_input: dict[str, Any]
    reason: str


@dataclass(frozen=True, kw_only=True)
class UserMessageAdded(Event):
    """A user message entered the history (the prompt, or a steering message mid-turn)."""

    message: Message


@dataclass(frozen=True, kw_only=True)
class RetryScheduled(Event):
    attempt: int
    max_attempts: int
    delay_s: float
    error: str
    status: int | None = None


@dataclass(frozen=True, kw_only=True)
class CompactionDone(Event):
    """History was compacted: `summary` replaces everything before the boundary."""

    tokens_before: int
    tokens_after: int
    summary: str
    ledger: tuple[str, ...] = ()
    kept_messages: int = 0  # recent messages kept verbatim after the summary
    trigger: str = "auto"  # auto | manual | overflow


@dataclass(frozen=True, kw_only=True)
class Notice(Event):
    """Something the user should see that is not part of the conversation."""

    level: str  # info | warning | error
    message: str


@dataclass(frozen=True, kw_only=True)
class CheckpointCreated(Event):
    checkpoint_id: str
    trigger: str


@dataclass(frozen=True, kw_only=True)
class SubagentStarted(Event):
    subagent_id: str
    subagent_type: str
    description: str
    item: str | None = None  # the AgentSwarm item this subagent was given


@dataclass(frozen=True, kw_only=True)
class SubagentProgress(Event):
    subagent_id: str
    step: int
    last_tool: str = ""
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True, kw_only=True)
class SubagentCompleted(Event):
    subagent_id: str
    status: str  # success | failed | cancelled | timeout
    summary: str
    usage: Usage = field(default_factory=Usage)
    files_changed: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TodosUpdated(Event):
    todos: tuple[dict[str, str], ...]


@dataclass(frozen=True, kw_only=True)
class TurnFinished(Event):
    """The turn ended. `stop_reason`: end_turn | max_turns | error | cancelled | budget."""

    stop_reason: str
    result: str
    num_steps: int
    usage: Usage
    error: str = ""


# The closed union: a new event class must be added here (tests/test_events.py checks that
# every Event subclass is), and then every `match` ending in assert_never must handle it.
AnyEvent: TypeAlias = (
    SessionStarted | TurnStarted | StepStarted | TextDelta | ThinkingDelta | AssistantMessage
    | ToolCallStarted | ToolCallFinished | ToolMessageAdded | PermissionDenied | UserMessageAdded
    | RetryScheduled | CompactionDone | Notice | CheckpointCreated | SubagentStarted
    | SubagentProgress | SubagentCompleted | TodosUpdated | TurnFinished
)
EVENT_TYPES: tuple[type[Event], ...] = get_args(AnyEvent)


def closed(event: Event) -> AnyEvent:
    """`event` as a member of the closed union, for an exhaustive `match`. Raises TypeError for
    an Event subclass outside the union (one added without being listed in AnyEvent)."""
    if not isinstance(event, EVENT_TYPES):
        raise TypeError(f"{type(event).__name__} is not in kimi_code.events.AnyEvent")
    return cast(AnyEvent, event)  # the isinstance check above is the proof mypy cannot follow
