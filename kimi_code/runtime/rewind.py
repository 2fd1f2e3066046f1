"""Going back to a checkpoint of a session: the files, the conversation, or both.

Files come back through `CheckpointStore.restore` (which keeps the state before the restore as a
checkpoint of its own, so a rewind can itself be rewound). The conversation is cut back by a
"rewind" event {"to_seq": N, "checkpoint": ID} in the session log: replay drops every event with
seq > N that came before the rewind event. `kimi-code rewind` and the live session
(`AgentSession.rewind` / `undo`) share these functions, so the model and a later resume always
see the same conversation.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # git plumbing loads only when a rewind is asked for
    from kimi_code.git.checkpoints.store import Checkpoint, CheckpointStore, RestoreReport
    from kimi_code.session.store import SessionStore

SCOPES = ("code", "conversation", "both")
# What people type for a scope in /undo and /rewind ("files" is the UI's word for "code").
SCOPE_WORDS = {"both": "both", "files": "code", "code": "code", "conversation": "conversation",
               "chat": "conversation"}


class RewindError(Exception):
    """A rewind the user asked for cannot be done; the message says why (exit 1 or 2)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def conversation_position(store: SessionStore, session_id: str, checkpoint: Checkpoint) -> int:
    """The session event seq the checkpoint corresponds to: its recorded `message_seq`, or else
    the last event written before the checkpoint was taken (by timestamp)."""
    if checkpoint.message_seq is not None:
        return checkpoint.message_seq
    try:
        taken = datetime.fromisoformat(checkpoint.created.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise RewindError(f"checkpoint {checkpoint.id} has no conversation position; "
                          "use --scope code to restore only the files.") from None
    events = store.events(session_id)
    return max((e.seq for e in events if e.ts <= taken and e.kind != "rewind"), default=0)


def record_conversation_rewind(store: SessionStore, session_id: str,
                               checkpoint: Checkpoint) -> int:
    """Append the "rewind" event that cuts the conversation back to `checkpoint`.

    Replay contract: a "rewind" event with payload {"to_seq": N} removes from the history every
    event whose seq is greater than N and smaller than the rewind event's own seq; events after
    the rewind event are kept. Returns the rewind event's seq."""
    to_seq = conversation_position(store, session_id, checkpoint)
    return store.append(session_id, "rewind", {"to_seq": to_seq, "checkpoint": checkpoint.id})


def parse_scope_args(arg: str) -> tuple[str | None, bool, list[str]]:
    """(scope, force, the other words) from `/undo` or `/rewind` arguments."""
    scope, force, rest = None, False, []
    for word in arg.split():
        if word.lower() in SCOPE_WORDS:
            scope = SCOPE_WORDS[word.lower()]
        elif word.lower() == "force":
            force = True
        else:
            rest.append(word)
    return scope, force, rest


@dataclass
class RewindPlan:
    """What going back to one checkpoint would do (a dry run: nothing changed yet)."""

    checkpoint: Checkpoint
    files: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    position: int | None = None  # session event seq the conversation goes back to
    dropped: int = 0  # later messages the conversation rewind drops
    error: str = ""  # why the conversation cannot be rewound to it


@dataclass
class RewindOutcome:
    """What a rewind did. `refused`: the files were not restored (the user's own edits, or an
    error), so the conversation was left alone too."""

    checkpoint_id: str
    scope: str
    report: RestoreReport | None = None  # the files' restore, when asked for
    error: str = ""
    refused: bool = False
    conversation_rewound: bool = False
    messages_dropped: int = 0
    dropped_prompt: str = ""  # the typed text of the first dropped user message


def checkpoint_store(workspace: Path, session_id: str) -> CheckpointStore:
    """The session's checkpoint store (raises ImportError when checkpoints are unavailable)."""
    from kimi_code.git.checkpoints.store import CheckpointStore

    return CheckpointStore(workspace, session_id)


async def plan_rewind(store: CheckpointStore, log: SessionStore | None, session_id: str,
                      checkpoint: Checkpoint) -> RewindPlan:
    """Dry-run both halves of going back to `checkpoint`."""
    plan = RewindPlan(checkpoint)
    report = await asyncio.to_thread(store.restore, checkpoint.id, dry_run=True)
    plan.files = [c.path for c in report.changes]
    plan.conflicts = list(report.conflicts)
    if log is None:
        plan.error = "this session has no conversation log"
        return plan
    try:
        plan.position = conversation_position(log, session_id, checkpoint)
    except RewindError as exc:
        plan.error = str(exc)
        return plan
    plan.dropped = len(log.events(session_id, ("message",), after=plan.position))
    return plan


def not_rewound(log: SessionStore | None, session_id: str,
                turns: list[Checkpoint]) -> list[Checkpoint]:
    """The turn checkpoints whose turn is still in the conversation: one that a logged rewind
    already cut away (to_seq <= its position < the rewind) is skipped, so a second /undo goes
    one turn further back."""
    if log is None:
        return turns
    rewinds = [(e.payload.get("to_seq"), e.seq) for e in log.events(session_id, ("rewind",))]
    kept = []
    for checkpoint in turns:
        try:
            position = conversation_position(log, session_id, checkpoint)
        except RewindError:
            kept.append(checkpoint)
            continue
        if not any(isinstance(to, int) and to <= position < seq for to, seq in rewinds):
            kept.append(checkpoint)
    return kept
