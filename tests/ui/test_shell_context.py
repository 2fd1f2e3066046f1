"""`!command` output becomes context of the next message (capped like the Bash tool's), and the
transcript folds it back into one line under the prompt."""

from __future__ import annotations

from pathlib import Path

from kimi_code.tools.bash import MAX_OUTPUT_CHARS
from kimi_code.ui.shell_context import split, wrap
from kimi_code.ui.widgets.blocks import UserBlock
from kimi_code.ui.widgets.tool_block import ToolBlock
from tests.support.tui import last_request_messages, make_app, type_text, until

SIZE = (100, 32)


async def send(pilot, text: str) -> None:
    await type_text(pilot, text)
    await pilot.press("enter")


async def run_bang(pilot, command: str) -> ToolBlock:
    app = pilot.app
    before = app.shell_task
    await send(pilot, f"!{command}")
    await until(pilot, lambda: app.shell_task is not before and app.shell_task.done(), "shell")
    return [b for b in app.transcript.blocks if isinstance(b, ToolBlock)][-1]


def test_wrap_and_split_round_trip() -> None:
    message = wrap("ls -a", "a\nb\n", "0") + wrap("false", "(exit code 1)", "1") + "and now?"
    contexts, typed = split(message)
    assert typed == "and now?"
    assert [(c.command, c.exit_code, c.output) for c in contexts] == [
        ("ls -a", "0", "a\nb"), ("false", "1", "(exit code 1)")]
    assert split("no context here") == ([], "no context here")


async def test_bang_output_goes_with_the_next_message_once(server, workspace: Path) -> None:
    server.add({"text": "It printed a greeting."}, {"text": "ok"})
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        first = await run_bang(pilot, "echo hello-from-shell")
        second = await run_bang(pilot, "echo oops >&2; exit 4")
        assert server.model_bodies() == []  # nothing is sent until the user writes
        assert "next message" in first.state.note
        await send(pilot, "what did it say?")
        await until(pilot, lambda: app.turns_done == 1, "turn end")
        sent = last_request_messages(server)[-1]
        assert sent["role"] == "user"
        assert sent["content"] == (
            '<bash-input>echo hello-from-shell</bash-input>\n<bash-output exit_code="0">\n'
            'hello-from-shell\n</bash-output>\n\n'
            '<bash-input>echo oops >&2; exit 4</bash-input>\n<bash-output exit_code="4">\n'
            'oops\n\n(exit code 4)\n</bash-output>\n\nwhat did it say?')
        assert "went to the agent" in first.state.note and "went" in second.state.note
        user = [b for b in app.transcript.blocks if isinstance(b, UserBlock)][-1]
        shown = str(user.render())
        assert shown.startswith("› what did it say?")
        assert "+ output of !echo hello-from-shell (1 line, exit 0)" in shown
        assert "+ output of !echo oops >&2; exit 4 (3 lines, exit 4)" in shown
        assert "<bash-output" not in shown
        await send(pilot, "and again?")  # the outputs went once
        await until(pilot, lambda: app.turns_done == 2, "second turn")
        assert last_request_messages(server)[-1]["content"] == "and again?"
        # a resumed conversation shows the same folded line
        assert "+ output of !echo hello-from-shell" in str(UserBlock(sent["content"]).render())


async def test_bang_output_is_capped_like_the_bash_tool(server, workspace: Path) -> None:
    server.add({"text": "long"})
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await run_bang(pilot, "python3 -c \"print('x' * 100000); print('THE-END')\"")
        await send(pilot, "summarise")
        await until(pilot, lambda: app.turns_done == 1, "turn end")
        content = last_request_messages(server)[-1]["content"]
        (context,), typed = split(content)
        assert typed == "summarise"
        assert "characters truncated" in context.output and context.output.endswith("THE-END")
        assert MAX_OUTPUT_CHARS <= len(context.output) < MAX_OUTPUT_CHARS + 100

