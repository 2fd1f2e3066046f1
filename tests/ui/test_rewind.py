"""/undo and /rewind going back in the conversation as well as the files: through the real app,
real checkpoints (a shadow git store) and the real session log (SQLite), against the scripted
model server."""

from __future__ import annotations

from pathlib import Path

from kimi_code.session.store import SessionStore
from kimi_code.ui.screens.picker import PickerScreen
from kimi_code.ui.widgets.blocks import NoticeBlock, UserBlock
from tests.support.tui import last_request_messages, make_app, read_edit_script, type_text, until

SIZE = (100, 32)
ORIGINAL = "def main():\n    return 1\n"
EDITED = "def main():\n    return 2\n"


async def send(pilot, text: str) -> None:
    await type_text(pilot, text)
    await pilot.press("enter")


def notices(app) -> list[str]:
    return [b.message for b in app.transcript.blocks if isinstance(b, NoticeBlock)]


async def pick(pilot, needle: str) -> None:
    """In the picker on screen, filter by `needle` and take the first match."""
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, PickerScreen), "a picker")
    app.screen.query_one("#filter").value = needle
    await pilot.pause()
    await pilot.press("enter")


async def two_turns(pilot) -> None:
    """Turn 1 edits src/main.py ("change it"); turn 2 only talks ("and then?")."""
    app = pilot.app
    await until(pilot, lambda: app.ready, "session open")
    await send(pilot, "change it")
    await until(pilot, lambda: app.turns_done == 1, "first turn")
    await send(pilot, "and then?")
    await until(pilot, lambda: app.turns_done == 2, "second turn")


async def test_rewind_both_to_the_first_turn(server, workspace: Path) -> None:
    server.add(*read_edit_script(), {"text": "Nothing else."}, {"text": "Fresh start."})
    app = make_app(mode="accept-edits")
    async with app.run_test(size=SIZE) as pilot:
        await two_turns(pilot)
        assert (workspace / "src" / "main.py").read_text() == EDITED
        assert len(app.session.agent.context.messages) == 8
        await send(pilot, "/rewind")
        await until(pilot, lambda: isinstance(app.screen, PickerScreen), "checkpoint picker")
        labels = [c.label for c in app.screen.choices]  # newest first
        assert labels[-1] == "turn: change it" and labels[0] == "turn: and then?"
        await pick(pilot, "turn: change it")
        await until(pilot, lambda: isinstance(app.screen, PickerScreen)
                    and app.screen.choices[0].value == "both", "scope picker")
        both = app.screen.choices[0]
        assert both.detail == "1 file(s) change · 8 later message(s) dropped"
        await pilot.press("enter")  # "both" is highlighted
        await until(pilot, lambda: any("Conversation rewound" in n for n in notices(app)),
                    "rewound")
        assert (workspace / "src" / "main.py").read_text() == ORIGINAL
        assert app.session.agent.context.messages == []
        assert "8 messages dropped" in notices(app)[-1]
        assert app.prompt.text == "change it"  # the dropped turn's prompt, ready to edit
        assert not [b for b in app.transcript.blocks if isinstance(b, UserBlock)]
        app.prompt.clear()
        await send(pilot, "start over")
        await until(pilot, lambda: app.turns_done == 3, "third turn")
        assert [m["content"] for m in last_request_messages(server) if m["role"] == "user"] \
            == ["start over"]  # the model never sees the rewound turns
        session_id, live = app.session.session_id, list(app.session.agent.context.messages)
    with SessionStore() as store:  # a later resume sees the same conversation
        assert store.messages(session_id) == live


async def test_undo_conversation_only_keeps_the_files(server, workspace: Path) -> None:
    server.add(*read_edit_script(), {"text": "Nothing else."}, {"text": "Again."})
    app = make_app(mode="accept-edits")
    async with app.run_test(size=SIZE) as pilot:
        await two_turns(pilot)
        first_turn = list(app.session.agent.context.messages[:6])
        await send(pilot, "/undo conversation")  # the scope given: no picker
        await until(pilot, lambda: any("Conversation rewound" in n for n in notices(app)),
                    "rewound")
        assert app.session.agent.context.messages == first_turn
        assert (workspace / "src" / "main.py").read_text() == EDITED
        assert app.prompt.text == "and then?"
        users = [b.text for b in app.transcript.blocks if isinstance(b, UserBlock)]
        assert users == ["change it"]
        # a second rewind, stamped after the first, goes back further and stays consistent
        app.prompt.clear()
        await send(pilot, "/undo both")
        await until(pilot, lambda: app.session.agent.context.messages == [], "second rewind")
        assert (workspace / "src" / "main.py").read_text() == ORIGINAL
        session_id = app.session.session_id
    with SessionStore() as store:
        assert store.messages(session_id) == []


async def test_user_edits_are_overwritten_only_when_chosen(server, workspace: Path) -> None:
    server.add(*read_edit_script())
    app = make_app(mode="accept-edits")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await send(pilot, "change it")
        await until(pilot, lambda: app.turns_done == 1, "turn")
        (workspace / "src" / "main.py").write_text("def main():\n    return 3  # mine\n")
        history = list(app.session.agent.context.messages)
        await send(pilot, "/undo")
        await until(pilot, lambda: isinstance(app.screen, PickerScreen), "scope picker")
        values = [c.value for c in app.screen.choices]
        assert values == ["both", "both+force", "code", "code+force", "conversation"]
        await pilot.press("enter")  # plain "both": refused, and the conversation stays too
        await until(pilot, lambda: any("Not restored" in n for n in notices(app)), "refusal")
        assert "return 3  # mine" in (workspace / "src" / "main.py").read_text()
        assert app.session.agent.context.messages == history
        await send(pilot, "/undo")
        await pick(pilot, "files only, overwriting")
        await until(pilot, lambda: any("Restored" in n for n in notices(app)), "restored")
        assert (workspace / "src" / "main.py").read_text() == ORIGINAL
        assert app.session.agent.context.messages == history


async def test_bad_arguments_say_what_is_accepted(server, workspace: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await send(pilot, "/undo everything")
        assert "/undo takes files, conversation, both or force, not 'everything'" \
            in notices(app)[-1]
        await send(pilot, "/rewind deadbeef files")
        await until(pilot, lambda: "deadbeef" in notices(app)[-1], "unknown checkpoint")
