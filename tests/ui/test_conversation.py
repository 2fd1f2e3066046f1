"""The TUI driven with Pilot against the scripted model server: prompts, streaming, tool blocks,
approvals, interrupts, queueing and steering."""

from __future__ import annotations

from pathlib import Path

from textual import events

from kimi_code.ui.screens.approval import ApprovalScreen
from kimi_code.ui.widgets.assistant_block import AssistantBlock, ThinkingBlock
from kimi_code.ui.widgets.diff_view import DiffView
from kimi_code.ui.widgets.tool_block import ToolBlock
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


async def test_prompt_streams_markdown_and_thinking(server, workspace: Path) -> None:
    server.add({"thinking": "Let me think about it.", "text": "Hello **world**.\n\n```python\n"
                "print(1)\n```\n", "usage": {"input_tokens": 120, "output_tokens": 30}})
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await send(pilot, "say hello")
        await until(pilot, lambda: app.turns_done == 1, "turn end")
        blocks = app.transcript.blocks
        assert [type(b).__name__ for b in blocks] == [
            "NoticeBlock", "UserBlock", "ThinkingBlock", "AssistantBlock"]  # welcome line first
        answer = blocks[-1]
        assert isinstance(answer, AssistantBlock)
        assert answer.text == "Hello **world**.\n\n```python\nprint(1)\n```\n"
        assert answer.source == answer.text  # the widget rendered all of it
        thinking = blocks[2]
        assert isinstance(thinking, ThinkingBlock) and thinking.collapsed
        assert thinking.thinking == "Let me think about it."
        assert app.status.info.tokens_in == 120 and app.status.info.tokens_out == 30
        assert app.prompt.text == ""
        await pilot.press("up")  # history recalls the prompt
        assert app.prompt.text == "say hello"
    assert last_request_messages(server)[-1] == {"role": "user", "content": "say hello"}


async def test_edit_approved_once_shows_diff_block(server, workspace: Path) -> None:
    server.add(*read_edit_script())
    app = make_app(mode="ask")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await send(pilot, "change it")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen), "approval modal")
        modal = app.screen
        assert modal.request.tool_name == "Edit" and modal.request.subject == "src/main.py"
        assert "-    return 1" in modal.diff and "+    return 2" in modal.diff
        await pilot.press("y")
        await until(pilot, lambda: app.turns_done == 1, "turn end")
        edit = [b for b in app.transcript.blocks if isinstance(b, ToolBlock)][-1]
        assert edit.state.name == "Edit" and edit.state.status == "ok"
        assert edit.query_one(DiffView).diff.count("+    return 2") == 1
    assert (workspace / "src" / "main.py").read_text() == "def main():\n    return 2\n"


async def test_edit_denied_with_message_reaches_the_agent(server, workspace: Path) -> None:
    server.add(*read_edit_script())
    app = make_app(mode="ask")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await send(pilot, "change it")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen), "approval modal")
        await pilot.press("m")
        await type_text_in_focused(pilot, "use return 3 instead")
        await pilot.press("enter")
        await until(pilot, lambda: app.turns_done == 1, "turn end")
        edit = [b for b in app.transcript.blocks if isinstance(b, ToolBlock)][-1]
        assert edit.state.status == "denied"
        assert "use return 3 instead" in edit.state.note
    assert (workspace / "src" / "main.py").read_text() == "def main():\n    return 1\n"
    tool_result = [m for m in last_request_messages(server) if m["role"] == "tool"][-1]
    assert "use return 3 instead" in tool_result["content"]


async def test_plain_deny(server, workspace: Path) -> None:
    server.add({"tool_calls": [{"id": "w1", "name": "Write", "arguments": {
        "file_path": "notes.txt", "content": "hi\n"}}]}, {"text": "ok"})
    app = make_app(mode="ask")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await send(pilot, "write notes")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen), "approval modal")
        assert "+hi" in app.screen.diff
        await pilot.press("n")
        await until(pilot, lambda: app.turns_done == 1, "turn end")
    assert not (workspace / "notes.txt").exists()


