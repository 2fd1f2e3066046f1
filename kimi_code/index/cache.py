"""The index cache: one SQLite database per indexed root, outside the work tree.

Files are keyed by path and validated by (mtime_ns, size) plus the per-language query version;
a content digest backs that up when a timestamp cannot be trusted (see scan.py). Every write of
a file replaces its rows inside one transaction, and WAL mode plus a busy timeout let two
processes index the same root at once: the later writer simply wins with identical data.

Tables: files(id, path, mtime_ns, size, digest, lang, qver, skip, racy, ndefs, gen) where gen
is the generation that last wrote the file's rows (snapshot.py patches the graph with it);
defs(file_id, name, kind, line, end_line, signature);
refs(file_id, name, kind, count, lines) — one row per (file, name, kind), lines comma-joined.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from kimi_code.paths import cache_dir, ensure_dir

SCHEMA_VERSION = "6"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    digest TEXT NOT NULL,
    lang TEXT NOT NULL,
    qver TEXT NOT NULL,
    skip TEXT NOT NULL,
    racy INTEGER NOT NULL,
    ndefs INTEGER NOT NULL,
    gen INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS files_gen ON files(gen);
CREATE TABLE IF NOT EXISTS defs (
    file_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    signature TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS defs_name ON defs(name);
CREATE INDEX IF NOT EXISTS defs_file ON defs(file_id);
CREATE TABLE IF NOT EXISTS refs (
    file_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    lines TEXT NOT NULL,
    PRIMARY KEY (file_id, name, kind)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS refs_name ON refs(name);
CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY, generation TEXT NOT NULL,
                                     data BLOB NOT NULL);
"""

# Every write that changes tags bumps the generation (and stamps the files it writes with it),
# which tells the graph snapshot what to patch.
_BUMP = ("INSERT INTO meta VALUES ('generation', '1') ON CONFLICT(key) DO UPDATE SET "
         "value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) RETURNING value")


class CachedFile(NamedTuple):
    id: int
    mtime_ns: int
    size: int
    digest: str
    lang: str
    qver: str
    skip: str
    racy: bool


def db_path_for(root: Path) -> Path:
    """Where the cache for `root` lives: `<cache_dir>/index/<name>-<hash of real path>.sqlite`."""
    real = os.path.realpath(root)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", os.path.basename(real) or "root")[:40]
    digest = hashlib.blake2b(real.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
    return cache_dir() / "index" / f"{slug}-{digest}.sqlite"


def forget_cache(root: Path) -> None:
    """Delete the cache database of `root` (call it before removing a temporary tree that was
    indexed: a review export, a subagent worktree; otherwise its cache outlives it)."""
    db = db_path_for(root)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


_CONNECT_ATTEMPTS = 40  # ~40 s in all: longer than any other process's schema set-up


class IndexCache:
    """A connection to one root's cache database. Not shared between threads."""

    def __init__(self, path: Path) -> None:
        ensure_dir(path.parent)
        self.path = path
        try:
            self.conn = self._connect_when_free()
        except sqlite3.OperationalError:
            raise  # busy or unwritable: another process owns the cache, it is not corrupt
        except sqlite3.DatabaseError:
            # A corrupt cache is disposable: start over rather than fail the user's command.
            # Only real corruption gets here: deleting the files under a second process that is
            # still creating them would leave it reading someone else's WAL ("no such table").
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            self.conn = self._connect_when_free()

    def _connect_when_free(self) -> sqlite3.Connection:
        """_connect, retried while another process holds the lock that switching a brand-new
        database to WAL needs (SQLite answers that switch with SQLITE_BUSY at once instead of
        calling the busy handler)."""
        for attempt in range(_CONNECT_ATTEMPTS):
            try:
                return self._connect()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if attempt == _CONNECT_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=60000")
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = None
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone():
                row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
                version = row[0] if row else None
            if version != SCHEMA_VERSION:
                for table in ("meta", "files", "defs", "refs", "snapshot"):
                    conn.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            conn.close()
            raise
        return conn

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> IndexCache:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------------

    def file_rows(self) -> dict[str, CachedFile]:
        """Every cached file by path."""
        rows = self.conn.execute(
            "SELECT path, id, mtime_ns, size, digest, lang, qver, skip, racy FROM files"
        )
        return {r[0]: CachedFile(r[1], r[2], r[3], r[4], r[5], r[6], r[7], bool(r[8])) for r in rows}

    # -- writing -----------------------------------------------------------------------------

    def write_batch(self, results: Sequence[tuple], stats: dict[str, tuple[int, int, bool]],
                    qvers: dict[str, str]) -> None:
        """Store parsed files, replacing what was there, in one transaction.

        `results` are worker tuples (path, lang, digest, skip, defs, refs) with refs already
        grouped as (name, kind, count, lines) (see tags.group_refs); `stats` maps path to
        (mtime_ns, size, racy) as seen before the file was read; `qvers` maps lang to version.
        """
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            gen = int(conn.execute(_BUMP).fetchone()[0])
            for path, lang, digest, skip, defs, refs in results:
                mtime_ns, size, racy = stats[path]
                row = conn.execute(
                    "INSERT INTO files (path, mtime_ns, size, digest, lang, qver, skip, racy, ndefs,"
                    " gen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET"
                    " mtime_ns=excluded.mtime_ns, size=excluded.size, digest=excluded.digest,"
                    " lang=excluded.lang, qver=excluded.qver, skip=excluded.skip,"
                    " racy=excluded.racy, ndefs=excluded.ndefs, gen=excluded.gen RETURNING id",
                    (path, mtime_ns, size, digest, lang, qvers.get(lang, ""), skip, int(racy),
                     len(defs), gen),
                ).fetchone()
                file_id = row[0]
                conn.execute("DELETE FROM defs WHERE file_id=?", (file_id,))
                conn.execute("DELETE FROM refs WHERE file_id=?", (file_id,))
                if defs:
                    conn.executemany(
                        "INSERT INTO defs VALUES (?, ?, ?, ?, ?, ?)",
                        [(file_id, *d) for d in defs],
                    )
                if refs:
                    conn.executemany("INSERT INTO refs VALUES (?, ?, ?, ?, ?)",
                                     [(file_id, *r) for r in refs])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def touch(self, updates: Iterable[tuple[str, int, int, bool]]) -> None:
        """Record new (mtime_ns, size, racy) for files whose content proved unchanged."""
        with_tx(self.conn, "UPDATE files SET mtime_ns=?, size=?, racy=? WHERE path=?",
                [(m, s, int(r), p) for p, m, s, r in updates])

    def delete(self, paths: Iterable[str]) -> None:
        """Forget files that no longer exist (or are now ignored)."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for path in paths:
                row = conn.execute("DELETE FROM files WHERE path=? RETURNING id", (path,)).fetchone()
                if row:
                    conn.execute("DELETE FROM defs WHERE file_id=?", (row[0],))
                    conn.execute("DELETE FROM refs WHERE file_id=?", (row[0],))
            conn.execute(_BUMP).fetchall()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def with_tx(conn: sqlite3.Connection, sql: str, rows: list[tuple]) -> None:
    """executemany inside one write transaction (no-op for no rows)."""
    if not rows:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
