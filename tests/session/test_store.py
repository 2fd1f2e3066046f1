"""SessionStore on real SQLite files: sessions, events, lookups, usage, damage handling."""

from __future__ import annotations

import logging
import sqlite3
import stat
from pathlib import Path

import pytest

from kimi_code import paths
from kimi_code.llm.base import Message, ToolCall, Usage
from kimi_code.session import (
    SessionNotFoundError,
    SessionStore,
    SessionStoreError,
    StoreCorruptError,
)
from kimi_code.session.db import SCHEMA_VERSION, new_session_id


def test_default_location_wal_and_private_file(store: SessionStore, home: Path) -> None:
    assert store.path == paths.sessions_db() == home / "data" / "sessions.db"
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_ids_are_short_unique_and_sort_by_time() -> None:
    ids = [new_session_id(1_700_000_000 + i) for i in range(200)]
    assert all(12 <= len(i) <= 16 for i in ids)
    assert ids == sorted(ids)
    assert len({new_session_id(1_700_000_000.0) for _ in range(500)}) == 500


def test_append_and_rebuild_conversation(store: SessionStore, workspace: Path) -> None:
    sid = store.create(workspace, "kimi-k2.6", title="fix tests")
    call = ToolCall("call_1", "Bash", '{"command": "pytest -q"}')
    conversation = [
        Message("user", "run the tests"),
        Message("assistant", "Running them.", thinking="plan", thinking_signature="sig",
                tool_calls=(call,)),
        Message("tool", "3 passed", tool_call_id="call_1"),
        Message("assistant", "All green."),
    ]
    seqs = [store.append_message(sid, m) for m in conversation]
    assert seqs == [1, 2, 3, 4]
    assert store.append(sid, "turn", {"stop_reason": "end_turn"}) == 5
    assert store.messages(sid) == conversation
    assert [e.kind for e in store.events(sid)] == ["message"] * 4 + ["turn"]
    assert [e.seq for e in store.events(sid, kinds=["turn"])] == [5]
    assert [e.seq for e in store.events(sid, after=3)] == [4, 5]
    info = store.get(sid)
    assert info is not None and info.message_count == 4 and info.title == "fix tests"
    assert info.workspace == str(workspace.resolve()) and info.model == "kimi-k2.6"
    assert info.updated >= info.created


def test_append_to_unknown_session_and_bad_payload(store: SessionStore, workspace: Path) -> None:
    with pytest.raises(SessionNotFoundError):
        store.append("0000000000000", "message", {"role": "user"})
    sid = store.create(workspace, "m")
    with pytest.raises(TypeError):
        store.append(sid, "message", ["not", "a", "dict"])  # type: ignore[arg-type]
    assert store.events(sid) == []


def test_get_by_prefix_and_resolve_errors(store: SessionStore, workspace: Path) -> None:
    a = store.create(workspace, "m")
    b = store.create(workspace, "m")
    assert store.get(a) is not None and store.get(a).id == a  # type: ignore[union-attr]
    common = 0
    while a[common] == b[common]:
        common += 1
    assert store.get(a[: common + 1]).id == a  # type: ignore[union-attr]
    assert store.get(a[:common]) is None  # ambiguous
    with pytest.raises(SessionNotFoundError, match="matches 2 sessions"):
        store.resolve(a[:common])
    with pytest.raises(SessionNotFoundError, match="no session matches"):
        store.resolve("zzzz")
    assert store.get("'; DROP TABLE sessions; --") is None
    assert store.get("%") is None and store.get("") is None


def test_list_latest_per_workspace(store: SessionStore, tmp_path: Path) -> None:
    ws1, ws2 = tmp_path / "one", tmp_path / "two"
    ws1.mkdir(), ws2.mkdir()
    link = tmp_path / "link-to-one"
    link.symlink_to(ws1)
    first = store.create(ws1, "m")
    second = store.create(ws2, "m")
    third = store.create(link, "m")  # the same workspace, spelt through a symlink
    store.append(first, "message", Message("user", "again").to_dict())  # now the newest in ws1
    assert store.latest(ws1).id == first  # type: ignore[union-attr]
    assert [s.id for s in store.list(ws1)] == [first, third]
    assert [s.id for s in store.list()] == [first, third, second]
    assert len(store.list(limit=1)) == 1
    assert store.latest(tmp_path) is None
    sub = store.create(ws2, "m", parent_id=second, meta={"kind": "subagent"})
    assert store.latest(ws2).id == second  # type: ignore[union-attr]
    assert sub not in [s.id for s in store.list()]
    assert sub in [s.id for s in store.list(include_subagents=True)]
    assert store.get(sub).parent_id == second  # type: ignore[union-attr]
    with pytest.raises(SessionNotFoundError):
        store.create(ws2, "m", parent_id="0000000000000")


