"""Rebuilding a conversation from the event log, so that it is always valid for providers.

Event kinds used here (the payload formats are a contract with the agent):
- "message":    payload = Message.to_dict(), optionally with a "usage" object (Usage.to_dict()).
- "compaction": either payload["messages"] = the whole history after compaction (a list of
                Message.to_dict(); what agent/recorder.py writes), which replaces everything so
                far; or {"summary": str, "ledger": [str | {"text": str}, ...],
                "replaces_through": seq}: every message with seq <= replaces_through is replaced
                by one user message holding the summary and the ledger.
- "rewind":     {"to_seq": N} (what `kimi-code rewind` writes): back to the state right after
                event N, undoing everything between N and the rewind (compactions included);
                or payload["messages"] = the history to go back to.
Usage: any event whose payload carries a "usage" object counts toward the session's totals (the
assistant "message" of each step, a "compaction" for its summarising call, or a dedicated
"usage" event for calls that produce no message).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from kimi_code.llm.base import Message, Usage

log = logging.getLogger("kimi_code.session")

INTERRUPTED_RESULT = "Interrupted: the tool call did not complete (the previous run stopped)"
SUMMARY_HEADER = "[Summary of the earlier part of this conversation, written when it was compacted]"
REPLAY_KINDS = ("message", "compaction", "rewind")
LEDGER_HEADER = "Constraints and decisions the user stated (still in force):"


class StoredEvent(NamedTuple):
    seq: int
    ts: float
    kind: str
    payload: dict[str, Any]


def compaction_message(summary: str, ledger: Iterable[Any] = ()) -> Message:
    """The user message that stands in for everything a compaction replaced. The agent should
    use this too when it compacts live, so that a resumed session sees the same text."""
    parts = [SUMMARY_HEADER, summary.strip()]
    items = [_ledger_text(item) for item in ledger]
    items = [item for item in items if item]
    if items:
        parts.append(LEDGER_HEADER + "\n" + "\n".join(f"- {item}" for item in items))
    return Message(role="user", content="\n\n".join(parts))


def _ledger_text(item: Any) -> str:
    if isinstance(item, Mapping):
        return str(item.get("text") or item.get("content") or "").strip()
    return str(item).strip()


Pairs = list[tuple[int, Message]]  # (seq that placed the message, message)


def rebuild_messages(events: Iterable[StoredEvent]) -> list[Message]:
    """Replay "message", "compaction" and "rewind" events (in seq order) into a provider-valid
    history."""
    history, _ = replay_state(list(events))
    return repair_tool_calls([m for _, m in history])


def latest_ledger(events: Iterable[StoredEvent]) -> list[str]:
    """The pinned ledger in force: that of the last compaction no rewind has undone."""
    return replay_state(list(events))[1]


def replay_state(events: list[StoredEvent]) -> tuple[Pairs, list[str]]:
    """(history as (seq, message) pairs, ledger) after `events`, before tool-call repair."""
    history: Pairs = []
    ledger: list[str] = []
    for index, event in enumerate(events):
        if event.kind == "message":
            try:
                history.append((event.seq, Message.from_dict(event.payload)))
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("session event %d: skipping a malformed message (%s)", event.seq, exc)
        elif event.kind == "rewind" and _is_seq(event.payload.get("to_seq")):
            # {"to_seq": N}: back to the state right after event N (what `kimi-code rewind`
            # writes); later events are replayed on top as usual.
            to_seq = event.payload["to_seq"]
            history, ledger = replay_state([e for e in events[:index] if e.seq <= to_seq])
        elif event.kind in ("compaction", "rewind"):
            history = _replace(history, event)
            if event.kind == "compaction" and isinstance(event.payload.get("ledger"), list):
                ledger = [text for text in map(_ledger_text, event.payload["ledger"]) if text]
    return history, ledger


def _is_seq(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _replace(history: Pairs, event: StoredEvent) -> Pairs:
    """Apply a compaction or rewind that carries messages or a summary; a malformed one is
    skipped (the history stays as it was)."""
    payload = event.payload
    if isinstance(payload.get("messages"), list):
        try:
            return [(event.seq, Message.from_dict(m)) for m in payload["messages"]]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("session event %d: skipping a malformed %s (%s)", event.seq, event.kind, exc)
            return history
    summary = payload.get("summary")
    if event.kind != "compaction" or not isinstance(summary, str):
        log.warning("session event %d: skipping a %s without messages, summary or to_seq",
                    event.seq, event.kind)
        return history
    through = payload.get("replaces_through", event.seq)
    if not _is_seq(through):
        through = event.seq
    ledger = payload.get("ledger") or ()
    kept = [(seq, m) for seq, m in history if seq > through]
    # The summary takes the seq it replaces through, so that a later compaction covering that
    # point replaces this summary as well.
    return [(through, compaction_message(summary, ledger))] + kept


def _interrupted(call_id: str) -> Message:
    return Message(role="tool", content=INTERRUPTED_RESULT, tool_call_id=call_id, is_error=True)


def repair_tool_calls(messages: Iterable[Message]) -> list[Message]:
    """Every assistant tool call gets exactly one result, right after its assistant message.

    A call without a result (the process stopped while it ran) gets a synthetic error result;
    a tool result that answers no open call (its call was compacted away, or a duplicate) is
    dropped, since providers reject both situations.
    """
    out: list[Message] = []
    pending: list[str] = []  # open call ids of the last assistant message, in order
    for message in messages:
        if message.role == "tool":
            if message.tool_call_id in pending:
                pending.remove(message.tool_call_id)
                out.append(message)
            else:
                log.debug("dropping a tool result for unknown call %r", message.tool_call_id)
            continue
        out.extend(_interrupted(call_id) for call_id in pending)
        pending = [call.id for call in message.tool_calls] if message.role == "assistant" else []
        out.append(message)
    out.extend(_interrupted(call_id) for call_id in pending)
    return out


def usage_of(payload: Mapping[str, Any]) -> Usage:
    """The Usage recorded in an event payload (zero when there is none or it is malformed).
    Accepts Usage.to_dict()'s keys and the dataclass field names."""
    raw = payload.get("usage")
    if not isinstance(raw, Mapping):
        return Usage()

    def num(*keys: str) -> int:
        for key in keys:
            value = raw.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return int(value)
        return 0

    return Usage(
        input_tokens=num("input_tokens"),
        output_tokens=num("output_tokens"),
        cache_read_tokens=num("cache_read_input_tokens", "cache_read_tokens"),
        cache_write_tokens=num("cache_creation_input_tokens", "cache_write_tokens"),
    )
