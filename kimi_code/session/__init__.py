"""Persistent sessions: an append-only SQLite event log per conversation (see store.py)."""

from kimi_code.session.db import SessionStoreError, StoreCorruptError
from kimi_code.session.lock import SessionInUseError, SessionLock
from kimi_code.session.replay import (
    INTERRUPTED_RESULT,
    StoredEvent,
    compaction_message,
    rebuild_messages,
    repair_tool_calls,
)
from kimi_code.session.store import SessionInfo, SessionNotFoundError, SessionStore

__all__ = [
    "INTERRUPTED_RESULT",
    "SessionInUseError",
    "SessionInfo",
    "SessionLock",
    "SessionNotFoundError",
    "SessionStore",
    "SessionStoreError",
    "StoreCorruptError",
    "StoredEvent",
    "compaction_message",
    "rebuild_messages",
    "repair_tool_calls",
]
