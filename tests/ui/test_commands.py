"""Slash commands, completion, themes and sessions, driven through the real app."""

from __future__ import annotations

import tomllib
from pathlib import Path

from kimi_code.app.interactive import InteractiveSession
from kimi_code.ui.screens.help import HelpScreen
from kimi_code.ui.screens.picker import PickerScreen
from kimi_code.ui.widgets.assistant_block import AssistantBlock
from kimi_code.ui.widgets.blocks import NoticeBlock, UserBlock
from tests.support.tui import (
    last_request_messages,
    make_app,
    read_edit_script,
    transcript_text,
    type_text,
    until,
)

SIZE = (100, 32)


async def send(pilot, text: str) -> None:
    await type_text(pilot, text)
    await pilot.press("enter")


def notices(app) -> list[str]:
    return [b.message for b in app.transcript.blocks if isinstance(b, NoticeBlock)]


async def test_slash_completion_menu_and_commands(server, workspace: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await type_text(pilot, "/mo")
        assert app.menu.visible and app.menu.values == ["/model", "/mode"]
        await pilot.press("down", "tab")
        assert app.prompt.text == "/mode "
        await type_text(pilot, "yolo")
        await pilot.press("enter")
        assert app.session.permission_mode == "yolo"
        assert app.session.agent.policy.mode == "yolo"
        assert app.status.info.mode == "yolo"
        await pilot.press("shift+tab")  # cycles: yolo -> read-only
        assert app.session.permission_mode == "read-only"
        await send(pilot, "/frobnicate")
        assert notices(app)[-1].startswith("Unknown command /frobnicate")
        await send(pilot, "/help")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await send(pilot, "/cost")
        assert "0 input tokens" in notices(app)[-1]


async def test_mention_completion_over_tracked_files(server, workspace: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready and bool(app.files), "files listed")
        await type_text(pilot, "look at @mai")
        assert app.menu.visible and app.menu.values[0] == "src/main.py"
        await pilot.press("tab")
        assert app.prompt.text == "look at @src/main.py "
        assert not app.menu.visible
        await type_text(pilot, "and @READ")
        assert app.menu.values == ["README.md"]
        await pilot.press("escape")  # closes the menu, does not interrupt anything
        assert not app.menu.visible


async def test_theme_switch_is_live_and_persisted(server, home: Path, workspace: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        assert app.theme == "kimi-dark"
        await send(pilot, "/theme")
        assert isinstance(app.screen, PickerScreen)
        await type_text_into(pilot, "light")
        await pilot.press("enter")
        assert app.theme == "kimi-light"
        assert app.diff_palette["added"] == "#1B5E20"
        await send(pilot, "/theme no-such-theme")
        assert "No theme 'no-such-theme'" in notices(app)[-1]
        assert app.theme == "kimi-light"
    config = tomllib.loads((home / "config.toml").read_text())
    assert config["ui"]["theme"] == "kimi-light"


async def test_bad_user_theme_is_reported_and_falls_back(server, home: Path, workspace: Path) -> None:
    (home / "themes").mkdir()
    (home / "themes" / "broken.toml").write_text('name = "broken"\n[colors]\nprimary = "red"\n')
    (home / "themes" / "mine.toml").write_text('name = "mine"\ndark = false\n[colors]\n'
                                               'primary = "#112233"\nbackground = "#ffffff"\n')
    (home / "config.toml").write_text('[ui]\ntheme = "broken"\n')
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        text = "\n".join(notices(app))
        assert "broken.toml: [colors] primary = 'red' is not a colour" in text
        assert "Theme 'broken' is not available" in text
        assert app.theme == "kimi-dark"
        await send(pilot, "/theme mine")
        assert app.theme == "mine"


async def test_resume_a_session_from_the_picker(server, workspace: Path) -> None:
    server.add({"text": "the earlier answer"})
    earlier = InteractiveSession.create()
    earlier.open()
    await earlier.submit("the earlier question")
    earlier_id = earlier.session_id
    await earlier.close()

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        assert app.session.session_id != earlier_id
        await send(pilot, "/sessions")
        picker = app.screen
        assert isinstance(picker, PickerScreen)
        assert [c.value for c in picker.choices] == [earlier_id]
        assert picker.choices[0].label == "the earlier question"
        await pilot.press("enter")
        await until(pilot, lambda: app.session.session_id == earlier_id, "resumed")
        await pilot.pause()
        users = [b.text for b in app.transcript.blocks if isinstance(b, UserBlock)]
        answers = [b.text for b in app.transcript.blocks if isinstance(b, AssistantBlock)]
        assert users == ["the earlier question"] and answers == ["the earlier answer"]
        assert f"Resumed session {earlier_id}" in transcript_text(app)


async def test_new_session_and_clear(server, workspace: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        first = app.session.session_id
        await send(pilot, "/new")
        await until(pilot, lambda: app.session.session_id != first, "new session")
        await send(pilot, "/clear")
        await pilot.pause()
        assert app.transcript.blocks == []


async def test_undo_restores_files_from_the_turn_checkpoint(server, workspace: Path) -> None:
    server.add(*read_edit_script())
    app = make_app(mode="accept-edits")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await send(pilot, "change it")
        await until(pilot, lambda: app.turns_done == 1, "turn end")
        assert "return 2" in (workspace / "src" / "main.py").read_text()
        history = list(app.session.agent.context.messages)
        await send(pilot, "/undo")
        await until(pilot, lambda: isinstance(app.screen, PickerScreen), "scope picker")
        assert [c.value for c in app.screen.choices] == ["both", "code", "conversation"]
        await type_text_into(pilot, "files only")
        await pilot.press("enter")
        await until(pilot, lambda: any("Restored" in n for n in notices(app)), "restore notice")
        assert app.session.agent.context.messages == history  # files only: the talk stays
    assert (workspace / "src" / "main.py").read_text() == "def main():\n    return 1\n"


async def type_text_into(pilot, text: str) -> None:
    pilot.app.focused.value = text
    await pilot.pause()


async def test_init_sends_its_prompt_and_shows_the_command(server, workspace: Path) -> None:
    server.add({"text": "Wrote AGENTS.md."})
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await send(pilot, "/init")
        await until(pilot, lambda: app.turns_done == 1, "turn end")
        sent = last_request_messages(server)[-1]["content"]
        assert "AGENTS.md" in sent and len(sent) > 200  # the built-in prompt went to the model
        user = [b for b in app.transcript.blocks if isinstance(b, UserBlock)][-1]
        assert str(user.render()) == "› /init"
