"""Plain mode on the shared slash-command registry: /undo and /rewind (numbered pickers answered
on the prompt), /fork, and the registry's rows in both front ends' completion."""

from __future__ import annotations

from pathlib import Path

from prompt_toolkit.application import create_app_session
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from kimi_code.agent.approval import parse_answer
from kimi_code.git.checkpoints.store import CheckpointStore
from kimi_code.runtime.session import AgentSession
from kimi_code.session.store import SessionStore
from kimi_code.ui.command_list import COMMANDS, help_rows, lookup, slash_completions
from kimi_code.ui.plain import make_completer, run_plain
from tests.support.tui import read_edit_script

ORIGINAL = "def main():\n    return 1\n"


def drive(lines: list[str], *, continue_: bool = False) -> int:
    session = AgentSession.create(permission_mode="accept-edits")
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("".join(line + "\r" for line in lines))
        return run_plain(session, continue_=continue_)


def test_plain_undo_asks_the_scope_and_restores(server, workspace: Path, capsys) -> None:
    server.add(*read_edit_script())
    code = drive(["change it", "/undo", "1", "/quit"])
    out = capsys.readouterr().out
    assert code == 0
    assert "1. Files and conversation" in out and "3. Conversation only" in out
    assert "Restored 1 file(s) to checkpoint" in out
    assert "Conversation rewound to checkpoint" in out and "6 messages dropped" in out
    assert (workspace / "src" / "main.py").read_text() == ORIGINAL


def test_plain_rewind_lists_and_goes_back_by_id(server, workspace: Path, capsys) -> None:
    server.add(*read_edit_script())
    drive(["change it", "/quit"])
    with SessionStore() as store:
        session_id = store.latest(workspace).id
    turn = next(c for c in CheckpointStore(workspace, session_id).list()
                if c.trigger == "turn: change it")
    capsys.readouterr()
    drive(["/rewind", "", f"/rewind {turn.id} files", "/rewind deadbeef files", "/quit"],
          continue_=True)
    out = capsys.readouterr().out
    assert "Rewind to a checkpoint" in out and "turn: change it" in out  # listed, cancelled
    assert f"Restored 1 file(s) to checkpoint {turn.id}" in out
    assert "Conversation rewound" not in out  # files only
    assert "no checkpoint 'deadbeef'" in out
    assert (workspace / "src" / "main.py").read_text() == ORIGINAL


def test_plain_fork_keeps_the_original(server, workspace: Path, capsys) -> None:
    server.add({"text": "first"})
    drive(["hello", "/fork", "/quit"])
    out = capsys.readouterr().out
    assert "Forked session" in out
    with SessionStore() as store:
        sessions = store.list(workspace)
        forked = next(s for s in sessions if s.parent_id)
        original = next(s for s in sessions if s.id == forked.parent_id)
        assert store.messages(forked.id) == store.messages(original.id)
        assert len(store.messages(original.id)) == 2


def test_one_registry_for_both_front_ends() -> None:
    names = {c.name for c in COMMANDS}
    assert {"/undo", "/rewind", "/fork", "/trust"} <= names
    tui = [name for name, _ in slash_completions("/", "tui")]
    plain = [name for name, _ in slash_completions("/", "plain")]
    assert tui == [c.name for c in COMMANDS]
    assert plain == [n for n in tui if n not in ("/theme", "/clear")]
    typed = [c.text for c in make_completer([]).get_completions(Document("/"), None)]
    assert typed == plain  # plain mode's Tab completion is the registry
    assert lookup("/resume", "plain") is lookup("/sessions", "tui")
    assert lookup("/theme", "plain") is None and lookup("/theme", "tui") is not None
    assert [row[0] for row in help_rows("plain")][:3] == ["/help", "/new", "/sessions [ID]"]


def test_one_approval_answer_parser() -> None:
    rule = "Bash(npm test*)"
    assert parse_answer(" Y ", rule).allowed and parse_answer("yes", rule).remember_rule is None
    always = parse_answer("always", rule)
    assert always.allowed and always.remember_rule == rule
    assert not parse_answer("", rule).allowed and parse_answer("n", rule).message == ""
    denied = parse_answer("  use pytest instead  ", rule)
    assert not denied.allowed and denied.message == "use pytest instead"


def test_plain_bang_output_goes_with_the_next_message(server, workspace: Path, capsys) -> None:
    server.add({"text": "I see it."})
    drive(["!echo plain-bang-output", "what did it print?", "/quit"])
    out = capsys.readouterr().out
    assert "plain-bang-output" in out and "goes to the agent with your next message" in out
    sent = [m for m in server.model_bodies()[-1]["messages"] if m["role"] == "user"][-1]
    assert sent["content"].startswith("<bash-input>echo plain-bang-output</bash-input>")
    assert sent["content"].endswith("what did it print?")


def test_plain_printer_takes_every_event_of_the_union() -> None:
    import io

    from kimi_code.ui.plain import PlainPrinter
    from tests.support.events import one_of_each

    out = io.StringIO()
    printer = PlainPrinter(out)
    for event in [*one_of_each(), *one_of_each(agent_id="call_9")]:
        printer(event)  # a missing case would raise (assert_never) or be named by mypy
    text = out.getvalue()
    assert "● Read" in text and "not run:" in text and "hello" in text
