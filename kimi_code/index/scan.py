"""Scanning: list the files of a root, decide what changed since the cache, parse that.

Listing: `git ls-files` (tracked + untracked-not-ignored) inside git, else a .gitignore-aware
walk. Change detection: a cached file is trusted when (mtime_ns, size) and its language's
query version match. A file whose mtime was within RACY_WINDOW_NS of the scan that indexed it
is "racy" (it could be rewritten within the same timestamp tick without changing the stat), so
the next scan compares its content digest instead of trusting the stat. Files whose stat changed
are sent to parse with their old digest; a worker that finds the same digest reports "same"
and the parse is skipped (touch, branch switch back and forth).

Parsing holds the GIL, so a cold scan of many files runs in a process pool; small updates run
in-process, where a pool's start-up would cost more than it saves.
"""

from __future__ import annotations

import itertools
import os
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from kimi_code.git.runner import GitError, run_git
from kimi_code.index.cache import IndexCache
from kimi_code.index.ignore import walk_files
from kimi_code.index.languages import BY_NAME, language_for_path, needs_shebang_probe, query_version
from kimi_code.index.tags import MAX_FILE_BYTES, analyze_file, group_refs

RACY_WINDOW_NS = 2_000_000_000
POOL_MIN_FILES = 150  # below this, parse in-process
CHUNK_FILES = 24
WRITE_BATCH = 256
# A directory walk outside git (say, of a home directory) stops here rather than run forever.
MAX_WALK_FILES = 300_000

Progress = Callable[[int, int], None]  # (files done, files to parse)


class IndexPathError(ValueError):
    """The path to index is missing or not a directory."""


@dataclass
class ScanResult:
    """What one update did."""

    root: Path
    listed: int = 0
    unsupported: int = 0  # files no grammar covers, judged by name (not stored)
    parsed: int = 0
    unchanged: int = 0
    same_content: int = 0
    deleted: int = 0
    complete: bool = True  # False when a deadline stopped the parse early
    pending: int = 0
    seconds: float = 0.0
    git: bool = False
    errors: list[str] = field(default_factory=list)


def list_files(root: Path) -> tuple[list[str], bool]:
    """Files under `root` as sorted POSIX relative paths, and whether git listed them."""
    try:  # the safe runner: no fsmonitor or other program of the repository's, no secrets
        proc = run_git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                       cwd=root, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired, GitError):
        proc = None
    if proc is not None and proc.returncode == 0:
        names = {p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if p}
        return sorted(names), True
    if _inside_git_dir(root):
        raise git_dir_error(root)
    return sorted(itertools.islice(walk_files(str(root)), MAX_WALK_FILES)), False


def git_dir_error(root: Path) -> IndexPathError:
    # A bare repository (or a .git directory) holds objects, not source: walking it would
    # "index" hook samples and pack files and report a misleading empty map.
    return IndexPathError(f"cannot index {root}: it is a git directory (a bare repository or "
                          ".git itself) with no work tree; index a clone or a worktree of it")


def check_indexable(root: Path) -> None:
    """Raise IndexPathError when `root` is missing, not a directory, or plainly a git
    directory (HEAD, objects/ and refs/ at its top; filesystem checks only, no git call)."""
    if not root.is_dir():
        what = "not a directory" if root.exists() else "no such directory"
        raise IndexPathError(f"cannot index {root}: {what}")
    if (root / "HEAD").is_file() and (root / "objects").is_dir() and (root / "refs").is_dir():
        raise git_dir_error(root)


def _inside_git_dir(root: Path) -> bool:
    try:
        proc = run_git(["rev-parse", "--is-inside-git-dir"], cwd=root, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired, GitError):
        return False
    return proc.returncode == 0 and proc.stdout.strip() == b"true"


def _pool_workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _mp_context():
    # fork is cheapest, but forking a process that runs other threads (a progress bar, the
    # agent's helpers) can deadlock the child on a lock some thread held. forkserver forks
    # from a clean single-threaded server that has the parsing code preloaded.
    if os.name != "posix":
        return get_context("spawn")
    if threading.active_count() == 1:
        return get_context("fork")
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload(["kimi_code.index.tags"])
    return ctx


def _parse_chunk(root: str, jobs: list[tuple[str, str | None, int, str]]) -> list[tuple]:
    """Worker entry: analyse files; a job whose content digest is unchanged returns 'same'."""
    out: list[tuple] = []
    for path, lang, size, old_digest in jobs:
        res = analyze_file(root, path, lang, size, old_digest)
        # plain tuples pickle faster than NamedTuples on the way back to the parent
        out.append((res.path, res.lang, res.digest, res.skip,
                    [tuple(d) for d in res.defs], group_refs(res.refs)))
    return out


def _drop_undecodable(paths: list[str], result: ScanResult) -> list[str]:
    """Leave out names that are not valid UTF-8 (they arrive surrogate-escaped): the cache,
    the repo map and the model all speak UTF-8, so such a file cannot be stored or named.
    The user is told which ones, instead of the whole index failing."""
    kept, bad = [], []
    for path in paths:
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            bad.append(path)
            continue
        kept.append(path)
    if bad:
        shown = ", ".join(ascii(p) for p in bad[:3]) + (" ..." if len(bad) > 3 else "")
        result.errors.append(f"{len(bad)} file name(s) are not valid UTF-8 and were not "
                             f"indexed: {shown} (rename them to index them)")
    return kept


