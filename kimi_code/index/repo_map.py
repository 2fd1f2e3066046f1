"""The index's public face: RepoIndex (update, map, symbol search, references) and
`initial_repo_map` for the agent's system prompt.

Typical use:

    with RepoIndex(workspace) as index:
        index.update()
        print(index.render_map(focus_files=["src/app.py"], max_tokens=2048))
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from kimi_code.index.cache import IndexCache, db_path_for
from kimi_code.index.rank import rank
from kimi_code.index.render import MapEntry, fit_to_budget
from kimi_code.index.scan import (
    IndexPathError,
    Progress,
    ScanResult,
    check_indexable,
    update_index,
)
from kimi_code.index.snapshot import load_graph_data
from kimi_code.index.symbols import SymbolQueries

__all__ = ["IndexPathError", "IndexSummary", "RepoIndex", "initial_repo_map"]

T = TypeVar("T")


@dataclass
class IndexSummary:
    """Totals over the whole cached index (not just what the last update touched)."""

    files_by_language: dict[str, int]
    defs_by_language: dict[str, int]
    skipped: dict[str, int]  # reason -> count (unsupported-by-name files not included)

    @property
    def files(self) -> int:
        return sum(self.files_by_language.values())

    @property
    def definitions(self) -> int:
        return sum(self.defs_by_language.values())


class RepoIndex(SymbolQueries):
    """The tree-sitter index of one root directory, cached in SQLite outside the tree."""

    def __init__(self, root: Path, cache_path: Path | None = None) -> None:
        root = Path(root).expanduser()
        check_indexable(root)
        self.root = root.resolve()
        self.cache = IndexCache(cache_path or db_path_for(self.root))
        self.conn = self.cache.conn

    def close(self) -> None:
        self.cache.close()

    def recovering(self, op: Callable[[], T]) -> T:
        """Run `op` (an update and its queries). If the cache file turns out to be corrupt
        ("database disk image is malformed": a disk error, a copy taken mid-write), start it
        over and run `op` once more: the cache is disposable, re-parsing is the only cost."""
        try:
            return op()
        except sqlite3.DatabaseError as exc:
            if type(exc) is not sqlite3.DatabaseError:  # locked, I/O, integrity: not corruption
                raise
            path = self.cache.path
            self.cache.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            self.cache = IndexCache(path)
            self.conn = self.cache.conn
            return op()

    def __enter__(self) -> RepoIndex:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def update(self, progress: Progress | None = None, deadline: float | None = None,
               workers: int | None = None) -> ScanResult:
        """Re-scan the root; parse only files that changed since the cache saw them."""
        return update_index(self.root, self.cache, progress=progress, deadline=deadline,
                            workers=workers)

    def summary(self) -> IndexSummary:
        files: Counter[str] = Counter()
        defs: Counter[str] = Counter()
        skipped: Counter[str] = Counter()
        for lang, skip, count, ndefs in self.conn.execute(
            "SELECT lang, skip, COUNT(*), SUM(ndefs) FROM files GROUP BY lang, skip"
        ):
            if skip:
                skipped[skip.split(":", 1)[0]] += count
            else:
                files[lang] += count
                defs[lang] += ndefs or 0
        return IndexSummary(dict(sorted(files.items())), dict(sorted(defs.items())),
                            dict(sorted(skipped.items())))

    def normalize_path(self, path: str) -> str | None:
        """A user-given path (absolute or root-relative) as the index's relative key."""
        p = Path(path).expanduser()
        p = p if p.is_absolute() else self.root / p
        try:
            return Path(os.path.normpath(p)).resolve().relative_to(self.root).as_posix()
        except ValueError:
            return None

    def ranked_entries(self, focus_files: list[str] | tuple[str, ...] = (),
                       focus_symbols: list[str] | tuple[str, ...] = (),
                       limit: int = 1000) -> list[MapEntry]:
        """The best `limit` cached definitions for the given focus, best first."""
        graph = load_graph_data(self.conn)
        focus = [p for f in focus_files if (p := self.normalize_path(f)) is not None]
        ranking = rank(graph, focus, focus_symbols)
        top = ranking.def_order[:limit].tolist()
        rowids = [int(graph.def_rowid[i]) for i in top]
        rows: dict[int, tuple] = {}
        for chunk in range(0, len(rowids), 500):
            part = rowids[chunk : chunk + 500]
            marks = ",".join("?" * len(part))
            for row in self.conn.execute(
                f"SELECT rowid, name, kind, line, end_line, signature FROM defs "
                f"WHERE rowid IN ({marks})", part,
            ):
                rows[row[0]] = row
        entries = []
        for i, rowid in zip(top, rowids, strict=True):
            row = rows.get(rowid)
            if row is not None:  # vanished if another process rewrote the file meanwhile
                path = graph.paths[int(graph.def_node[i])]
                entries.append(MapEntry(path, row[3], row[4], row[1], row[2], row[5]))
        return entries

    def render_map(self, focus_files: list[str] | tuple[str, ...] = (),
                   focus_symbols: list[str] | tuple[str, ...] = (),
                   max_tokens: int = 1024) -> str:
        """The ranked repo map fitted to `max_tokens` (estimated tokens)."""
        entries = self.ranked_entries(focus_files, focus_symbols, limit=max(max_tokens, 0))
        return fit_to_budget(entries, max_tokens)


def initial_repo_map(workspace: Path, max_tokens: int = 1024, time_budget_s: float = 2.0) -> str:
    """A small repo map for the agent's system prompt; "" when there is nothing to show.

    Never raises. On a cold cache of a huge repository it parses for at most `time_budget_s`
    seconds, keeps that work in the cache for next time, and says the map is partial.
    """
    try:
        with RepoIndex(Path(workspace)) as index:
            result = index.update(deadline=time.monotonic() + time_budget_s)
            text = index.render_map(max_tokens=max_tokens)
    except Exception:  # a map is a nicety; the session must start regardless
        return ""
    if result.errors:
        return text + "".join(f"({err})\n" for err in result.errors)
    if not result.complete:
        note = (f"({result.pending} files not indexed yet: indexing stopped after "
                f"{time_budget_s:g}s; run `kimi-code index` to finish; the RepoMap tool "
                "continues it too)\n")
        return text + note
    return text
