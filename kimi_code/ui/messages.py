"""Textual messages the app posts to itself. Agent events arrive synchronously on the event-loop
thread (the agent runs as a task in Textual's loop); the app only queues them and posts one
`AgentEventsReady`, so a burst of tokens costs one message, not one per token."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual.message import Message

from kimi_code.events import Event, TextDelta, ThinkingDelta


class AgentEventsReady(Message):
    """Events are waiting in the app's inbox."""


@dataclass
class TurnDone(Message):
    """The running turn's task ended (after all its events were posted)."""

    error: str = ""


def coalesce(events: Iterable[Event]) -> list[Event]:
    """Merge runs of text/thinking deltas from the same agent into one event each."""
    out: list[Event] = []
    for event in events:
        last = out[-1] if out else None
        if isinstance(event, (TextDelta, ThinkingDelta)) and type(last) is type(event) \
                and last.agent_id == event.agent_id:
            out[-1] = type(event)(text=last.text + event.text,
                                  agent_id=event.agent_id)
        else:
            out.append(event)
    return out
