"""SessionStore: sessions and their append-only event log in one SQLite file (WAL).

Every `append` is its own short transaction, so a process killed at any moment loses at most the
event it was writing and never corrupts the store. Workspaces are stored resolved (absolute,
symlinks resolved) so that `latest(Path.cwd())`-style lookups match however the path was spelt.
Sessions whose meta has {"kind": "subagent"} are hidden from `latest` and (by default) `list`,
so `--continue` never lands in a subagent's transcript.
"""

from __future__ import annotations

import builtins  # the class's own list() method shadows the type in its annotations
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kimi_code import paths
from kimi_code.llm.base import Message, Usage
from kimi_code.session.db import (
    SessionStoreError,
    connect,
    guarded,
    is_valid_id,
    new_session_id,
    transaction,
)
from kimi_code.session.lock import SessionInUseError, SessionLock
from kimi_code.session.replay import (
    REPLAY_KINDS,
    StoredEvent,
    latest_ledger,
    rebuild_messages,
    usage_of,
)

log = logging.getLogger("kimi_code.session")
T = TypeVar("T")


class SessionNotFoundError(SessionStoreError, KeyError):
    """No session has this id (or the prefix matches none or several)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class SessionInfo:
    id: str
    created: float
    updated: float
    workspace: str
    model: str
    title: str
    parent_id: str | None
    message_count: int
    meta: dict[str, Any] = field(default_factory=dict)


_INFO_SQL = """SELECT s.id, s.created, s.updated, s.workspace, s.model, s.title, s.parent_id,
    (SELECT count(*) FROM events e WHERE e.session_id = s.id AND e.kind = 'message'), s.meta
    FROM sessions s"""
_NOT_SUBAGENT = ("coalesce(CASE WHEN json_valid(s.meta) THEN json_extract(s.meta, '$.kind') END,"
                 " '') != 'subagent'")


def _utf8(text: str, errors: str = "replace") -> str:
    """`text` as valid UTF-8 (SQLite TEXT must be). Bytes that were not UTF-8 arrive
    surrogate-escaped (a latin-1 prompt on stdin, a directory named in latin-1); `errors`
    says what they become: U+FFFD, or with "backslashreplace" a stable \\xNN escape."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", errors)
    except UnicodeEncodeError:  # a lone surrogate outside the escape range
        return text.encode("utf-8", "replace").decode("utf-8")


def _workspace_key(workspace: Path | str) -> str:
    # backslashreplace, not U+FFFD: two directories whose names differ only in non-UTF-8
    # bytes must not share their sessions (--continue looks them up by this key)
    return _utf8(str(Path(workspace).expanduser().resolve()), "backslashreplace")


