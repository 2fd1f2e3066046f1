"""Helpers shared by several test modules (moved out of tests/git/test_checkpoints_gc.py: tests never import test modules)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kimi_code.git.checkpoints import store as cpmod
from kimi_code.git.checkpoints.store import Checkpoint, CheckpointStore, store_dir

NOW = datetime.now(UTC)

def set_clock(monkeypatch: pytest.MonkeyPatch, days_ago: float) -> None:
    """Checkpoints taken from now on say they were made `days_ago` days ago."""
    moment = NOW - timedelta(days=days_ago)
    monkeypatch.setattr(cpmod, "_now_iso", lambda: moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))

def make_session(monkeypatch: pytest.MonkeyPatch, ws: Path, sid: str, days_ago: float,
                 n: int = 3, payload: bytes = b"") -> list[Checkpoint]:
    """`n` checkpoints of session `sid`, each after changing `<sid>.txt` (content unique to the
    session) and `shared.txt`; `payload` goes into `data.bin` (e.g. incompressible bytes)."""
    store = CheckpointStore(ws, sid)
    taken = []
    for i in range(n):
        set_clock(monkeypatch, days_ago - i / 1440)
        (ws / f"{sid}.txt").write_text(f"{sid} version {i}\n" * 50)
        (ws / "shared.txt").write_text(f"shared {i}\n")
        if payload:
            (ws / "data.bin").write_bytes(payload)
        taken.append(store.snapshot(f"turn {i}", message_seq=i))
    return taken

def digest_tree(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` (byte-identity checks)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out

def shadow(ws: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """git on the shadow store of `ws` (with its own index, as gc sees it)."""
    base = store_dir(ws)
    env = {**os.environ, "GIT_DIR": str(base / "repo"), "GIT_INDEX_FILE": str(base / "index")}
    proc = subprocess.run(["git", *args], cwd=base, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {proc.stderr}")
    return proc

def session_refs(ws: Path) -> list[str]:
    out = shadow(ws, "for-each-ref", "--format=%(refname)", "refs/kimi/sessions/").stdout
    return sorted(r.rsplit("/", 1)[1] for r in out.split())

def assert_store_sound(ws: Path) -> None:
    """fsck finds nothing missing or broken, the index included."""
    proc = shadow(ws, "fsck", "--full", "--no-dangling", check=False)
    # HEAD is a symref to refs/kimi/latest by design (no branches in the store); fsck flags it
    problems = [line for line in (proc.stdout + proc.stderr).splitlines()
                if line.strip() and "HEAD points to something strange" not in line]
    assert not problems, problems
