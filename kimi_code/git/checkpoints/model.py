"""What a checkpoint is: the records the store writes and hands back (no git here)."""

from __future__ import annotations

from dataclasses import dataclass, field


class CheckpointError(Exception):
    """A checkpoint could not be taken, found or restored; the message says why."""


@dataclass(frozen=True)


class Checkpoint:
    """One snapshot. `id` is the abbreviated commit id in the shadow store; `created` is ISO-8601
    UTC; `message_seq` the session event seq when it was taken (for conversation rewind)."""

    id: str
    created: str
    trigger: str
    tree: str
    message_seq: int | None = None
    session_id: str = ""
    skipped: tuple[dict[str, str], ...] = ()  # [{"path", "reason"}] files left out
    skipped_total: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "created": self.created, "trigger": self.trigger,
                "tree": self.tree, "message_seq": self.message_seq,
                "session_id": self.session_id, "skipped": list(self.skipped),
                "skipped_total": self.skipped_total}


@dataclass


class FileChange:
    """One path a restore changes: `action` is "restore" (written back) or "remove"."""

    path: str
    action: str


@dataclass


class RestoreReport:
    """What a restore did (or, with `applied` False, would do / refused to do)."""

    checkpoint_id: str
    changes: list[FileChange] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # edited by the user since the last checkpoint
    applied: bool = False
    safety_checkpoint: str | None = None  # the state before the restore (restore it to undo)

    @property
    def restored(self) -> list[str]:
        return [c.path for c in self.changes if c.action == "restore"]

    @property
    def removed(self) -> list[str]:
        return [c.path for c in self.changes if c.action == "remove"]


def checkpoint_from(commit: str, tree: str, meta: dict) -> Checkpoint:
    return Checkpoint(
        id=commit[:12], created=str(meta.get("created", "")), trigger=str(meta.get("trigger", "")),
        tree=tree, message_seq=meta.get("message_seq"), session_id=str(meta.get("session_id", "")),
        skipped=tuple(meta.get("skipped") or ()), skipped_total=int(meta.get("skipped_total", 0)),
    )