def _plan(root: Path, cache: IndexCache, result: ScanResult, scan_start_ns: int):
    """Stat listed files and split them into jobs to parse, rows to forget, and the stats."""
    paths, result.git = list_files(root)
    result.listed = len(paths)
    if not result.git and len(paths) >= MAX_WALK_FILES:
        result.complete = False
        result.errors.append(f"directory walk stopped at {MAX_WALK_FILES} files; index a "
                             "smaller directory or a git repository")
    paths = _drop_undecodable(paths, result)
    cached = cache.file_rows()
    jobs: list[tuple[str, str | None, int, str]] = []
    stats: dict[str, tuple[int, int, bool]] = {}
    seen: set[str] = set()
    root_s = str(root)
    for path in paths:
        lang = language_for_path(path)
        if lang is None and not needs_shebang_probe(path):
            result.unsupported += 1
            continue
        try:
            # lstat: a symlink is skipped, so nothing outside the root is read and nothing twice
            st = os.lstat(os.path.join(root_s, path))
        except OSError:
            continue  # deleted but still in git's index
        if not stat.S_ISREG(st.st_mode):
            continue
        seen.add(path)
        racy = st.st_mtime_ns > scan_start_ns - RACY_WINDOW_NS
        stats[path] = (st.st_mtime_ns, st.st_size, racy)
        row = cached.get(path)
        # Extensionless files keep the language their shebang gave them last time.
        eff_lang = lang or (row.lang if row is not None else None) or None
        expected_qver = query_version(eff_lang) if eff_lang else ""
        # The cached row counts only when it was parsed with this language's current query.
        current = row if row is not None and row.qver == expected_qver else None
        if (current is not None and current.mtime_ns == st.st_mtime_ns
                and current.size == st.st_size and not current.racy):
            result.unchanged += 1
            continue
        old_digest = current.digest if current is not None else ""
        jobs.append((path, lang, st.st_size, old_digest))
    gone = [p for p in cached if p not in seen]
    return jobs, stats, gone


def update_index(root: Path, cache: IndexCache, progress: Progress | None = None,
                 deadline: float | None = None, workers: int | None = None) -> ScanResult:
    """Bring the cache for `root` up to date; parse only what changed.

    `deadline` (a time.monotonic() value) stops parsing early: what was parsed is kept and
    `complete` is False. `workers` forces the pool size (1 = in-process).
    """
    started = time.perf_counter()
    root = root.resolve()
    check_indexable(root)
    result = ScanResult(root=root)
    scan_start_ns = time.time_ns()
    jobs, stats, gone = _plan(root, cache, result, scan_start_ns)
    if gone:
        cache.delete(gone)
        result.deleted = len(gone)
    qvers = {lang: query_version(lang) for lang in BY_NAME}
    sink = _Sink(cache, stats, qvers, result, progress, len(jobs))
    n_workers = workers if workers is not None else _pool_workers()
    if n_workers > 1 and len(jobs) >= POOL_MIN_FILES:
        _run_pool(str(root), jobs, n_workers, sink, deadline)
    else:
        for i, job in enumerate(jobs):
            if deadline is not None and time.monotonic() > deadline:
                result.complete, result.pending = False, len(jobs) - i
                break
            sink.add(_parse_chunk(str(root), [job]))
    sink.flush()
    result.seconds = time.perf_counter() - started
    return result


class _Sink:
    """Collects worker results, writes them in batches, reports progress."""

    def __init__(self, cache: IndexCache, stats, qvers, result: ScanResult,
                 progress: Progress | None, total: int) -> None:
        self.cache, self.stats, self.qvers, self.result = cache, stats, qvers, result
        self.progress, self.total, self.done = progress, total, 0
        self.rows: list[tuple] = []
        self.same: list[tuple[str, int, int, bool]] = []
        if progress is not None:
            progress(0, total)

    def add(self, results: list[tuple]) -> None:
        for res in results:
            if res[3] == "same":
                m, s, r = self.stats[res[0]]
                self.same.append((res[0], m, s, r))
                self.result.same_content += 1
            else:
                self.rows.append(res)
                self.result.parsed += 1
        self.done += len(results)
        if len(self.rows) >= WRITE_BATCH:
            self.flush()
        if self.progress is not None:
            self.progress(self.done, self.total)

    def flush(self) -> None:
        if self.rows:
            self.cache.write_batch(self.rows, self.stats, self.qvers)
            self.rows = []
        if self.same:
            self.cache.touch(self.same)
            self.same = []


def _run_pool(root: str, jobs: list, n_workers: int, sink: _Sink, deadline: float | None) -> None:
    # Big files first so one late giant does not leave a core idle at the end.
    ordered = sorted(jobs, key=lambda j: -min(j[2], MAX_FILE_BYTES))
    chunks = [ordered[i : i + CHUNK_FILES] for i in range(0, len(ordered), CHUNK_FILES)]
    with ProcessPoolExecutor(max_workers=n_workers, mp_context=_mp_context()) as pool:
        pending: set[Future] = set()
        it = iter(chunks)
        submitted = 0
        # Keep a bounded queue in flight so a deadline can stop work promptly.
        for chunk in it:
            pending.add(pool.submit(_parse_chunk, root, chunk))
            submitted += len(chunk)
            if len(pending) >= n_workers * 3:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                sink.add(fut.result())
            if deadline is not None and time.monotonic() > deadline:
                for fut in pending:
                    fut.cancel()
                sink.result.complete = False
                sink.result.pending = len(jobs) - sink.done
                pool.shutdown(wait=False, cancel_futures=True)
                return
            for chunk in it:
                pending.add(pool.submit(_parse_chunk, root, chunk))
                if len(pending) >= n_workers * 3:
                    break
