"""The session log as an event consumer (replay lives in kimi_code.session.replay).

Kinds written: "message" (payload = Message.to_dict(), plus "usage" for assistant messages),
"compaction" ({summary, ledger, messages: the full history after compaction}), "checkpoint",
"permission_denied", "turn". Subagent events are not part of the parent's conversation and are
recorded as "subagent" summaries only.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from kimi_code.events import (
    AssistantMessage,
    CheckpointCreated,
    CompactionDone,
    Event,
    PermissionDenied,
    SubagentCompleted,
    SubagentStarted,
    ToolMessageAdded,
    TurnFinished,
    UserMessageAdded,
)
from kimi_code.llm.base import Message

log = logging.getLogger(__name__)


class EventLog(Protocol):
    def append(self, session_id: str, kind: str, payload: dict[str, Any]) -> int: ...


class SessionRecorder:
    """Appends the main agent's conversation to the session store as it happens."""

    def __init__(self, store: EventLog, session_id: str, history: list[Message] | None = None) -> None:
        self.store, self.session_id = store, session_id
        self.last_seq = 0  # seq of the last event written (checkpoints record it for rewind)
        # Transcripts never store keys: configured API keys and secret-named environment values
        # are replaced before anything is written.
        from kimi_code.safety.redact import known_secrets

        self._secrets = [s for s in known_secrets() if s]
        # Mirror of the conversation, needed to write the full post-compaction history.
        self.history: list[Message] = list(history or [])

    def __call__(self, event: Event) -> None:
        try:
            self._record(event)
        except Exception:  # the log must never take the agent down
            log.exception("could not record %s", event.kind)

    def _append(self, kind: str, payload: dict[str, Any]) -> None:
        if self._secrets:
            text = json.dumps(payload, ensure_ascii=False)
            if any(secret in text for secret in self._secrets):
                for secret in self._secrets:
                    text = text.replace(json.dumps(secret)[1:-1], "[REDACTED]")
                payload = json.loads(text)
        self.last_seq = self.store.append(self.session_id, kind, payload)

    def _message(self, message: Message, **extra: Any) -> None:
        self.history.append(message)
        self._append("message", {**message.to_dict(), **extra})

    def _record(self, event: Event) -> None:
        if event.agent_id:
            if isinstance(event, (SubagentStarted, SubagentCompleted)):
                self._append("subagent", event.to_dict())
            return
        if isinstance(event, UserMessageAdded):
            self._message(event.message)
        elif isinstance(event, AssistantMessage):
            self._message(event.message, usage=event.usage.to_dict())
        elif isinstance(event, ToolMessageAdded):
            self._message(event.message)
        elif isinstance(event, CompactionDone):
            from kimi_code.agent.compaction import SUMMARY_PREFIX

            # Everything but the kept tail is replaced by the summary (as in Context).
            tail = self.history[len(self.history) - event.kept_messages:] if event.kept_messages else []
            self.history = [Message(role="user", content=SUMMARY_PREFIX + event.summary), *tail]
            self._append("compaction", {
                "summary": event.summary, "ledger": list(event.ledger),
                "tokens_before": event.tokens_before, "tokens_after": event.tokens_after,
                "trigger": event.trigger, "messages": [m.to_dict() for m in self.history]})
        elif isinstance(event, CheckpointCreated):
            self._append("checkpoint",
                              {"checkpoint_id": event.checkpoint_id, "trigger": event.trigger})
        elif isinstance(event, PermissionDenied):
            self._append("permission_denied", event.to_dict())
        elif isinstance(event, TurnFinished):
            self._append("turn", event.to_dict())
