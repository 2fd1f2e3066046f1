"""Several real processes on one store: kill -9 mid-append, the session lock across processes,
concurrent appends."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from kimi_code.session import SessionInUseError, SessionStore
from tests.support.session_procs import HOLD_LOCK, _kill, spawn

APPEND_FOREVER = """
import sys
from kimi_code.session import SessionStore
store = SessionStore()
sid, start = sys.argv[1], int(sys.argv[2])
i = start
while True:
    # payloads of varying size so the kill lands in the middle of page writes too
    seq = store.append(sid, "message", {"role": "user", "content": "x" * (i % 9000), "i": i})
    print(seq, i, flush=True)
    i += 1
"""

APPEND_N = """
import sys
from kimi_code.session import SessionStore
store = SessionStore()
sid, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    store.append(sid, "message", {"role": "user", "content": f"{tag}-{i}", "tag": tag, "i": i})
print("done", flush=True)
"""





def test_kill_9_during_appends_never_corrupts(store: SessionStore, workspace: Path, home: Path) -> None:
    sid = store.create(workspace, "m")
    committed = 0
    for round_ in range(3):
        proc = spawn(APPEND_FOREVER, sid, str(committed + 1), home=home)
        try:
            for _ in range(120 + 37 * round_):  # read acknowledgements, then kill mid-loop
                line = proc.stdout.readline()
                assert line, proc.stderr.read()
                seq, i = map(int, line.split())
                assert seq == i
                committed = seq
        finally:
            _kill(proc)
        with sqlite3.connect(store.path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        events = store.events(sid)
        seqs = [e.seq for e in events]
        # everything acknowledged is there; at most the in-flight events beyond it
        assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= committed
        assert all(e.payload["i"] == e.seq for e in events)
        committed = len(seqs)
    with SessionStore() as fresh:
        assert len(fresh.messages(sid)) == committed


def test_second_process_gets_session_in_use_until_first_is_killed(
        store: SessionStore, workspace: Path, home: Path) -> None:
    sid = store.create(workspace, "m")
    holder = spawn(HOLD_LOCK, sid, home=home)
    try:
        assert holder.stdout.readline().strip() == "locked", holder.stderr.read()
        with pytest.raises(SessionInUseError) as info:
            with store.lock(sid):
                pass
        assert str(info.value) == (f"session {sid} is in use by another kimi-code process "
                                   f"(pid {holder.pid})")
        assert info.value.pid == holder.pid
        with pytest.raises(SessionInUseError):
            store.delete(sid)
        other = store.create(workspace, "m")
        with store.lock(other):  # other sessions are unaffected
            pass
    finally:
        _kill(holder)
    with store.lock(sid) as lock:  # the kernel freed the flock with the killed process
        assert lock.held
        assert (store.lock_dir / f"{sid}.lock").read_text().strip() == str(os.getpid())
        with pytest.raises(SessionInUseError, match="this process"):
            store.lock(sid).acquire()
    assert not (store.lock_dir / f"{sid}.lock").exists()
    assert store.delete(sid)


def test_concurrent_appends_from_two_processes(store: SessionStore, workspace: Path,
                                               home: Path) -> None:
    n = 150
    a, b = store.create(workspace, "m"), store.create(workspace, "m")
    shared = store.create(workspace, "m")
    procs = [spawn(APPEND_N, a, "a", str(n), home=home), spawn(APPEND_N, b, "b", str(n), home=home),
             spawn(APPEND_N, shared, "p", str(n), home=home),
             spawn(APPEND_N, shared, "q", str(n), home=home)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "done", err
    for sid, tag in ((a, "a"), (b, "b")):
        events = store.events(sid)
        assert [e.seq for e in events] == list(range(1, n + 1))
        assert [e.payload["i"] for e in events] == list(range(n))
        assert {e.payload["tag"] for e in events} == {tag}
    events = store.events(shared)
    assert [e.seq for e in events] == list(range(1, 2 * n + 1))
    for tag in ("p", "q"):  # each writer's events kept their own order
        assert [e.payload["i"] for e in events if e.payload["tag"] == tag] == list(range(n))
    assert store.get(shared).message_count == 2 * n  # type: ignore[union-attr]


CREATE_AND_APPEND = """
from pathlib import Path
from kimi_code.session import SessionStore
store = SessionStore()
sid = store.create(Path("."), "m")
for i in range(20):
    store.append(sid, "turn", {"i": i})
print(sid, len(store.events(sid)), flush=True)
"""


def test_processes_opening_a_fresh_store_at_once(tmp_path: Path) -> None:
    """Creation, WAL switch and migration race safely when the file does not exist yet."""
    home = tmp_path / "fresh"
    procs = [spawn(CREATE_AND_APPEND, home=home) for _ in range(4)]
    ids = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        sid, count = out.split()
        assert count == "20"
        ids.append(sid)
    with SessionStore(home / "data" / "sessions.db") as store:
        assert sorted(s.id for s in store.list()) == sorted(ids)
