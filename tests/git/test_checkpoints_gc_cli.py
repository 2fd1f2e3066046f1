"""`kimi-code checkpoints list|gc` through the real Typer app, the `[checkpoints]` config table,
the daily background gc started at session start, and a gc process killed at random moments."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kimi_code import paths
from kimi_code.cli import app
from kimi_code.config import ConfigError, parse_config
from kimi_code.git.checkpoints.auto import STAMP_NAME, schedule_auto_gc
from kimi_code.git.checkpoints.io import GC_MARKER
from kimi_code.git.checkpoints.store import CheckpointStore, store_dir
from tests.support.checkpoint_stores import (
    assert_store_sound,
    digest_tree,
    make_session,
    session_refs,
)

DAY = 24 * 3600


def write_config(text: str) -> None:
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text(text)


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result


def test_list_and_gc_through_the_cli(make_repo, monkeypatch):
    root = make_repo({"a.py": "x = 1\n"})
    monkeypatch.chdir(root)
    for sid, age in (("old-session", 90), ("mid-session", 45), ("new-session", 0)):
        make_session(monkeypatch, root, sid, age, n=2)
    user_git = digest_tree(root / ".git")
    write_config("[checkpoints]\nkeep_sessions = 1\nkeep_days = 60\n")

    listed = invoke("checkpoints", "list")
    assert listed.exit_code == 0, listed.output
    assert "old-session" in listed.output and "3 session(s), 6 checkpoint(s)" in listed.output
    assert "keep the last 1 sessions and 60 days" in listed.output
    data = json.loads(invoke("checkpoints", "list", "--json").stdout)
    assert [(s["session_id"], s["checkpoints"]) for s in data["sessions"]] == [
        ("new-session", 2), ("mid-session", 2), ("old-session", 2)]
    assert all(s["bytes"] > 0 for s in data["sessions"])

    before = digest_tree(store_dir(root))
    dry = invoke("checkpoints", "gc", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would drop 1 session(s), 2 checkpoint(s)" in dry.output and "old-session" in dry.output
    assert "would free about" in dry.output
    assert digest_tree(store_dir(root)) == before, "a dry run changes nothing"

    done = invoke("checkpoints", "gc")
    assert done.exit_code == 0, done.output
    assert "dropped 1 session(s), 2 checkpoint(s)" in done.output and "freed" in done.output
    assert session_refs(root) == ["mid-session", "new-session"]
    again = invoke("checkpoints", "list")
    assert "old-session" not in again.output and "Last gc: never" not in again.output
    assert digest_tree(root / ".git") == user_git, "the user's .git is byte-identical"


def test_all_workspaces_removes_stores_of_deleted_workspaces(tmp_path, monkeypatch):
    kept, gone = tmp_path / "kept", tmp_path / "gone"
    for ws in (kept, gone):
        ws.mkdir()
        make_session(monkeypatch, ws, "s1", 0, n=1)
    gone_store, kept_store = store_dir(gone), store_dir(kept)
    shutil.rmtree(gone)
    trash = gone_store.parent / ".trash-leftover"
    (trash / "repo").mkdir(parents=True)
    (trash / "repo" / "pack").write_bytes(b"x" * 1000)
    monkeypatch.chdir(tmp_path)

    listed = invoke("checkpoints", "list", "--all-workspaces")
    assert f"{gone}" in listed.output and "workspace gone" in listed.output
    dry = invoke("checkpoints", "gc", "--all-workspaces", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"{gone}: workspace no longer exists; would remove its store" in dry.output
    assert "would delete 1 interrupted removal(s)" in dry.output
    assert gone_store.exists() and trash.exists()

    done = invoke("checkpoints", "gc", "--all-workspaces")
    assert done.exit_code == 0, done.output
    assert f"{gone}: workspace no longer exists; removed its store" in done.output
    assert not gone_store.exists() and not trash.exists()
    assert kept_store.exists() and session_refs(kept) == ["s1"]
    assert f"{kept}: nothing to drop" in done.output
    assert not [p for p in kept_store.parent.iterdir() if p.name.startswith(".trash-")]


def test_gc_with_no_store_and_bad_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("checkpoints", "gc")
    assert result.exit_code == 0 and "nothing to collect" in result.output
    write_config("[checkpoints]\nkeep_sessions = 0\n")
    (tmp_path / "f").write_text("x")
    CheckpointStore(tmp_path, "s").snapshot("t")
    result = invoke("checkpoints", "gc")
    assert result.exit_code == 2
    assert "checkpoints.keep_sessions: must be at least 1" in result.output


def test_checkpoints_config_table(tmp_path):
    path = tmp_path / "config.toml"
    config = parse_config("[checkpoints]\nkeep_days = 7\nkeep_sessions = 3\nmax_size_mb = 0\n"
                          "auto_gc = false\n", path)
    assert (config.checkpoints.keep_days, config.checkpoints.keep_sessions,
            config.checkpoints.max_size_mb, config.checkpoints.auto_gc) == (7, 3, 0, False)
    assert parse_config("", path).checkpoints.keep_days == 30
    with pytest.raises(ConfigError, match=r"config.toml:2: checkpoints.keep_dayz: unknown key"):
        parse_config("[checkpoints]\nkeep_dayz = 7\n", path)
    with pytest.raises(ConfigError, match="checkpoints.max_size_mb: expected int"):
        parse_config("[checkpoints]\nmax_size_mb = '1G'\n", path)


def _wait_for_result(stamp: Path, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return json.loads(stamp.read_text())
        except (OSError, ValueError):
            time.sleep(0.1)
    raise AssertionError(f"the background gc never wrote {stamp}")


def test_session_start_runs_the_daily_gc_in_the_background(tmp_path, monkeypatch):
    from kimi_code.git.checkpoints import auto as checkpoints_auto
    from kimi_code.runtime.assemble import make_checkpointer

    monkeypatch.setattr(checkpoints_auto, "START_DELAY_S", 0.0)
    ws = tmp_path / "w"
    ws.mkdir()
    make_session(monkeypatch, ws, "old", 90, n=2, payload=os.urandom(30_000))
    (ws / "data.bin").unlink()
    make_session(monkeypatch, ws, "new", 0, n=2)
    write_config("[checkpoints]\nkeep_sessions = 1\n")
    base = store_dir(ws)
    stamp = base / STAMP_NAME

    make_checkpointer(ws, "new")
    assert not stamp.exists(), "a store made today is not collected"
    old = time.time() - 2 * DAY
    os.utime(base / "workspace", (old, old))
    make_checkpointer(ws, "new")  # the session start hook: spawns the gc and returns
    result = _wait_for_result(stamp)
    assert result["dropped_sessions"] == 1 and result["dropped_checkpoints"] == 2
    assert result["bytes_after"] < result["bytes_before"]
    assert session_refs(ws) == ["new"]
    mtime = stamp.stat().st_mtime
    assert schedule_auto_gc(ws, "new") is None, "at most once a day"
    assert stamp.stat().st_mtime == mtime


def test_auto_gc_respects_config_and_env(tmp_path, monkeypatch):
    ws = tmp_path / "w"
    ws.mkdir()
    for sid, age in (("old", 90), ("new", 0)):
        make_session(monkeypatch, ws, sid, age, n=1)
    base = store_dir(ws)
    old = time.time() - 2 * DAY
    os.utime(base / "workspace", (old, old))
    monkeypatch.setenv("KIMI_CODE_NO_CHECKPOINT_GC", "1")
    assert schedule_auto_gc(ws, "new") is None
    monkeypatch.delenv("KIMI_CODE_NO_CHECKPOINT_GC")
    write_config("[checkpoints]\nkeep_sessions = 1\nauto_gc = false\n")
    proc = schedule_auto_gc(ws, "new", delay=0)
    assert proc is not None and proc.wait(timeout=120) == 0
    assert session_refs(ws) == ["new", "old"], "auto_gc = false: the run does nothing"
    os.utime(base / STAMP_NAME, (old, old))
    write_config("[checkpoints]\nkeep_sessions = 1\n")
    proc = schedule_auto_gc(ws, "old", delay=0)  # the session starting now is never dropped
    assert proc is not None and proc.wait(timeout=120) == 0
    assert session_refs(ws) == ["new", "old"]


def test_a_gc_killed_at_any_moment_leaves_a_usable_store(tmp_path, monkeypatch):
    ws = tmp_path / "w"
    ws.mkdir()
    for n in range(6):
        make_session(monkeypatch, ws, f"old{n}", 90 - n, n=3, payload=os.urandom(20_000))
    keep = make_session(monkeypatch, ws, "new", 0, n=2)
    write_config("[checkpoints]\nkeep_sessions = 1\n")
    store = CheckpointStore(ws, "new")
    args = [sys.executable, "-m", "kimi_code.git.checkpoints.auto", str(ws), "--protect", "new"]
    marker = store_dir(ws) / GC_MARKER
    finished, killed = False, 0
    # Each run is killed (with its git children) a little later after it starts changing the
    # store (the marker appears under the lock, just before the ref transaction): inside the
    # transaction, then at points through git gc. The last run is left to finish.
    for attempt, offset in enumerate([0, 0.005, 0.01, 0.02, 0.04, 0.07, 0.1, 0.15, 0.22, 0.3, None]):
        assert not marker.exists()
        proc = subprocess.Popen(args, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        if offset is not None:
            while not marker.exists() and proc.poll() is None:
                time.sleep(0.001)
            time.sleep(offset)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                killed += 1
        finished = proc.wait(timeout=120) == 0 and offset is None
        assert_store_sound(ws)
        (ws / "shared.txt").write_text(f"after kill {attempt}\n")
        store.snapshot(f"after Edit {attempt}")  # the store still takes checkpoints
        assert "new" in session_refs(ws)
    assert finished and killed >= 1, (finished, killed)
    assert session_refs(ws) == ["new"]
    assert store.restore(keep[0].id, force=True).applied
    assert (ws / "new.txt").read_text() == "new version 0\n" * 50
    assert_store_sound(ws)
