"""Checkpoint gc against real shadow stores made by the real checkpoint code: retention, the
size cap, protection of live sessions and of the shadow index, crash safety, and that the
user's repository is never touched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kimi_code import paths
from kimi_code.git.checkpoints import gc as gcmod
from kimi_code.git.checkpoints.gc import Policy, collect, read_chains
from kimi_code.git.checkpoints.io import GC_MARKER, sweep_stale_locks
from kimi_code.git.checkpoints.store import CheckpointStore, store_dir
from kimi_code.session.lock import SessionLock
from tests.support.checkpoint_stores import (  # noqa: F401
    NOW,
    assert_store_sound,
    digest_tree,
    make_session,
    session_refs,
    set_clock,
    shadow,
)

NO_CAP = dict(max_bytes=0)

# ---- helpers (also used by test_checkpoints_gc_cli.py): sessions of given ages made through
# the real checkpoint code (only its clock is set), byte digests, looks into the shadow store.













def has_object(ws: Path, oid: str) -> bool:
    return shadow(ws, "cat-file", "-e", oid, check=False).returncode == 0


def blob_of(ws: Path, tree: str, path: str) -> str:
    return shadow(ws, "rev-parse", f"{tree}:{path}").stdout.strip()




# ---- tests ---------------------------------------------------------------------------------


def test_retention_drops_old_sessions_and_their_objects(make_repo, monkeypatch):
    root = make_repo({"src/app.py": "x = 1\n"})
    user_git = digest_tree(root / ".git")
    made = {sid: make_session(monkeypatch, root, sid, age)
            for sid, age in (("old1", 90), ("old2", 60), ("mid", 40), ("recent", 5), ("new", 0))}
    old_blob = blob_of(root, made["old1"][0].tree, "old1.txt")
    mid_blob = blob_of(root, made["mid"][0].tree, "mid.txt")

    report = collect(store_dir(root), Policy(keep_days=30, keep_sessions=3, **NO_CAP))

    assert [d.chain.session_id for d in report.dropped] == ["old2", "old1"]
    assert report.applied and 0 < report.bytes_after < report.bytes_before
    assert session_refs(root) == ["mid", "new", "recent"]
    assert not has_object(root, old_blob), "a dropped session's objects really go"
    assert has_object(root, mid_blob)
    assert_store_sound(root)
    kept = CheckpointStore(root, "mid")
    assert [c.id for c in kept.list()] == [c.id for c in made["mid"]]
    assert kept.restore(made["mid"][0].id, force=True).applied
    assert (root / "mid.txt").read_text() == "mid version 0\n" * 50
    assert digest_tree(root / ".git") == user_git, "the user's .git is byte-identical"


def test_days_keep_sessions_beyond_the_count(tmp_path, monkeypatch):
    ws = tmp_path / "w"
    ws.mkdir()
    for sid, age in (("a", 20), ("b", 10), ("c", 1)):
        make_session(monkeypatch, ws, sid, age, n=1)
    report = collect(store_dir(ws), Policy(keep_days=15, keep_sessions=1, **NO_CAP))
    assert [d.chain.session_id for d in report.dropped] == ["a"]
    assert session_refs(ws) == ["b", "c"]


def test_dry_run_changes_nothing(tmp_path, monkeypatch):
    ws = tmp_path / "w"
    ws.mkdir()
    for sid, age in (("old", 90), ("new", 0)):
        make_session(monkeypatch, ws, sid, age)
    base = store_dir(ws)
    before = digest_tree(base)
    plan = collect(base, Policy(keep_days=30, keep_sessions=1, **NO_CAP), dry_run=True)
    assert [d.chain.session_id for d in plan.dropped] == ["old"]
    assert not plan.applied and plan.freed > 0
    assert digest_tree(base) == before
    done = collect(base, Policy(keep_days=30, keep_sessions=1, **NO_CAP))
    assert [d.chain.session_id for d in done.dropped] == ["old"]


def test_starting_and_in_use_sessions_are_never_dropped(tmp_path, monkeypatch):
    ws = tmp_path / "w"
    ws.mkdir()
    for sid, age in (("resumed", 90), ("busy", 80), ("new", 0)):
        make_session(monkeypatch, ws, sid, age, n=1)
    policy = Policy(keep_days=30, keep_sessions=1, **NO_CAP)
    lock = SessionLock(paths.data_dir() / "locks", "busy").acquire()
    try:
        report = collect(store_dir(ws), policy, protect={"resumed"})
        assert report.dropped == [] and session_refs(ws) == ["busy", "new", "resumed"]
    finally:
        lock.release()
    report = collect(store_dir(ws), policy)
    assert sorted(d.chain.session_id for d in report.dropped) == ["busy", "resumed"]


def test_size_cap_drops_oldest_first_never_the_newest(tmp_path, monkeypatch):
    ws = tmp_path / "w"
    ws.mkdir()
    for n, sid in enumerate(("s1", "s2", "s3", "s4")):
        make_session(monkeypatch, ws, sid, 4 - n, n=1, payload=os.urandom(40_000))
    base = store_dir(ws)
    packed = collect(base, Policy(keep_days=30, keep_sessions=20, **NO_CAP)).bytes_after
    cap = packed - 50_000  # one 40 kB session is not enough, two are
    report = collect(base, Policy(keep_days=30, keep_sessions=20, max_bytes=cap))
    assert [d.chain.session_id for d in report.dropped] == ["s1", "s2"]
    assert "size cap" in report.dropped[0].reason
    assert report.bytes_after <= cap and not report.notes
    report = collect(base, Policy(keep_days=30, keep_sessions=20, max_bytes=1))
    assert session_refs(ws) == ["s4"] and report.notes, "the newest session always stays"
    assert_store_sound(ws)


def test_index_blobs_survive_when_their_session_is_dropped(tmp_path, monkeypatch):
    """The shadow index can point at blobs only a dropped session holds (a session that
    snapshots an unchanged tree reuses its old checkpoint and writes no commit). gc must keep
    them, or the next snapshot writes a tree with a missing blob."""
    ws = tmp_path / "w"
    ws.mkdir()
    (ws / "f.txt").write_text("the old content\n")
    set_clock(monkeypatch, 90)
    old = CheckpointStore(ws, "old")
    first = old.snapshot("turn", message_seq=1)
    set_clock(monkeypatch, 0)
    (ws / "f.txt").write_text("new content\n")
    new = CheckpointStore(ws, "new")
    new.snapshot("turn", message_seq=1)
    (ws / "f.txt").write_text("the old content\n")
    assert old.snapshot("after Bash").id == first.id, "no new commit: the index now holds X"
    blob = blob_of(ws, first.tree, "f.txt")

    collect(store_dir(ws), Policy(keep_days=30, keep_sessions=1, **NO_CAP))
    assert session_refs(ws) == ["new"]
    assert has_object(ws, blob)
    assert_store_sound(ws)
    cp = new.snapshot("after Edit")
    (ws / "f.txt").write_text("changed again\n")
    new.snapshot("after Write")
    assert new.restore(cp.id).applied
    assert (ws / "f.txt").read_text() == "the old content\n"


def test_a_crash_between_ref_deletion_and_prune_leaves_a_usable_store(tmp_path, monkeypatch):
    ws = tmp_path / "w"
    ws.mkdir()
    for sid, age in (("old", 90), ("new", 0)):
        made = make_session(monkeypatch, ws, sid, age)
    base = store_dir(ws)

    def killed(_base):
        raise KeyboardInterrupt("killed mid-gc")

    original = gcmod.prune_objects
    monkeypatch.setattr(gcmod, "prune_objects", killed)
    with pytest.raises(KeyboardInterrupt):
        collect(base, Policy(keep_days=30, keep_sessions=1, **NO_CAP))
    assert (base / GC_MARKER).exists()
    assert session_refs(ws) == ["new"]
    assert_store_sound(ws)
    store = CheckpointStore(ws, "new")
    (ws / "shared.txt").write_text("after the crash\n")
    store.snapshot("after Edit")
    assert not (base / GC_MARKER).exists(), "the next writer cleaned up after the crash"
    assert store.restore(made[0].id).applied
    monkeypatch.setattr(gcmod, "prune_objects", original)
    again = collect(base, Policy(keep_days=30, keep_sessions=1, **NO_CAP))
    assert again.applied and again.dropped == []
    assert_store_sound(ws)


def test_stale_ref_locks_left_by_a_killed_gc_are_swept(tmp_path, monkeypatch):
    ws = tmp_path / "w"
    ws.mkdir()
    make_session(monkeypatch, ws, "s", 0, n=1)
    base = store_dir(ws)
    repo = base / "repo"
    (base / GC_MARKER).write_text("12345\n")          # a gc was killed...
    (repo / "refs/kimi/latest.lock").write_text("")           # ...inside its ref transaction
    (repo / "packed-refs.lock").write_text("")
    (ws / "shared.txt").write_text("next\n")
    CheckpointStore(ws, "s").snapshot("after Edit")            # would fail on latest.lock
    assert not (repo / "refs/kimi/latest.lock").exists()
    (repo / "refs/kimi/latest.lock").write_text("")           # fresh, no gc marker: maybe live
    sweep_stale_locks(base)
    assert (repo / "refs/kimi/latest.lock").exists()
    sweep_stale_locks(base, now=os.path.getmtime(repo / "refs/kimi/latest.lock") + 61)
    assert not (repo / "refs/kimi/latest.lock").exists()


def test_read_chains_counts_and_orders(tmp_path, monkeypatch):
    ws = tmp_path / "w"
    ws.mkdir()
    make_session(monkeypatch, ws, "a", 3, n=4)
    make_session(monkeypatch, ws, "b", 1, n=2)
    chains = read_chains(store_dir(ws))
    assert [(c.session_id, c.count) for c in chains] == [("b", 2), ("a", 4)]
    assert chains[1].oldest < chains[1].newest < chains[0].newest


def test_stores_made_with_reflogs_still_free_dropped_sessions(tmp_path, monkeypatch):
    """Stores made before reflogs were switched off log every move of HEAD (a symref to
    refs/kimi/latest), which keeps every checkpoint reachable; gc empties and stops them."""
    ws = tmp_path / "w"
    ws.mkdir()
    (ws / "seed").write_text("s")
    CheckpointStore(ws, "seed").snapshot("t")
    shadow(ws, "config", "core.logAllRefUpdates", "true")
    old = make_session(monkeypatch, ws, "old", 90)
    make_session(monkeypatch, ws, "new", 0)
    assert (store_dir(ws) / "repo/logs/HEAD").stat().st_size > 0
    blob = blob_of(ws, old[0].tree, "old.txt")
    collect(store_dir(ws), Policy(keep_days=30, keep_sessions=1, **NO_CAP))
    assert not has_object(ws, blob)
    assert shadow(ws, "config", "core.logAllRefUpdates").stdout.strip() == "false"
    assert_store_sound(ws)


def test_a_session_that_takes_a_checkpoint_while_gc_decides_is_kept(tmp_path, monkeypatch):
    """The chains are read outside the store lock; one that grew before the refs are deleted
    is in use after all and must survive (its new checkpoint with it)."""
    ws = tmp_path / "w"
    ws.mkdir()
    make_session(monkeypatch, ws, "old", 90)
    make_session(monkeypatch, ws, "new", 0)
    original = gcmod.read_chains

    def read_then_old_session_resumes(base):
        chains = original(base)
        (ws / "old.txt").write_text("resumed\n")
        CheckpointStore(ws, "old").snapshot("after Edit")
        return chains

    monkeypatch.setattr(gcmod, "read_chains", read_then_old_session_resumes)
    report = collect(store_dir(ws), Policy(keep_days=30, keep_sessions=1, **NO_CAP))
    assert report.dropped == [] and session_refs(ws) == ["new", "old"]
    assert CheckpointStore(ws, "old").list()[-1].trigger == "after Edit"
    assert_store_sound(ws)
