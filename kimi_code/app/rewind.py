"""`kimi-code rewind`: list checkpoints, or go back to one (files, conversation, or both).

Code scope restores the workspace through `CheckpointStore.restore` (which keeps the state before
the restore as a checkpoint, so a rewind can itself be rewound). Conversation scope appends a
"rewind" event {"to_seq": N, "checkpoint": ID} to the session: replay drops every event with
seq > N that came before the rewind event (see `record_conversation_rewind`).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kimi_code.git.checkpoints.store import (
    Checkpoint,
    CheckpointError,
    CheckpointStore,
    RestoreReport,
)
from kimi_code.git.repo import GitError, workspace_root

# The core (shared with the live session's /undo and /rewind) lives in the runtime.
from kimi_code.runtime.rewind import (
    SCOPES,
    RewindError,
    conversation_position,
    record_conversation_rewind,
)

if TYPE_CHECKING:
    from kimi_code.session.store import SessionStore

__all__ = ["SCOPES", "RewindError", "conversation_position", "record_conversation_rewind",
           "rewind_main"]


def format_checkpoint(cp: Checkpoint) -> str:
    """One line for `--list`: id, local time, trigger (and what was left out)."""
    try:
        when = datetime.fromisoformat(cp.created.replace("Z", "+00:00")).astimezone()
        stamp = when.strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        stamp = cp.created
    extra = f"  [{cp.skipped_total} file(s) left out]" if cp.skipped_total else ""
    return f"{cp.id}  {stamp}  {cp.trigger}{extra}"


def _resolve_session(workspace: Path, session: str | None) -> tuple[SessionStore, str]:
    from kimi_code.session.store import SessionStore

    store = SessionStore()
    if session:
        info = store.get(session)
        if info is None:
            raise RewindError(f"no session matches {session!r}; see `kimi-code sessions list`.", 2)
        return store, info.id
    info = store.latest(workspace)
    if info is None:
        raise RewindError(f"no session has run in {workspace} yet, so there are no checkpoints "
                          "to rewind to.", 1)
    return store, info.id


def _confirm(question: str) -> bool:
    print(question + " [y/N] ", end="", flush=True)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _later_messages(store: SessionStore, session_id: str, seq: int) -> int:
    events = store.events(session_id, ("message",), after=seq)
    return len(events)


def _preview(report: RestoreReport, scope: str, dropped: int | None) -> None:
    if scope in ("code", "both"):
        if not report.changes:
            print("Files: already as at the checkpoint; nothing to restore.")
        for change in report.changes:
            mark = "restore" if change.action == "restore" else "remove "
            flag = "  (edited since the agent's last checkpoint)" if change.path in report.conflicts else ""
            print(f"  {mark} {change.path}{flag}")
    if dropped is not None:
        print(f"Conversation: {dropped} later message(s) will be dropped.")


def _do_rewind(workspace: Path, store: SessionStore, session_id: str, to: str, scope: str,
               yes: bool, interactive: bool) -> int:
    checkpoints = CheckpointStore(workspace, session_id)
    target = checkpoints.get(to)
    position = conversation_position(store, session_id, target) if scope != "code" else None
    report = checkpoints.restore(target.id, dry_run=True) if scope != "conversation" else \
        RestoreReport(checkpoint_id=target.id)
    dropped = _later_messages(store, session_id, position) if position is not None else None
    print(f"Rewind to {format_checkpoint(target)}  (scope: {scope})")
    _preview(report, scope, dropped)
    force = False
    if report.conflicts:
        if not interactive:
            raise RewindError(
                f"{len(report.conflicts)} file(s) were edited after the agent's last checkpoint "
                f"and would be overwritten: {', '.join(report.conflicts[:5])}. Nothing was changed; "
                "run `kimi-code rewind` in a terminal to confirm overwriting them.")
        if not _confirm("Overwrite your own edits to the files marked above?"):
            print("Aborted; nothing changed.")
            return 1
        force = True
    if not yes:
        if not interactive:
            raise RewindError("not a terminal: pass --yes to rewind without confirmation.", 2)
        if not _confirm("Rewind?"):
            print("Aborted; nothing changed.")
            return 1
    return _apply(checkpoints, store, session_id, target, scope, force, position)


def _apply(checkpoints: CheckpointStore, store: SessionStore, session_id: str, target: Checkpoint,
           scope: str, force: bool, position: int | None) -> int:
    if scope in ("code", "both"):
        done = checkpoints.restore(target.id, force=force)
        if done.conflicts and not done.applied:
            raise RewindError("files changed while you were confirming; nothing was restored. "
                              "Run the rewind again.")
        if done.applied:
            print(f"Restored {len(done.restored)} file(s), removed {len(done.removed)}. "
                  f"To undo: kimi-code rewind --to {done.safety_checkpoint} --scope code")
    if scope in ("conversation", "both"):
        from kimi_code.session.store import SessionInUseError

        try:
            with store.lock(session_id):
                record_conversation_rewind(store, session_id, target)
        except SessionInUseError as exc:
            raise RewindError(f"{exc}; use /rewind inside that session instead.") from None
        print(f"Conversation of session {session_id} rewound to just after event {position}.")
    return 0


def rewind_main(list_: bool, to: str | None, scope: str, as_json: bool, session: str | None,
                yes: bool = False) -> int:
    """Entry point of `kimi-code rewind` (exit 0 ok, 1 refused/failed, 2 usage error)."""
    from kimi_code.output.encoding import tolerate_unencodable

    tolerate_unencodable()  # checkpoint labels quote prompts: any script, any terminal
    if scope not in SCOPES:
        print(f"error: --scope must be one of {', '.join(SCOPES)}, got {scope!r}", file=sys.stderr)
        return 2
    if list_ and to:
        print("error: give either --list or --to, not both", file=sys.stderr)
        return 2
    workspace = workspace_root()
    try:
        store, session_id = _resolve_session(workspace, session)
        if to:
            interactive = sys.stdin.isatty() and sys.stdout.isatty()
            return _do_rewind(workspace, store, session_id, to, scope, yes, interactive)
        items = CheckpointStore(workspace, session_id).list()
        if as_json:
            print(json.dumps([cp.to_dict() for cp in items], indent=2))
        elif not items:
            print(f"No checkpoints in session {session_id}.")
        else:
            for cp in items:
                print(format_checkpoint(cp))
            if not list_:
                print("Go back with: kimi-code rewind --to ID [--scope code|conversation|both]")
        return 0
    except RewindError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except (CheckpointError, GitError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the session store's own errors carry user-facing messages
        from kimi_code.session.db import SessionStoreError

        if isinstance(exc, SessionStoreError):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise
