"""The transcript widget on its own: windowing of long histories, todos and
notices (fed with the agent's real event types)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from kimi_code.events import (
    AssistantMessage,
    Notice,
    RetryScheduled,
    TextDelta,
    TodosUpdated,
    TurnFinished,
    UserMessageAdded,
)
from kimi_code.llm.base import Message, Usage
from kimi_code.ui.widgets.assistant_block import AssistantBlock
from kimi_code.ui.widgets.blocks import NoticeBlock, TodoBlock, UserBlock
from kimi_code.ui.widgets.transcript import LOAD_STEP, MAX_MOUNTED, Transcript


class Harness(App[None]):
    def compose(self) -> ComposeResult:
        yield Transcript()


async def test_long_history_is_windowed_and_earlier_blocks_come_back() -> None:
    messages = []
    for i in range(600):
        messages += [Message("user", f"q{i}"), Message("assistant", f"a{i}")]
    app = Harness()
    async with app.run_test(size=(80, 24)) as pilot:
        transcript = app.query_one(Transcript)
        transcript.load_history(messages)
        await pilot.pause()
        assert len(transcript.blocks) == MAX_MOUNTED - 1
        assert transcript.total_blocks == 1200
        assert transcript.blocks[-1].text == "a599"
        transcript.show_earlier()
        await pilot.pause()
        assert len(transcript.blocks) == MAX_MOUNTED - 1 + LOAD_STEP
        index = 1200 - (MAX_MOUNTED - 1 + LOAD_STEP)  # the first message now on screen
        first = transcript.blocks[0]
        assert isinstance(first, (UserBlock, AssistantBlock))
        assert first.text == f"{'q' if index % 2 == 0 else 'a'}{index // 2}"
        # new blocks push old ones out again, keeping the window bounded
        for i in range(MAX_MOUNTED):
            transcript.add(NoticeBlock(f"n{i}"))
        await pilot.pause()
        assert len(transcript.blocks) == MAX_MOUNTED - 1
        assert transcript.total_blocks == 1200 + MAX_MOUNTED


async def test_notices_todos_and_a_non_streamed_answer() -> None:
    app = Harness()
    async with app.run_test(size=(100, 30)) as pilot:
        t = app.query_one(Transcript)
        await t.handle(UserMessageAdded(message=Message("user", "go")))
        await t.handle(RetryScheduled(attempt=1, max_attempts=5, delay_s=0.5, error="busy", status=429))
        await t.handle(TodosUpdated(todos=({"content": "a", "status": "completed"},
                                           {"content": "b", "status": "in_progress"})))
        await t.handle(TodosUpdated(todos=({"content": "a", "status": "completed"},
                                           {"content": "b", "status": "completed"})))
        await t.handle(AssistantMessage(message=Message("assistant", "whole answer"), usage=Usage()))
        await t.handle(TextDelta(text="late "))  # a new message after the complete one
        await t.handle(Notice(level="error", message="boom"))
        await t.handle(TurnFinished(stop_reason="provider_error", result="", num_steps=1,
                                    usage=Usage(), error="HTTP 500"))
        await pilot.pause()
        kinds = [type(b).__name__ for b in t.blocks]
        assert kinds == ["UserBlock", "NoticeBlock", "TodoBlock", "AssistantBlock",
                         "AssistantBlock", "NoticeBlock", "NoticeBlock"]
        todo = [b for b in t.blocks if isinstance(b, TodoBlock)][0]
        assert all(item["status"] == "completed" for item in todo.todos)
        notices = [b.message for b in t.blocks if isinstance(b, NoticeBlock)]
        assert "attempt 1/5 (HTTP 429): busy" in notices[0]
        assert notices[-1] == "The turn failed: HTTP 500"
