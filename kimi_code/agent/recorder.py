"""The session log as an event consumer (replay lives in kimi_code.session.replay).

Kinds written: "message" (payload = Message.to_dict(), plus "usage" for assistant messages),
"compaction" ({summary, ledger, messages: the full history after compaction}), "checkpoint",
"permission_denied", "turn". Subagent events are not part of the parent's conversation and are
recorded as "subagent" summaries only.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol, assert_never

from kimi_code.events import (
    AssistantMessage,
    CheckpointCreated,
    CompactionDone,
    Event,
    Notice,
    PermissionDenied,
    RetryScheduled,
    SessionStarted,
    StepStarted,
    SubagentCompleted,
    SubagentProgress,
    SubagentStarted,
    TextDelta,
    ThinkingDelta,
    TodosUpdated,
    ToolCallFinished,
    ToolCallStarted,
    ToolMessageAdded,
    TurnFinished,
    TurnStarted,
    UserMessageAdded,
    closed,
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
        match closed(event):
            case UserMessageAdded(message=message) | ToolMessageAdded(message=message):
                self._message(message)
            case AssistantMessage(message=message, usage=usage):
                self._message(message, usage=usage.to_dict())
            case CompactionDone() as done:
                self._compaction(done)
            case CheckpointCreated(checkpoint_id=checkpoint_id, trigger=trigger):
                self._append("checkpoint", {"checkpoint_id": checkpoint_id, "trigger": trigger})
            case PermissionDenied() as denied:
                self._append("permission_denied", denied.to_dict())
            case TurnFinished() as finished:
                self._append("turn", finished.to_dict())
            case (SessionStarted() | TurnStarted() | StepStarted() | TextDelta()
                  | ThinkingDelta() | ToolCallStarted() | ToolCallFinished() | RetryScheduled()
                  | Notice() | SubagentStarted() | SubagentProgress() | SubagentCompleted()
                  | TodosUpdated()):
                pass  # not part of the conversation: replay rebuilds it from the kinds above
            case unknown:
                assert_never(unknown)

    def _compaction(self, event: CompactionDone) -> None:
        from kimi_code.agent.compaction import SUMMARY_PREFIX

        # Everything but the kept tail is replaced by the summary (as in Context).
        tail = self.history[len(self.history) - event.kept_messages:] if event.kept_messages else []
        self.history = [Message(role="user", content=SUMMARY_PREFIX + event.summary), *tail]
        self._append("compaction", {
            "summary": event.summary, "ledger": list(event.ledger),
            "tokens_before": event.tokens_before, "tokens_after": event.tokens_after,
            "trigger": event.trigger, "messages": [m.to_dict() for m in self.history]})
