"""The conversation transcript: renders agent events as blocks.

Smooth on sessions of thousands of messages because (1) a token only ever touches the last
Markdown block (see assistant_block.py), and (2) at most MAX_MOUNTED blocks are live widgets:
older ones are replaced by a cheap factory (`rebuild`) and come back on demand ("show earlier").
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, assert_never, cast

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widget import AwaitMount, Widget
from textual.widgets import Button

from kimi_code.events import (
    AssistantMessage,
    CheckpointCreated,
    CompactionDone,
    Event,
    Notice,
    PermissionDenied,
    RetryScheduled,
    SessionStarted,
    StepStarted,
    SubagentCompleted,
    SubagentProgress,
    SubagentStarted,
    TextDelta,
    ThinkingDelta,
    TodosUpdated,
    ToolCallFinished,
    ToolCallStarted,
    ToolMessageAdded,
    TurnFinished,
    TurnStarted,
    UserMessageAdded,
    closed,
)
from kimi_code.llm.base import Message
from kimi_code.ui.render import human_tokens
from kimi_code.ui.swarm_state import SPAWNING_TOOLS, Fold, fold_from_result
from kimi_code.ui.widgets.assistant_block import AssistantBlock, ThinkingBlock
from kimi_code.ui.widgets.blocks import NoticeBlock, TodoBlock, UserBlock
from kimi_code.ui.widgets.tool_block import ToolBlock


class _Rebuildable(Protocol):
    def rebuild(self) -> Widget:
        """A fresh, unmounted copy of the block (how dropped blocks come back)."""
        ...


MAX_MOUNTED = 100  # live widgets: layout cost grows with them
LOAD_STEP = 50
STOP_MESSAGES = {
    "cancelled": ("Interrupted.", "warning"),
    "max_turns": ("Stopped: the maximum number of steps was reached.", "warning"),
    "repeated_calls": ("Stopped: the agent repeated the same call.", "warning"),
    "budget": ("Stopped: the budget was reached.", "warning"),
}


class Transcript(VerticalScroll):
    DEFAULT_CSS = """
    Transcript { height: 1fr; padding: 0 1; scrollbar-size-vertical: 1; background: $background; }
    Transcript > #show-earlier { width: 100%; margin: 0; height: 1; border: none;
                                 background: $panel; color: $text-muted; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._evicted: list[Callable[[], Widget]] = []  # oldest first
        self._live: deque[Widget] = deque()  # mounted blocks, oldest first
        self._assistant: AssistantBlock | None = None
        self._thinking: ThinkingBlock | None = None
        self._tools: dict[str, ToolBlock] = {}  # call id -> block
        self._todo: TodoBlock | None = None
        self._in_turn = False  # a user message inside a running turn is a steering message
        self.aliases: dict[str, str] = {}  # a built-in prompt's full text -> what to show
        self._earlier = Button("", id="show-earlier")
        self._earlier.display = False

    def compose(self) -> Any:
        yield self._earlier

    def on_mount(self) -> None:
        self.anchor()

    # ---- blocks ----------------------------------------------------------------------------

    @property
    def blocks(self) -> list[Widget]:
        """The blocks on screen, oldest first (removals are asynchronous in Textual, so this
        is our own list rather than `children`)."""
        return list(self._live)

    @property
    def total_blocks(self) -> int:
        return len(self._evicted) + len(self.blocks)

    def add(self, block: Widget) -> AwaitMount:
        """Append a block (awaitable: await it to know the block is mounted)."""
        mounted = self.mount(block)
        self._live.append(block)
        while len(self._live) >= MAX_MOUNTED:
            old = self._live.popleft()
            self._evicted.append(cast("_Rebuildable", old).rebuild)  # every block has one
            old.remove()
        self._update_earlier()
        return mounted

    def _update_earlier(self) -> None:
        count = len(self._evicted)
        self._earlier.display = count > 0
        self._earlier.label = f"▲ {count} earlier block{'s' if count != 1 else ''} — show {min(count, LOAD_STEP)} more"

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button is self._earlier:
            event.stop()
            self.show_earlier()

    def show_earlier(self, count: int = LOAD_STEP) -> None:
        """Bring back up to `count` of the dropped blocks, above the ones on screen."""
        if not self._evicted:
            return
        take, self._evicted = self._evicted[-count:], self._evicted[:-count]
        widgets = [factory() for factory in take]
        self._live.extendleft(reversed(widgets))
        self.mount_all(widgets, after=self._earlier)
        self._update_earlier()

    def clear(self) -> None:
        """Remove every block (the conversation itself is untouched)."""
        self._evicted.clear()
        self._assistant = self._thinking = self._todo = None
        self._tools.clear()
        for block in self._live:
            block.remove()
        self._live.clear()
        self._update_earlier()

    # ---- history (resume) ------------------------------------------------------------------

    def load_history(self, messages: list[Message]) -> None:
        """Show an existing conversation: the last MAX_MOUNTED blocks live, the rest on demand."""
        self.clear()
        factories: list[Callable[[], Widget]] = []
        results = {m.tool_call_id: m for m in messages if m.role == "tool"}
        for message in messages:
            factories.extend(_history_factories(message, results))
        live = factories[-(MAX_MOUNTED - 1):]
        self._evicted = factories[: len(factories) - len(live)]
        widgets = [factory() for factory in live]
        self._live.extend(widgets)
        self.mount_all(widgets)
        self._update_earlier()
        self.scroll_end(animate=False)

    # ---- events ----------------------------------------------------------------------------

    async def handle(self, event: Event) -> None:
        """Render one event of the main agent (subagent events go to `handle_subagent`).
        Exhaustive over the closed union: mypy names an event this does not handle."""
        event = closed(event)
        match event:
            case TextDelta():
                if self._assistant is None:
                    self._assistant = AssistantBlock()
                    await self.add(self._assistant)
                await self._assistant.append_text(event.text)
            case ThinkingDelta():
                if self._thinking is None:
                    self._thinking = ThinkingBlock()
                    self.add(self._thinking)
                self._thinking.append_text(event.text)
            case UserMessageAdded():
                await self._end_message()
                content = event.message.content
                self.add(UserBlock(self.aliases.get(content, content), steer=self._in_turn))
                self._in_turn = True
            case AssistantMessage():
                self._complete_message(event.message)
                await self._end_message()
            case StepStarted():
                await self._end_message()
            case ToolCallStarted():
                await self._end_message()
                block = ToolBlock.for_call(event.call.id, event.call.name, event.call.arguments)
                self._tools[event.call.id] = block
                self.add(block)
            case ToolCallFinished():
                if (done := self._tools.get(event.call.id)) is not None:
                    done.finish(is_error=event.message.is_error, output=event.message.content,
                                duration_ms=event.duration_ms, display=event.display)
            case TurnFinished():
                await self._end_message()
                self._in_turn = False
                self._turn_finished(event)
            case PermissionDenied() | RetryScheduled() | CompactionDone() | Notice() \
                    | TodosUpdated():
                self._other(event)
            case SessionStarted() | TurnStarted() | ToolMessageAdded() | CheckpointCreated() \
                    | SubagentStarted() | SubagentProgress() | SubagentCompleted():
                pass  # the status bar and the swarm panel show these
            case _:
                assert_never(event)

    def _complete_message(self, message: Message) -> None:
        """A provider that did not stream: show the complete message at once."""
        if message.thinking and self._thinking is None:
            self.add(ThinkingBlock(message.thinking, done=True))
        if message.content and self._assistant is None:
            self._assistant = AssistantBlock(message.content)
            self.add(self._assistant)

    def _other(self, event: PermissionDenied | RetryScheduled | CompactionDone | Notice
               | TodosUpdated) -> None:
        match event:
            case PermissionDenied():
                block = self._tools.get(event.tool_use_id)
                if block is not None:
                    block.deny(event.reason)
            case RetryScheduled():
                status = f" (HTTP {event.status})" if event.status else ""
                self.add(NoticeBlock(f"Retrying in {event.delay_s:.1f}s, attempt {event.attempt}/"
                                     f"{event.max_attempts}{status}: {event.error}", "warning"))
            case CompactionDone():
                self.add(NoticeBlock(f"Context compacted ({event.trigger}): "
                                     f"{human_tokens(event.tokens_before)} → "
                                     f"{human_tokens(event.tokens_after)} tokens", "info"))
            case Notice():
                self.add(NoticeBlock(event.message, event.level))
            case TodosUpdated():
                if self._todo is not None and self.blocks and self.blocks[-1] is self._todo:
                    self._todo.set_todos(event.todos)
                else:
                    self._todo = TodoBlock(event.todos)
                    self.add(self._todo)
            case _:
                assert_never(event)

    def _turn_finished(self, event: TurnFinished) -> None:
        if event.stop_reason in STOP_MESSAGES:
            message, level = STOP_MESSAGES[event.stop_reason]
            self.add(NoticeBlock(message, level))
        elif event.stop_reason != "end_turn":
            self.add(NoticeBlock(f"The turn failed: {event.error or event.stop_reason}", "error"))
        for block in self._tools.values():
            if block.state.status == "running":
                block.finish(is_error=True, output="Interrupted.", duration_ms=0)

    async def _end_message(self) -> None:
        if self._assistant is not None:
            await self._assistant.finish()
        if self._thinking is not None:
            self._thinking.finish()
        self._assistant = self._thinking = None

    def swarm_progress(self, call_id: str, line: Text) -> None:
        """Live subagent counts on a running Agent/AgentSwarm call's block."""
        block = self._tools.get(call_id)
        if block is not None:
            block.swarm_progress(line)

    def fold_swarm(self, fold: Fold) -> None:
        """A spawning call finished: its subagents become one summary line on the call's block
        (or a line of its own when no block shows that call)."""
        block = self._tools.get(fold.call_id)
        if block is not None:
            block.swarm_folded(fold.summary, fold.detail, fold.count)
        else:
            self.add(NoticeBlock(f"Subagents: {fold.summary.plain}", "info"))

    # ---- status ----------------------------------------------------------------------------

    def running_tools(self) -> list[ToolBlock]:
        return [b for b in dict.fromkeys(self._tools.values()) if b.state.status == "running"
                and b.is_mounted]


def _history_factories(message: Message, results: dict[str, Message]) -> list[Callable[[], Widget]]:
    """Blocks for one stored message (tool results are shown inside their call's block)."""
    out: list[Callable[[], Widget]] = []
    if message.role == "user":
        out.append(partial(UserBlock, message.content))
    elif message.role == "assistant":
        if message.thinking:
            out.append(partial(ThinkingBlock, message.thinking, done=True))
        if message.content:
            out.append(partial(AssistantBlock, message.content))
        for call in message.tool_calls:
            out.append(partial(_finished_tool, call.id, call.name, call.arguments,
                               results.get(call.id)))
    return out


def _finished_tool(call_id: str, name: str, arguments: str, result: Message | None) -> ToolBlock:
    block = ToolBlock.for_call(call_id, name, arguments)
    state = block.state
    state.status = "error" if result is None or result.is_error else "ok"
    state.output = result.content if result is not None else "(no result recorded)"
    if name in SPAWNING_TOOLS and result is not None:
        fold = fold_from_result(call_id, result.content)
        if fold is not None:
            state.swarm_line, state.swarm_detail, state.swarm_count = \
                fold.summary, fold.detail, fold.count
    return block
