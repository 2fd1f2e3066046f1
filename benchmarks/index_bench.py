"""Repository index benchmark: cold / warm / one-file-changed timings, memory, ctags recall.

Corpus: Django 5.2.8's sdist (6,890 files), downloaded once with pip into
~/.cache/kimi-code-bench (outside any repository) and committed into a git repository so the
`git ls-files` path is measured; or any directory given with --corpus. A 4x corpus (four copies
side by side) shows how time and memory scale.

Every measurement runs in a fresh subprocess with its own empty cache (cold) or the cache the
previous step left (warm), and prints wall time, CPU time (parent + workers) and peak RSS.
Baselines in the same run: single process vs. process pool for the cold scan; cold vs. warm.
`--save FILE` keeps a run's figures as JSON and `--compare FILE` prints them beside the
current run's (wall and CPU, with ratios): run the older code with `--save` (for example
with PYTHONPATH pointing at an export of an older commit) to compare before and after.
The issue's reference figures for Aider 0.86 on the same corpus (17.8 s cold, 2.9 s warm) are
printed for comparison; they are quoted, not measured here.

    .venv/bin/python benchmarks/index_bench.py [--corpus DIR] [--no-4x] [--save F] [--compare F]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

DJANGO = "django==5.2.8"
BENCH_HOME = Path.home() / ".cache" / "kimi-code-bench"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b",
                    "-c", "commit.gpgsign=false", *args], check=True, capture_output=True)


def django_corpus() -> Path:
    """Download, extract and commit Django's sdist once; return the repository."""
    repo = BENCH_HOME / "django-5.2.8"
    if (repo / ".git").is_dir():
        return repo
    BENCH_HOME.mkdir(parents=True, exist_ok=True)
    tarball = BENCH_HOME / "django-5.2.8.tar.gz"
    if not tarball.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                        ":all:", DJANGO, "-d", str(BENCH_HOME)], check=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(BENCH_HOME, filter="data")
    make_git_repo(repo)
    return repo


def make_git_repo(path: Path) -> None:
    git(path, "init", "-q")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "corpus")


def corpus_4x(base: Path) -> Path:
    repo = BENCH_HOME / f"{base.name}-x4"
    if (repo / ".git").is_dir():
        return repo
    repo.mkdir(parents=True)
    for i in range(4):
        shutil.copytree(base, repo / f"copy{i}", ignore=shutil.ignore_patterns(".git"))
    make_git_repo(repo)
    return repo


# -- child side: one measurement in a fresh process ------------------------------------------

def child(mode: str, corpus: Path, workers: int | None) -> dict:
    from kimi_code.index.repo_map import RepoIndex

    t0, c0 = time.perf_counter(), time.process_time()
    with RepoIndex(corpus) as index:
        result = index.update(workers=workers)
        t_update = time.perf_counter() - t0
        text = index.render_map(max_tokens=1024) if mode != "cold" else ""
        out = {"update_s": t_update, "total_s": time.perf_counter() - t0,
               "parsed": result.parsed, "files": index.summary().files,
               "defs": index.summary().definitions, "map_chars": len(text)}
        if mode == "recall":
            from kimi_code.index.ctags_compare import ctags_available, python_recall

            if ctags_available():
                recall, total, _ = python_recall(index)
                out.update(recall=recall, ctags_defs=total)
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    out.update(cpu_s=time.process_time() - c0 + kids.ru_utime + kids.ru_stime,
               parent_rss_mb=me.ru_maxrss / 1024, worker_rss_mb=kids.ru_maxrss / 1024)
    return out


