"""The SQLite file under the session store: opening it safely, pragmas, schema migrations, ids.

Why these settings:
- WAL journal: readers never block the writer and a process killed mid-write leaves the last
  committed state intact (the torn tail of the WAL is ignored on the next open).
- synchronous=NORMAL: in WAL mode every commit is written to the OS before COMMIT returns, so a
  killed *process* loses nothing committed; only an OS crash or power cut may lose the last few
  commits (never corrupting the file). FULL would add an fsync per appended event.
- busy_timeout: several kimi-code processes (TUI, headless runs, subagents) share one file.
- foreign keys: deleting a session deletes its events.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

BUSY_TIMEOUT_MS = 10_000

# Each migration is a list of single statements (executescript would commit implicitly, and the
# version bump must land in the same transaction as the schema change).
MIGRATIONS: list[list[str]] = [
    [  # 1: sessions and their append-only event log
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            created REAL NOT NULL,
            updated REAL NOT NULL,
            workspace TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            title TEXT NOT NULL DEFAULT '',
            parent_id TEXT REFERENCES sessions(id) ON DELETE SET NULL,
            meta TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX sessions_by_workspace ON sessions(workspace, updated)",
        "CREATE INDEX sessions_by_updated ON sessions(updated)",
        "CREATE INDEX sessions_by_parent ON sessions(parent_id)",
        """CREATE TABLE events (
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            ts REAL NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            PRIMARY KEY (session_id, seq)
        )""",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


class SessionStoreError(Exception):
    """A session-store problem with a message meant for the user."""


class StoreCorruptError(SessionStoreError):
    """The database file is not a (healthy) SQLite database."""


def corrupt_message(path: Path, detail: str) -> str:
    return (
        f"The session database {path} is unreadable ({detail}). Move it aside and kimi-code "
        f"will start a fresh one:\n  mv '{path}' '{path}.corrupt'\n"
        f"(also move '{path}-wal' and '{path}-shm' if they exist)."
    )


def translate_error(path: Path, exc: sqlite3.Error) -> SessionStoreError:
    """Turn an sqlite3 error into a SessionStoreError that says what to do."""
    detail = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and "locked" in detail:
        return SessionStoreError(
            f"The session database {path} stayed locked by another process for more than "
            f"{BUSY_TIMEOUT_MS // 1000} s; try again, or look for a stuck kimi-code process."
        )
    if isinstance(exc, sqlite3.OperationalError) and ("readonly" in detail or "unable to open" in detail):
        return SessionStoreError(f"Cannot write the session database {path}: {detail}. "
                                 "Check the permissions of the file and its directory.")
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
        return StoreCorruptError(corrupt_message(path, detail))
    return SessionStoreError(f"Session database {path}: {detail}")


T = TypeVar("T")


def guarded(path: Path, fn: Callable[[], T]) -> T:
    """Run `fn`, re-raising sqlite3 errors as SessionStoreError naming the file."""
    try:
        return fn()
    except sqlite3.IntegrityError:
        raise
    except sqlite3.Error as exc:
        raise translate_error(path, exc) from exc


def _create_private(path: Path) -> None:
    """Create the db file 0600 before SQLite does (it would honour the umask, often 0644):
    transcripts hold code and sometimes secrets. SQLite gives -wal/-shm the same mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the database. Raises SessionStoreError."""
    try:
        _create_private(path)
    except OSError as exc:  # KIMI_CODE_HOME is a file, read-only, on a full disk...
        raise SessionStoreError(
            f"Cannot create the session database {path}: {exc.strerror or exc}"
            f"{f' ({exc.filename})' if exc.filename else ''}. Check that its directory is "
            "writable, or set KIMI_CODE_HOME to a directory you own.") from exc
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one short transaction per write.
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        raise translate_error(path, exc) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise SessionStoreError(f"{path}: SQLite refused WAL mode (got {mode!r}); is it on a "
                                    "network file system? Set KIMI_CODE_HOME to a local directory.")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn, path)
    except sqlite3.Error as exc:
        conn.close()
        raise translate_error(path, exc) from exc
    except SessionStoreError:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the schema to SCHEMA_VERSION. Safe when several processes open a new file at once:
    the version is re-read under the write lock."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise SessionStoreError(
            f"{path} was written by a newer kimi-code (schema {version}, this one knows "
            f"{SCHEMA_VERSION}). Upgrade kimi-code, or set KIMI_CODE_HOME to use another store."
        )
    with transaction(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front so busy_timeout applies (a
    deferred transaction that upgrades to a writer can fail with SQLITE_BUSY at once)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# ---- ids -------------------------------------------------------------------------------------

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case: no i l o u


def new_session_id(now: float | None = None) -> str:
    """A 14-character id that sorts by creation time: 9 chars of milliseconds since the epoch
    (good until the year 3084) + 5 random chars (25 bits) against collisions within one ms."""
    millis = int((time.time() if now is None else now) * 1000)
    head = []
    for _ in range(9):
        head.append(_ALPHABET[millis & 31])
        millis >>= 5
    tail = [secrets.choice(_ALPHABET) for _ in range(5)]
    return "".join(reversed(head)) + "".join(tail)


def is_valid_id(value: str) -> bool:
    """Ids (and prefixes of them) use only the id alphabet: safe in file names and LIKE."""
    return bool(value) and len(value) <= 64 and all(c in _ALPHABET for c in value)
