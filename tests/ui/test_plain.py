"""`kimi-code --plain` driven through a pipe (prompt-toolkit's pipe input) against the scripted
server: Markdown rendered by Rich, approvals as prompts, diffs, slash commands, history."""

from __future__ import annotations

from pathlib import Path

from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from kimi_code.app.interactive import InteractiveSession
from kimi_code.ui.history import InputHistory, history_file
from kimi_code.ui.plain import _split_finished, make_completer, run_plain


def drive(lines: list[str]) -> int:
    session = InteractiveSession.create(permission_mode="ask")
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        pipe.send_text("".join(line + "\r" for line in lines))
        return run_plain(session)


def test_plain_mode_answers_approves_and_shows_diffs(server, workspace: Path, capsys) -> None:
    server.add({"text": "Some **bold** words.\n\nSecond paragraph."},
               {"tool_calls": [{"id": "w1", "name": "Write", "arguments": {
                   "file_path": "notes.txt", "content": "hello\n"}}]},
               {"text": "Wrote it."})
    code = drive(["hi", "write notes", "y", "/cost", "/mode nonsense", "/quit"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Some bold words." in out and "**" not in out
    assert "Allow Write? notes.txt" in out and "+hello" in out
    assert "Wrote it." in out
    assert "output tokens" in out and "usage: /mode" in out
    assert (workspace / "notes.txt").read_text() == "hello\n"
    assert InputHistory(history_file(workspace)).entries[:2] == ["hi", "write notes"]


def test_plain_mode_deny_with_a_message(server, workspace: Path, capsys) -> None:
    server.add({"tool_calls": [{"id": "w1", "name": "Write", "arguments": {
        "file_path": "notes.txt", "content": "hello\n"}}]}, {"text": "Understood."})
    drive(["write notes", "please do not create files", "/quit"])
    assert not (workspace / "notes.txt").exists()
    tool = [m for m in server.model_bodies()[-1]["messages"] if m["role"] == "tool"][-1]
    assert "please do not create files" in tool["content"]


def test_paragraphs_split_outside_code_fences() -> None:
    done, rest = _split_finished("para one\n\n```\ncode\n\nmore\n")
    assert done == "para one\n" and rest.startswith("```")
    done, rest = _split_finished("```\ncode\n```\n\ntail")
    assert done.endswith("```\n") and rest == "tail"


def test_completer_offers_commands_and_files() -> None:
    from prompt_toolkit.document import Document

    completer = make_completer(["src/main.py", "README.md"])
    slash = [c.text for c in completer.get_completions(Document("/co"), None)]
    assert slash == ["/compact", "/cost"]
    files = [c.text for c in completer.get_completions(Document("see @mai"), None)]
    assert files == ["src/main.py"]