def test_title_meta_and_delete(store: SessionStore, workspace: Path) -> None:
    parent = store.create(workspace, "m")
    child = store.create(workspace, "m", parent_id=parent)
    store.append(parent, "message", Message("user", "hi").to_dict())
    store.set_title(parent, "Renamed")
    assert store.get(parent).title == "Renamed"  # type: ignore[union-attr]
    assert store.update_meta(parent, checkpoint="abc") == {"checkpoint": "abc"}
    assert store.get(parent).meta == {"checkpoint": "abc"}  # type: ignore[union-attr]
    with pytest.raises(SessionNotFoundError):
        store.set_title("0000000000000", "x")
    assert store.delete(parent) is True
    assert store.get(parent) is None and store.events(parent) == []
    assert store.get(child).parent_id is None  # type: ignore[union-attr]
    assert store.delete(parent) is False
    with sqlite3.connect(store.path) as conn:  # the events went with the session
        assert conn.execute("SELECT count(*) FROM events WHERE session_id = ?",
                            (parent,)).fetchone()[0] == 0


def test_usage_totals_sum_every_usage_payload(store: SessionStore, workspace: Path) -> None:
    sid = store.create(workspace, "m")
    store.append_message(sid, Message("user", "go"))
    store.append_message(sid, Message("assistant", "a"), Usage(100, 10, 50, 5))
    store.append_message(sid, Message("assistant", "b"), Usage(200, 20))
    store.append(sid, "compaction", {"summary": "s", "replaces_through": 3,
                                     "usage": {"input_tokens": 7, "output_tokens": 3}})
    store.append(sid, "usage", {"usage": {"input_tokens": 1, "cache_read_tokens": 2}})
    store.append(sid, "message", {"role": "user", "content": "x", "usage": "garbage"})
    assert store.usage(sid) == Usage(308, 33, 52, 5)
    assert store.usage("0000000000000") == Usage()


def test_corrupt_payload_row_is_skipped_with_warning(store: SessionStore, workspace: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    sid = store.create(workspace, "m")
    store.append_message(sid, Message("user", "first"))
    store.append_message(sid, Message("assistant", "second"), Usage(10, 1))
    store.append_message(sid, Message("user", "third"))
    store.append_message(sid, Message("user", "fourth"))
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE events SET payload = '{\"role\": \"assis' WHERE seq = 2")
        conn.execute("UPDATE events SET payload = '[1, 2]' WHERE seq = 3")
    with caplog.at_level(logging.WARNING, logger="kimi_code.session"):
        messages = store.messages(sid)
    assert [m.content for m in messages] == ["first", "fourth"]
    assert sum("unreadable payload" in r.getMessage() for r in caplog.records) == 2
    assert [e.seq for e in store.events(sid)] == [1, 4]
    assert store.usage(sid) == Usage()
    assert store.first_prompt(sid) == "first"
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE events SET payload = 'not json' WHERE seq = 1")
    assert store.first_prompt(sid) == "fourth"
    assert store.get(sid).message_count == 4  # type: ignore[union-attr]


def test_non_sqlite_file_gives_clear_error(home: Path) -> None:
    db = paths.sessions_db()
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database\n" * 400)
    with pytest.raises(StoreCorruptError) as info:
        SessionStore()
    message = str(info.value)
    assert str(db) in message and "mv " in message and ".corrupt" in message


def test_damaged_sqlite_file_gives_clear_error(tmp_path: Path, workspace: Path) -> None:
    db = tmp_path / "damaged.db"
    with SessionStore(db) as store:
        sid = store.create(workspace, "m")
        for i in range(50):
            store.append(sid, "message", Message("user", "x" * 500 + str(i)).to_dict())
    data = bytearray(db.read_bytes())
    data[100:] = b"\xa5" * (len(data) - 100)  # keep the header, wreck every page
    db.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError, match="Move it aside"):
        with SessionStore(db) as store:
            store.events(sid)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    SessionStore(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SessionStoreError, match="newer kimi-code"):
        SessionStore(db)


def test_reopen_keeps_everything_and_closed_store_errors(tmp_path: Path, workspace: Path) -> None:
    db = tmp_path / "s.db"
    store = SessionStore(db)
    sid = store.create(workspace, "m")
    store.append_message(sid, Message("user", "persisted"))
    store.close()
    with pytest.raises(SessionStoreError, match="closed"):
        store.events(sid)
    with SessionStore(db) as again:
        assert [m.content for m in again.messages(sid)] == ["persisted"]
        assert again.append(sid, "turn", {}) == 2


def test_payloads_round_trip_unicode_and_lone_surrogates(store: SessionStore,
                                                         workspace: Path) -> None:
    sid = store.create(workspace, "m")
    binary_output = b"ok \xff\xfe done".decode("utf-8", "surrogateescape")
    store.append_message(sid, Message("user", "héllo 世界 🚀"))
    store.append_message(sid, Message("tool", binary_output, tool_call_id="x"))
    contents = [e.payload["content"] for e in store.events(sid)]
    assert contents == ["héllo 世界 🚀", binary_output]
