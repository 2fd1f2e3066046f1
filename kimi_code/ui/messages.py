"""Textual messages the app posts to itself. Agent events arrive synchronously on the event-loop
thread (the agent runs as a task in Textual's loop); the app only queues them and posts one
`AgentEventsReady`, so a burst of tokens costs one message, not one per token."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


class AgentEventsReady(Message):
    """Events are waiting in the app's inbox."""


@dataclass
class TurnDone(Message):
    """The running turn's task ended (after all its events were posted)."""

    error: str = ""
