"""`kimi-code rewind` end to end: a real session store, real checkpoints, real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kimi_code.app.rewind import rewind_main
from kimi_code.git.checkpoints.store import CheckpointStore
from kimi_code.llm.base import Message
from kimi_code.session.store import SessionStore


@pytest.fixture
def session_ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A workspace with a session: turn 1 checkpoint, the agent edits, turn 2 checkpoint."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "app.py").write_text("v1\n")
    monkeypatch.chdir(ws)
    store = SessionStore()
    sid = store.create(ws, model="test")
    cps = CheckpointStore(ws, sid)
    first = cps.snapshot("turn: make v2", message_seq=0)
    store.append_message(sid, Message(role="user", content="make v2"))
    (ws / "app.py").write_text("v2\n")
    (ws / "added.py").write_text("new\n")
    store.append_message(sid, Message(role="assistant", content="done"))
    second = cps.snapshot("after Edit app.py", message_seq=2)
    yield ws, store, sid, first, second
    store.close()


def test_list_text_and_json(session_ws, capsys):
    ws, store, sid, first, second = session_ws
    assert rewind_main(list_=True, to=None, scope="both", as_json=False, session=None) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(first.id) and lines[0].endswith("turn: make v2")
    assert lines[1].startswith(second.id)
    assert rewind_main(list_=True, to=None, scope="both", as_json=True, session=sid) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["id"] for d in data] == [first.id, second.id]
    assert {"id", "created", "trigger"} <= set(data[0])


def test_rewind_both_restores_files_and_cuts_conversation(session_ws, capsys):
    ws, store, sid, first, _ = session_ws
    code = rewind_main(list_=False, to=first.id, scope="both", as_json=False, session=None, yes=True)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "restore app.py" in out and "remove  added.py" in out
    assert "2 later message(s)" in out
    assert (ws / "app.py").read_text() == "v1\n" and not (ws / "added.py").exists()
    rewinds = store.events(sid, ("rewind",))
    assert len(rewinds) == 1 and rewinds[0].payload == {"to_seq": 0, "checkpoint": first.id}
    assert store.messages(sid) == [], "replay honours the rewind"


def test_rewind_code_only_leaves_conversation(session_ws):
    ws, store, sid, first, _ = session_ws
    assert rewind_main(list_=False, to=first.id, scope="code", as_json=False, session=sid,
                       yes=True) == 0
    assert (ws / "app.py").read_text() == "v1\n"
    assert store.events(sid, ("rewind",)) == []


def test_rewind_conversation_only_leaves_files(session_ws):
    ws, store, sid, first, _ = session_ws
    assert rewind_main(list_=False, to=first.id, scope="conversation", as_json=False,
                       session=None, yes=True) == 0
    assert (ws / "app.py").read_text() == "v2\n"
    assert store.events(sid, ("rewind",))[0].payload["to_seq"] == 0


def test_conflicting_user_edit_refused_without_terminal(session_ws, capsys):
    ws, store, sid, first, _ = session_ws
    (ws / "app.py").write_text("my own edit\n")
    code = rewind_main(list_=False, to=first.id, scope="both", as_json=False, session=None, yes=True)
    assert code == 1
    assert "app.py" in capsys.readouterr().err
    assert (ws / "app.py").read_text() == "my own edit\n"
    assert (ws / "added.py").exists()
    assert store.events(sid, ("rewind",)) == []


def test_usage_errors(session_ws, capsys):
    ws, store, sid, first, _ = session_ws
    assert rewind_main(list_=False, to=first.id, scope="files", as_json=False, session=None) == 2
    assert rewind_main(list_=True, to=first.id, scope="code", as_json=False, session=None) == 2
    # stdin is not a terminal under pytest: without --yes nothing happens
    assert rewind_main(list_=False, to=first.id, scope="code", as_json=False, session=None) == 2
    assert "--yes" in capsys.readouterr().err
    assert (ws / "app.py").read_text() == "v2\n"
    assert rewind_main(list_=False, to="abcdef12", scope="code", as_json=False, session=None,
                       yes=True) == 1
    assert rewind_main(list_=True, to=None, scope="code", as_json=False, session="zzzz") == 2


def test_checkpoint_without_seq_uses_the_events_before_it(session_ws, capsys):
    ws, store, sid, _, _ = session_ws
    (ws / "app.py").write_text("v3\n")
    bare = CheckpointStore(ws, sid).snapshot("after Bash")   # as the TUI takes them: no seq
    assert bare.message_seq is None
    store.append_message(sid, Message(role="user", content="later prompt"))
    store.append_message(sid, Message(role="assistant", content="later answer"))
    code = rewind_main(list_=False, to=bare.id, scope="conversation", as_json=False,
                       session=None, yes=True)
    assert code == 0, capsys.readouterr().err
    assert store.events(sid, ("rewind",))[0].payload["to_seq"] == 2
    assert [m.content for m in store.messages(sid)] == ["make v2", "done"]


def test_no_session_here(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert rewind_main(list_=True, to=None, scope="both", as_json=False, session=None) == 1
    assert "no session" in capsys.readouterr().err
