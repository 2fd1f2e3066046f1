"""Checkpoint gc: what it costs at session start, and what it frees, on a store of 2,000
checkpoints.

Builds a git workspace (default 1,000 files) and a shadow store through the real checkpoint
code: 100 sessions x 20 checkpoints, the sessions' clocks spread over 200 days (each checkpoint
changes a few files). Then, each on a fresh copy of that store:

  baseline    session start with gc not due: `make_checkpointer` (the hook: a stat) + the
              session's first snapshot (interleaved with the next one, --starts times each)
  gc due      the same when the daily gc is due: the hook spawns the background gc (which
              sleeps START_DELAY_S before its Python starts) and the first snapshot follows
  background  the gc process itself (no start delay): wall and CPU time
  worst case  a snapshot requested just as the gc takes the store lock
  foreground  `collect()` itself: wall time, sessions/checkpoints dropped, bytes freed

    .venv/bin/python benchmarks/checkpoints_gc.py [--files 1000] [--sessions 100] [--per 20]
        [--starts 15] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

DAY = 24 * 3600


def _build_workspace(root: Path, files: int) -> list[Path]:
    made = []
    for i in range(files):
        d = root / f"pkg{i % 40:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"mod{i}.py").write_text(f"# file {i}\n" + "value = 1\n" * 30)
        made.append(d / f"mod{i}.py")
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True)
    return made


def _build_store(ws: Path, files: list[Path], sessions: int, per: int) -> None:
    from kimi_code.git.checkpoints import store as cpmod

    now = datetime.now(UTC)
    for s in range(sessions):
        store = cpmod.CheckpointStore(ws, f"bench-{s:03d}")
        start = now - timedelta(days=200 * (sessions - s) / sessions)
        for i in range(per):
            moment = start + timedelta(minutes=i)
            cpmod._now_iso = lambda m=moment: m.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            for f in files[(s * per + i) * 3 % len(files):][:3]:
                f.write_text(f.read_text() + f"edit = {s}_{i}\n")
            store.snapshot(f"turn {i}", message_seq=i)
    cpmod._now_iso = lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _session_start(ws: Path, sid: str) -> tuple[float, object]:
    """The checkpoint part of a session start; returns (seconds, the gc process or None)."""
    import asyncio

    from kimi_code.git.checkpoints import auto as checkpoints_auto
    from kimi_code.runtime.assemble import make_checkpointer

    spawned: list[object] = []
    original = checkpoints_auto.schedule_auto_gc

    def spy(workspace: Path, session_id: str) -> object:
        spawned.append(original(workspace, session_id))
        return spawned[-1]

    checkpoints_auto.schedule_auto_gc = spy
    try:
        t0 = time.perf_counter()
        checkpoint = make_checkpointer(ws, sid)
        asyncio.run(checkpoint("turn: first prompt"))
        return time.perf_counter() - t0, spawned[0] if spawned else None
    finally:
        checkpoints_auto.schedule_auto_gc = original


def _fresh(pristine: Path, base: Path, due: bool) -> None:
    shutil.rmtree(base, ignore_errors=True)
    shutil.copytree(pristine, base, symlinks=True)
    _set_stamp(base, due)


def _set_stamp(base: Path, due: bool) -> None:
    stamp = base / "last-gc"
    stamp.touch()
    when = time.time() - (2 * DAY if due else 0)
    os.utime(stamp, (when, when))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--per", type=int, default=20)
    parser.add_argument("--starts", type=int, default=15, help="session starts of each kind")
    parser.add_argument("--runs", type=int, default=3, help="full background gc runs")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KIMI_CODE_HOME"] = str(Path(tmp) / "home")
        from kimi_code.git.checkpoints.auto import START_DELAY_S
        from kimi_code.git.checkpoints.gc import Policy, collect, read_chains
        from kimi_code.git.checkpoints.io import GC_MARKER
        from kimi_code.git.checkpoints.store import store_dir

        ws = Path(tmp) / "ws"
        ws.mkdir()
        files = _build_workspace(ws, opts.files)
        t0 = time.perf_counter()
        _build_store(ws, files, opts.sessions, opts.per)
        build = time.perf_counter() - t0
        base = store_dir(ws)
        pristine = Path(tmp) / "pristine"
        shutil.copytree(base, pristine, symlinks=True)
        chains = read_chains(base)
        print(f"store: {sum(c.count for c in chains)} checkpoints in {len(chains)} sessions "
              f"over a {opts.files}-file workspace, built in {build:.1f} s")

        from kimi_code.git.checkpoints.auto import schedule_auto_gc
        from kimi_code.git.checkpoints.store import CheckpointStore

        # Session start, interleaved: gc not due / gc due. A due gc's child is stopped while
        # it still sleeps out its start delay, so the store is unchanged for the next run.
        baseline, due = [], []
        for run in range(opts.starts):
            _set_stamp(base, due=False)
            seconds, proc = _session_start(ws, f"base-{run}")
            assert proc is None
            baseline.append(seconds)
            _set_stamp(base, due=True)
            seconds, proc = _session_start(ws, f"due-{run}")
            assert proc is not None, "the gc was due but not started"
            due.append(seconds)
            assert not (base / GC_MARKER).exists(), "the gc started before its delay"
            os.killpg(proc.pid, signal.SIGKILL)  # type: ignore[attr-defined]
            proc.wait()  # type: ignore[attr-defined]

        # The background gc itself, on fresh copies: wall and CPU (it and its git children).
        gc_wall, gc_cpu, worst = [], [], []
        for run in range(opts.runs):
            _fresh(pristine, base, due=True)
            cpu0 = _children_cpu()
            t0 = time.perf_counter()
            proc = schedule_auto_gc(ws, f"gc-{run}", delay=0)
            proc.wait()
            gc_wall.append(time.perf_counter() - t0)
            gc_cpu.append(_children_cpu() - cpu0)
            # worst case: a snapshot asked for just as the gc takes the store lock
            _fresh(pristine, base, due=True)
            store = CheckpointStore(ws, f"worst-{run}")
            proc = schedule_auto_gc(ws, f"worst-{run}", delay=0)
            while not (base / GC_MARKER).exists() and proc.poll() is None:
                time.sleep(0.0005)
            t0 = time.perf_counter()
            store.snapshot("turn: while gc runs")
            worst.append(time.perf_counter() - t0)
            proc.wait()

        _fresh(pristine, base, due=False)
        t0 = time.perf_counter()
        report = collect(base, Policy())
        fg = time.perf_counter() - t0
        b, d = statistics.median(baseline), statistics.median(due)
        print(f"session start, gc not due (baseline): median {b * 1000:.1f} ms "
              f"(min {min(baseline) * 1000:.1f}, max {max(baseline) * 1000:.1f}), {len(baseline)} runs")
        print(f"session start, gc due (spawned in background): median {d * 1000:.1f} ms "
              f"(min {min(due) * 1000:.1f}, max {max(due) * 1000:.1f}); "
              f"ratio due/baseline = {d / b:.2f}, difference {(d - b) * 1000:+.1f} ms")
        print(f"the background gc (run without its {START_DELAY_S:.0f} s start delay): median "
              f"{statistics.median(gc_wall) * 1000:.0f} ms wall, "
              f"{statistics.median(gc_cpu) * 1000:.0f} ms CPU (at nice 10), {len(gc_wall)} runs")
        print(f"worst case, a snapshot asked for just as the gc takes the store lock: median "
              f"{statistics.median(worst) * 1000:.0f} ms (max {max(worst) * 1000:.0f})")
        print(f"foreground collect() with the default policy ({Policy().describe()}): "
              f"{fg * 1000:.0f} ms; dropped {len(report.dropped)} sessions / "
              f"{sum(x.chain.count for x in report.dropped)} checkpoints; "
              f"{report.bytes_before / 1024 / 1024:.2f} MiB -> "
              f"{report.bytes_after / 1024 / 1024:.2f} MiB")

if __name__ == "__main__":
    main()
