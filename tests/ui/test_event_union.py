"""The TUI transcript takes every event of the closed union (its `match` ends in
assert_never, so a new event it does not handle fails here and in mypy)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from kimi_code.ui.widgets.blocks import NoticeBlock
from kimi_code.ui.widgets.tool_block import ToolBlock
from kimi_code.ui.widgets.transcript import Transcript
from tests.support.events import one_of_each


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield Transcript(id="transcript")


async def test_transcript_takes_every_event_of_the_union() -> None:
    app = _Host()
    async with app.run_test() as pilot:
        transcript = app.query_one(Transcript)
        for event in one_of_each():
            await transcript.handle(event)
        await pilot.pause()
        kinds = {type(block) for block in transcript.blocks}
        assert ToolBlock in kinds and NoticeBlock in kinds