def _load_meta(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _info(row: tuple[Any, ...]) -> SessionInfo:
    return SessionInfo(id=row[0], created=row[1], updated=row[2], workspace=row[3], model=row[4],
                       title=row[5], parent_id=row[6], message_count=row[7],
                       meta=_load_meta(row[8]))


def _dump(payload: dict[str, Any]) -> str:
    if not isinstance(payload, dict):
        raise TypeError(f"event payload must be a dict, got {type(payload).__name__}")
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (tool output decoded with surrogateescape) cannot be stored as UTF-8;
        # \u escapes keep them and round-trip through json.loads.
        text = json.dumps(payload, ensure_ascii=True, separators=(",", ":"))
    return text


class SessionStore:
    """Sessions and events in `db_path` (default: paths.sessions_db()). Thread-safe; several
    processes may use the same file at once."""

    def __init__(self, db_path: Path | None = None) -> None:
        self.path = Path(db_path) if db_path is not None else paths.sessions_db()
        self.lock_dir = self.path.parent / "locks"
        self._mutex = threading.RLock()
        self._conn: sqlite3.Connection | None = connect(self.path)

    # ---- plumbing ---------------------------------------------------------------------------

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._mutex:
            if self._conn is None:
                raise SessionStoreError(f"session store {self.path} is closed")
            conn = self._conn
            return guarded(self.path, lambda: fn(conn))

    def close(self) -> None:
        with self._mutex:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- sessions ---------------------------------------------------------------------------

    def create(self, workspace: Path, model: str, title: str = "", parent_id: str | None = None,
               *, meta: dict[str, Any] | None = None) -> str:
        """Start a session and return its id (14 chars, sorts by creation time)."""
        meta_text = _dump(meta or {})
        workspace_key = _workspace_key(workspace)
        model, title = _utf8(model), _utf8(title)

        def insert(conn: sqlite3.Connection) -> str:
            for _ in range(8):
                now = time.time()
                session_id = new_session_id(now)
                try:
                    with transaction(conn):
                        conn.execute(
                            "INSERT INTO sessions(id, created, updated, workspace, model, title,"
                            " parent_id, meta) VALUES (?,?,?,?,?,?,?,?)",
                            (session_id, now, now, workspace_key, model, title, parent_id,
                             meta_text))
                    return session_id
                except sqlite3.IntegrityError as exc:
                    if parent_id is not None and "FOREIGN KEY" in str(exc):
                        raise SessionNotFoundError(f"parent session {parent_id} does not exist") from None
            raise SessionStoreError("could not allocate a unique session id")

        return self._run(insert)

    def get(self, session_id: str) -> SessionInfo | None:
        """The session with this id, or the only one whose id starts with it; else None."""
        matches = self._matches(session_id)
        return matches[0] if len(matches) == 1 else None

    def resolve(self, session_id: str) -> SessionInfo:
        """Like `get`, but raises SessionNotFoundError saying whether nothing or several
        sessions matched (for messages to the user)."""
        matches = self._matches(session_id)
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise SessionNotFoundError(
                f"no session matches '{session_id}' (see `kimi-code sessions list --all`)")
        shown = ", ".join(m.id for m in matches[:5]) + (" ..." if len(matches) > 5 else "")
        raise SessionNotFoundError(
            f"'{session_id}' matches {len(matches)} sessions ({shown}); give more characters")

    def _matches(self, session_id: str) -> list[SessionInfo]:
        key = session_id.strip().lower()
        if not is_valid_id(key):
            return []

        def query(conn: sqlite3.Connection) -> list[SessionInfo]:
            row = conn.execute(f"{_INFO_SQL} WHERE s.id = ?", (key,)).fetchone()
            if row is not None:
                return [_info(row)]
            # Ids use [0-9a-z] only (checked above), so no LIKE wildcard can sneak in.
            rows = conn.execute(f"{_INFO_SQL} WHERE s.id LIKE ? ORDER BY s.id LIMIT 6",
                                (key + "%",)).fetchall()
            return [_info(r) for r in rows]

        return self._run(query)

    def latest(self, workspace: Path) -> SessionInfo | None:
        """The most recently updated (non-subagent) session of this workspace."""
        sql = f"{_INFO_SQL} WHERE s.workspace = ? AND {_NOT_SUBAGENT} ORDER BY s.updated DESC LIMIT 1"
        row = self._run(lambda c: c.execute(sql, (_workspace_key(workspace),)).fetchone())
        return _info(row) if row else None

    def list(self, workspace: Path | None = None, limit: int = 50, *,
             include_subagents: bool = False) -> list[SessionInfo]:
        """Sessions, most recently updated first; of one workspace when given."""
        where, args = [], []
        if workspace is not None:
            where.append("s.workspace = ?")
            args.append(_workspace_key(workspace))
        if not include_subagents:
            where.append(_NOT_SUBAGENT)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        sql = f"{_INFO_SQL}{clause} ORDER BY s.updated DESC LIMIT ?"
        rows = self._run(lambda c: c.execute(sql, (*args, max(0, limit))).fetchall())
        return [_info(r) for r in rows]

    def set_title(self, session_id: str, title: str) -> None:
        def update(conn: sqlite3.Connection) -> int:
            with transaction(conn):
                return conn.execute("UPDATE sessions SET title = ?, updated = ? WHERE id = ?",
                                    (title, time.time(), session_id)).rowcount

        if self._run(update) == 0:
            raise SessionNotFoundError(f"no session {session_id}")

    def update_meta(self, session_id: str, **values: Any) -> dict[str, Any]:
        """Merge `values` into the session's meta object; returns the new meta."""
        def update(conn: sqlite3.Connection) -> dict[str, Any] | None:
            with transaction(conn):
                row = conn.execute("SELECT meta FROM sessions WHERE id = ?",
                                   (session_id,)).fetchone()
                if row is None:
                    return None
                meta = {**_load_meta(row[0]), **values}
                conn.execute("UPDATE sessions SET meta = ? WHERE id = ?", (_dump(meta), session_id))
                return meta

        meta = self._run(update)
        if meta is None:
            raise SessionNotFoundError(f"no session {session_id}")
        return meta

    def delete(self, session_id: str) -> bool:
        """Delete a session and its events. False when there was none; SessionInUseError when
        another process has it open."""
        if not is_valid_id(session_id):
            return False
        with self.lock(session_id):
            def remove(conn: sqlite3.Connection) -> int:
                with transaction(conn):
                    return conn.execute("DELETE FROM sessions WHERE id = ?",
                                        (session_id,)).rowcount

            return self._run(remove) > 0

    def lock(self, session_id: str) -> SessionLock:
        """A lock on the session for this process: a context manager whose `__enter__` (or
        `.acquire()`) raises SessionInUseError while another live process holds it. The lock
        dies with the process (kill -9 included)."""
        if not is_valid_id(session_id):
            raise ValueError(f"not a session id: {session_id!r}")
        return SessionLock(self.lock_dir, session_id)

    # ---- events -----------------------------------------------------------------------------

    def append(self, session_id: str, kind: str, payload: dict[str, Any]) -> int:
        """Append one event in its own transaction and return its seq (1, 2, ...)."""
        text = _dump(payload)

        def insert(conn: sqlite3.Connection) -> int | None:
            now = time.time()
            with transaction(conn):
                if conn.execute("UPDATE sessions SET updated = ? WHERE id = ?",
                                (now, session_id)).rowcount == 0:
                    return None
                seq = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM events"
                                   " WHERE session_id = ?", (session_id,)).fetchone()[0]
                conn.execute("INSERT INTO events(session_id, seq, ts, kind, payload)"
                             " VALUES (?,?,?,?,?)", (session_id, seq, now, kind, text))
                return seq

        seq = self._run(insert)
        if seq is None:
            raise SessionNotFoundError(f"no session {session_id}")
        return seq

    def append_message(self, session_id: str, message: Message, usage: Usage | None = None) -> int:
        """Append a "message" event (payload = message.to_dict(), plus "usage" when given)."""
        payload = message.to_dict()
        if usage is not None:
            payload["usage"] = usage.to_dict()
        return self.append(session_id, "message", payload)

    def events(self, session_id: str, kinds: Iterable[str] | None = None, *,
               after: int = 0) -> builtins.list[StoredEvent]:
        """Events in seq order (optionally only some kinds, or only seq > after). A row whose
        payload is not a JSON object is skipped with a warning."""
        sql = "SELECT seq, ts, kind, payload FROM events WHERE session_id = ? AND seq > ?"
        args: list[Any] = [session_id, after]
        if kinds is not None:
            kind_list = list(kinds)
            sql += f" AND kind IN ({','.join('?' * len(kind_list))})" if kind_list else " AND 0"
            args.extend(kind_list)
        rows = self._run(lambda c: c.execute(sql + " ORDER BY seq", args).fetchall())
        out = []
        for seq, ts, kind, text in rows:
            try:
                payload = json.loads(text)
            except (TypeError, ValueError) as exc:
                payload, error = None, str(exc)
            else:
                error = "" if isinstance(payload, dict) else f"a {type(payload).__name__}"
            if error:
                log.warning("session %s event %d (%s): unreadable payload skipped (%s)",
                            session_id, seq, kind, error)
                continue
            out.append(StoredEvent(seq, ts, kind, payload))
        return out

    def messages(self, session_id: str) -> builtins.list[Message]:
        """The conversation to send to a provider: messages replayed through compactions, with
        dangling tool calls answered by synthetic "Interrupted" error results."""
        return rebuild_messages(self.events(session_id, REPLAY_KINDS))

    def ledger(self, session_id: str) -> builtins.list[str]:
        """The pinned ledger of the session's last compaction ([] when never compacted)."""
        return latest_ledger(self.events(session_id, REPLAY_KINDS))

    def usage(self, session_id: str) -> Usage:
        """Token totals: the sum of payload["usage"] over all of the session's events."""
        rows = self._run(lambda c: c.execute(
            "SELECT payload FROM events WHERE session_id = ? AND payload LIKE '%\"usage\"%'",
            (session_id,)).fetchall())
        total = Usage()
        for (text,) in rows:
            try:
                payload = json.loads(text)
            except (TypeError, ValueError):
                continue  # events() reports unreadable rows; usage just skips them
            if isinstance(payload, dict):
                total = total + usage_of(payload)
        return total

    def first_prompt(self, session_id: str) -> str:
        """The first user message's text (a fallback title); "" when there is none."""
        # CASE, not AND: SQLite does not promise to short-circuit, and json_extract raises on
        # a corrupt row.
        sql = ("SELECT json_extract(payload, '$.content') FROM events WHERE session_id = ? AND"
               " kind = 'message' AND CASE WHEN json_valid(payload) THEN"
               " json_extract(payload, '$.role') = 'user' ELSE 0 END ORDER BY seq LIMIT 1")
        row = self._run(lambda c: c.execute(sql, (session_id,)).fetchone())
        return row[0] if row and isinstance(row[0], str) else ""


__all__ = ["SessionInUseError", "SessionInfo", "SessionLock", "SessionNotFoundError",
           "SessionStore", "SessionStoreError", "StoredEvent"]
