"""A whole turn with an approval at the smallest supported size (80x24): nothing crashes, the
modal fits, the answer is on screen."""

from __future__ import annotations

from pathlib import Path

from kimi_code.ui.screens.approval import ApprovalScreen
from tests.support.tui import make_app, read_edit_script, type_text, until


async def test_turn_with_approval_at_80x24(server, workspace: Path) -> None:
    server.add(*read_edit_script())
    app = make_app(mode="ask")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await type_text(pilot, "change main to return 2 " + "please " * 20)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen), "approval modal")
        modal = app.screen.query_one("Vertical, VerticalScroll, Container")
        assert modal.region.width <= 80 and modal.region.height <= 24
        await pilot.press("enter")  # the default answer: allow once
        await until(pilot, lambda: app.turns_done == 1, "turn end")
        await pilot.resize_terminal(60, 20)  # even smaller than supported: must not crash
        await pilot.pause()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
    assert (workspace / "src" / "main.py").read_text() == "def main():\n    return 2\n"