async def test_allow_always_saves_project_rule_and_stops_asking(server, workspace: Path) -> None:
    write = {"name": "Write", "arguments": {"file_path": "notes.txt", "content": "one\n"}}
    server.add({"tool_calls": [{"id": "w1", **write}]},
               {"tool_calls": [{"id": "w2", "name": "Write", "arguments": {
                   "file_path": "notes.txt", "content": "two\n"}}]},
               {"text": "done"})
    app = make_app(mode="ask")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await send(pilot, "write notes twice")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen), "approval modal")
        modal = app.screen
        assert modal.query_one("#rule").value == "Write(notes.txt)"
        modal.query_one("#scope").value = "project"
        await pilot.press("a")
        await until(pilot, lambda: app.turns_done == 1, "turn end")
        approvals = 1  # the second Write ran without a modal
        assert not isinstance(app.screen, ApprovalScreen)
    assert approvals == 1
    assert (workspace / "notes.txt").read_text() == "two\n"
    saved = (workspace / ".kimi-code" / "config.toml").read_text()
    assert 'allow = ["Write(notes.txt)"]' in saved


async def test_escape_interrupts_a_streaming_turn(server, workspace: Path) -> None:
    words = " ".join(f"word{i}" for i in range(400))
    server.add({"text": words, "chunk_delay_s": 1.5})  # three chunks, far apart
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await send(pilot, "talk a lot")
        await until(pilot, lambda: any(isinstance(b, AssistantBlock) and b.text
                                       for b in app.transcript.blocks), "first tokens")
        await pilot.press("escape")
        await until(pilot, lambda: app.turns_done == 1, "turn end")
        assert "Interrupted." in transcript_text(app)
        answer = [b for b in app.transcript.blocks if isinstance(b, AssistantBlock)][-1]
        assert 0 < len(answer.text) < len(words)
        assert not app.busy


async def test_enter_queues_while_busy_and_ctrl_s_steers(server, workspace: Path) -> None:
    server.add(
        {"tool_calls": [{"id": "r1", "name": "Read", "arguments": {"file_path": "README.md"}}],
         "delay_s": 0.5},
        {"text": "steered answer"},
        {"text": "queued answer"},
    )
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await send(pilot, "first")
        await until(pilot, lambda: app.busy, "turn running")
        await type_text(pilot, "also mention tests")
        await pilot.press("ctrl+s")  # steer: joins the running turn
        await send(pilot, "then do this")  # queued for after the turn
        assert app.queue == ["then do this"]
        await until(pilot, lambda: app.turns_done == 2, "both turns")
    bodies = server.model_bodies()
    second = [m["content"] for m in bodies[1]["messages"] if m["role"] == "user"]
    assert second == ["first", "also mention tests"]
    third = [m["content"] for m in bodies[2]["messages"] if m["role"] == "user"]
    assert third[-1] == "then do this"


async def test_long_paste_becomes_a_chip_and_is_sent_in_full(server, workspace: Path) -> None:
    server.add({"text": "got it"})
    pasted = "\n".join(f"line {i}" for i in range(40))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await type_text(pilot, "look: ")
        app.prompt.post_message(events.Paste(pasted))
        await pilot.pause()
        assert app.prompt.text == "look: [Pasted text #1 +40 lines]"
        await pilot.press("enter")
        await until(pilot, lambda: app.turns_done == 1, "turn end")
    assert last_request_messages(server)[-1]["content"] == "look: " + pasted


async def test_bang_runs_a_shell_command(server, workspace: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await send(pilot, "!echo from-the-shell && exit 3")
        await until(pilot, lambda: app.shell_task is not None and app.shell_task.done(), "shell")
        block = [b for b in app.transcript.blocks if isinstance(b, ToolBlock)][-1]
        assert block.state.name == "Shell" and block.state.status == "error"
        assert "from-the-shell" in block.state.output and "exit code 3" in block.state.output
    assert server.model_bodies() == []  # nothing went to the model


async def type_text_in_focused(pilot, text: str) -> None:
    widget = pilot.app.focused
    widget.value = text
    await pilot.pause()