def run_child(mode: str, corpus: Path, home: Path, workers: int | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--corpus", str(corpus)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    env = {**os.environ, "KIMI_CODE_HOME": str(home)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- parent side -----------------------------------------------------------------------------

def change_one_file(corpus: Path) -> None:
    target = next(p for p in sorted(corpus.rglob("*.py")) if p.stat().st_size > 5000)
    with target.open("a") as fh:
        fh.write(f"\n\ndef bench_added_{time.time_ns()}():\n    return 1\n")


def measure(corpus: Path, label: str) -> dict:
    with tempfile.TemporaryDirectory() as h1, tempfile.TemporaryDirectory() as h2:
        single = run_child("cold", corpus, Path(h1), workers=1)
        pool = run_child("cold", corpus, Path(h2))
        warm = min((run_child("warm", corpus, Path(h2)) for _ in range(3)),
                   key=lambda r: r["total_s"])
        scratch = Path(tempfile.mkdtemp(prefix="kimi-bench-"))
        try:
            # Edit a copy, not the shared corpus: keep the corpus pristine across runs.
            work = scratch / corpus.name
            shutil.copytree(corpus, work, symlinks=True)
            run_child("warm", work, Path(h2))  # cold-index the copy under the same home
            run_child("warm", work, Path(h2))
            change_one_file(work)
            changed = run_child("warm", work, Path(h2))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return {"label": label, "single": single, "pool": pool, "warm": warm, "changed": changed}


def report(results: list[dict], recall: dict | None) -> None:
    print(f"\n{'corpus':<10} {'files':>6} {'defs':>7} | {'cold 1 proc':>11} {'cold pool':>10} "
          f"{'speedup':>7} {'files/s':>8} | {'warm map':>8} {'1 changed':>9} | "
          f"{'peak MB parent+worker':>22}")
    for r in results:
        s, p, w, c = r["single"], r["pool"], r["warm"], r["changed"]
        print(f"{r['label']:<10} {p['files']:>6} {p['defs']:>7} | {s['update_s']:>10.2f}s "
              f"{p['update_s']:>9.2f}s {s['update_s'] / p['update_s']:>6.2f}x "
              f"{p['parsed'] / p['update_s']:>8.0f} | {w['total_s']:>7.3f}s {c['total_s']:>8.3f}s"
              f" | {p['parent_rss_mb']:>8.0f} + {p['worker_rss_mb']:.0f} x workers")
        print(f"{'':<10} cpu: cold 1 proc {s['cpu_s']:.2f}s, cold pool {p['cpu_s']:.2f}s "
              f"(parent+workers), warm {w['cpu_s']:.3f}s, 1 changed {c['cpu_s']:.3f}s; "
              f"single-process peak "
              f"{s['parent_rss_mb']:.0f} MB; warm vs cold: {p['update_s'] / w['total_s']:.0f}x")
    if len(results) == 2:
        a, b = results
        print(f"4x/1x: cold pool time {b['pool']['update_s'] / a['pool']['update_s']:.2f}x, "
              f"warm map {b['warm']['total_s'] / a['warm']['total_s']:.2f}x, parent peak "
              f"{b['pool']['parent_rss_mb'] / a['pool']['parent_rss_mb']:.2f}x, single-process "
              f"peak {b['single']['parent_rss_mb'] / a['single']['parent_rss_mb']:.2f}x")
    print("reference (issue 4, not measured here): Aider 0.86 repo map on Django 5.2.8: "
          "17.8 s cold, 2.9 s warm; targets: cold <= 4 s on 2 cores, warm map <= 0.3 s, "
          "one file changed <= 0.5 s, peak <= 300 MB")
    if recall and "recall" in recall:
        print(f"Python definition recall vs universal-ctags: {recall['recall']:.4f} "
              f"({recall['ctags_defs']} ctags definitions)")
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    print(f"machine: {cores} usable cores, load average {os.getloadavg()[0]:.2f} at the end")


FIGURES = [("cold 1 proc", "single", "update_s", "cpu_s"), ("cold pool", "pool", "update_s", "cpu_s"),
           ("warm map", "warm", "total_s", "cpu_s"), ("1 changed", "changed", "total_s", "cpu_s")]


def compare(before: list[dict], after: list[dict]) -> None:
    """Print two runs' figures side by side: wall and CPU seconds, after/before ratios."""
    print(f"\n{'':<22} {'wall before':>11} {'wall after':>10} {'ratio':>6} | "
          f"{'cpu before':>10} {'cpu after':>9} {'ratio':>6}")
    old_by_label = {r["label"]: r for r in before}
    for new in after:
        old = old_by_label.get(new["label"])
        if old is None:
            continue
        for title, step, wall, cpu in FIGURES:
            a, b = old[step], new[step]
            print(f"{new['label'] + ' ' + title:<22} {a[wall]:>10.3f}s {b[wall]:>9.3f}s "
                  f"{b[wall] / a[wall]:>6.2f} | {a[cpu]:>9.3f}s {b[cpu]:>8.3f}s "
                  f"{b[cpu] / a[cpu]:>6.2f}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path)
    ap.add_argument("--no-4x", action="store_true", help="skip the 4x corpus")
    ap.add_argument("--child")
    ap.add_argument("--workers", type=int)
    ap.add_argument("--save", type=Path, help="write this run's figures as JSON")
    ap.add_argument("--compare", type=Path, help="print a --save file's figures beside these")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.corpus, args.workers)))
        return 0
    corpus = (args.corpus or django_corpus()).resolve()
    results = [measure(corpus, "1x")]
    with tempfile.TemporaryDirectory() as h:
        recall = run_child("recall", corpus, Path(h))
    if not args.no_4x:
        results.append(measure(corpus_4x(corpus), "4x"))
    report(results, recall)
    if args.save:
        args.save.write_text(json.dumps(results, indent=1))
    if args.compare:
        compare(json.loads(args.compare.read_text()), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
