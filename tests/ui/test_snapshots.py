"""SVG snapshots (pytest-textual-snapshot) of the key screens: the main screen after a turn, a
diff block, the approval modal, and the main screen in each bundled theme.

Update after an intended visual change: pytest tests/ui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kimi_code.ui.screens.approval import ApprovalScreen
from kimi_code.ui.themes import BUNDLED_DIR
from kimi_code.ui.widgets.tool_block import ToolBlock
from tests.support.tui import make_app, read_edit_script, type_text, until

SIZE = (100, 34)
ANSWER = {"thinking": "The user wants a greeting.",
          "text": "Here is the function:\n\n```python\ndef greet(name: str) -> str:\n"
                  "    return f\"hello {name}\"\n```\n\nCall it with **any** name.",
          "usage": {"input_tokens": 1200, "output_tokens": 48}}


async def freeze(pilot, *, prompt_focused: bool = True) -> None:
    """Make the screen deterministic: git state known, fixed durations, no cursor blink."""
    app = pilot.app
    await app.refresh_git()
    # The baselines show the prompt focused with a steady cursor. Focus can still be on its way
    # back to the prompt when a turn ends on a loaded machine: set it and wait for it.
    if prompt_focused:
        app.set_focus(app.prompt)
        await until(pilot, lambda: app.prompt.has_focus, "prompt focused")
    app.prompt.cursor_blink = False
    # A blink tick already under way when blinking is paused can still hide the cursor (seen
    # under load): stop the timer for good and show the cursor, as the baselines have it.
    app.prompt.blink_timer.stop()
    app.prompt._cursor_visible = True
    for block in app.transcript.blocks:
        if isinstance(block, ToolBlock) and block.state.duration_ms is not None:
            block.state.duration_ms = 42
            block._refresh_parts()
    # TextArea's line cache is keyed without focus when the cursor does not blink, so a line drawn
    # before focus came back would be reused without its cursor: drop it before the screenshot.
    app.prompt._line_cache.clear()
    app.prompt.refresh()


async def run_turn(pilot, prompt: str) -> None:
    app = pilot.app
    await until(pilot, lambda: app.ready, "session open")
    done = app.turns_done
    await type_text(pilot, prompt)
    await pilot.press("enter")
    await until(pilot, lambda: app.turns_done == done + 1, "turn end")
    await freeze(pilot)
    await pilot.pause()


def test_main_screen(server, snap_compare) -> None:
    server.add(ANSWER)

    async def before(pilot) -> None:
        await run_turn(pilot, "write a greet function")

    assert snap_compare(make_app(), run_before=before, terminal_size=SIZE)


def test_diff_block(server, snap_compare) -> None:
    server.add(*read_edit_script("return 2  # changed"))

    async def before(pilot) -> None:
        await run_turn(pilot, "change main")

    assert snap_compare(make_app(mode="accept-edits"), run_before=before, terminal_size=SIZE)


def test_approval_modal(server, snap_compare) -> None:
    server.add({"tool_calls": [{"id": "w1", "name": "Write", "arguments": {
        "file_path": "notes.txt", "content": "first line\nsecond\x1b[31m line\n"}}]})

    async def before(pilot) -> None:
        app = pilot.app
        await until(pilot, lambda: app.ready, "session open")
        await type_text(pilot, "write notes")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen), "approval modal")
        await freeze(pilot, prompt_focused=False)
        await pilot.pause()

    assert snap_compare(make_app(mode="ask"), run_before=before, terminal_size=SIZE)


@pytest.mark.parametrize("theme", sorted(p.stem for p in BUNDLED_DIR.glob("*.toml")))
def test_bundled_theme(theme: str, server, home: Path, snap_compare) -> None:
    (home / "config.toml").write_text(f'[ui]\ntheme = "{theme}"\n')
    server.add(ANSWER)

    async def before(pilot) -> None:
        await run_turn(pilot, "write a greet function")
        assert pilot.app.theme == theme

    assert snap_compare(make_app(), run_before=before, terminal_size=SIZE)
