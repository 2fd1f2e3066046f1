"""Checkpoint speed and store growth on a synthetic workspace.

Builds a git repository with N files (default 10,000), takes a first snapshot, changes 10 files
and times the second snapshot (target: <= 150 ms). Baseline printed beside it: `git status` on
the same workspace with the user's own index (the floor any stat-based approach pays), so the
ratio is meaningful on any machine. Also prints how much the store grew for the 10-file change.

    .venv/bin/python benchmarks/git_checkpoints.py [--files 10000] [--changed 10] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _build(root: Path, files: int) -> None:
    for i in range(files):
        d = root / f"pkg{i % 100:03d}" / f"sub{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"mod{i}.py").write_text(f"# file {i}\n" + "x = 1\n" * 40)
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--changed", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KIMI_CODE_HOME"] = str(Path(tmp) / "home")
        from kimi_code.git.checkpoints.store import CheckpointStore, store_dir

        ws = Path(tmp) / "ws"
        ws.mkdir()
        _build(ws, opts.files)
        store = CheckpointStore(ws, "bench")
        t0 = time.perf_counter()
        store.snapshot("first")
        first = time.perf_counter() - t0
        times, base, growth = [], [], []
        all_files = sorted(ws.rglob("mod*.py"))
        for run in range(opts.runs):
            for f in all_files[run * opts.changed:(run + 1) * opts.changed]:
                f.write_text(f.read_text() + f"y = {run}\n")
            t0 = time.perf_counter()
            subprocess.run(["git", "status", "--porcelain"], cwd=ws, check=True,
                           stdout=subprocess.DEVNULL)
            base.append(time.perf_counter() - t0)
            before = _du(store_dir(ws))
            t0 = time.perf_counter()
            store.snapshot(f"change {run}")
            times.append(time.perf_counter() - t0)
            growth.append(_du(store_dir(ws)) - before)
        t0 = time.perf_counter()
        store.snapshot("nothing changed")
        noop = time.perf_counter() - t0
        med, bmed = statistics.median(times), statistics.median(base)
        print(f"workspace: {opts.files} files; first snapshot {first * 1000:.0f} ms")
        print(f"snapshot with {opts.changed} changed files: median {med * 1000:.1f} ms "
              f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}) target <= 150 ms")
        print(f"baseline `git status` on the user's repo: median {bmed * 1000:.1f} ms; "
              f"ratio snapshot/status = {med / bmed:.2f}")
        print(f"snapshot with nothing changed: {noop * 1000:.1f} ms")
        print(f"store growth per {opts.changed}-file change: median "
              f"{statistics.median(growth) / 1024:.1f} KiB; store total "
              f"{_du(store_dir(ws)) / 1024 / 1024:.1f} MiB vs workspace "
              f"{_du(ws) / 1024 / 1024:.1f} MiB (incl. .git)")


if __name__ == "__main__":
    main()
