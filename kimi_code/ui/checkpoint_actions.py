"""/undo and /rewind: go back to a checkpoint of this session — the files, the conversation, or
both (the user picks). Files come back through `CheckpointStore.restore` (which keeps the state
before the restore as a checkpoint of its own); the conversation is cut back with the same core
function `kimi-code rewind --scope conversation` uses (`record_conversation_rewind`: a "rewind"
event in the session log), after which the live agent takes the replayed history, so the model
and a later resume see the same conversation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kimi_code.ui.screens.picker import Choice, PickerScreen
from kimi_code.ui.shell_context import split as split_shell_context

if TYPE_CHECKING:
    from kimi_code.ui.app import KimiApp

SCOPES = {"both": "Files and conversation", "code": "Files only",
          "conversation": "Conversation only"}
SCOPE_WORDS = {"both": "both", "files": "code", "code": "code", "conversation": "conversation",
               "chat": "conversation"}


@dataclass
class RewindPlan:
    """What going back to one checkpoint would do (a dry run: nothing changed yet)."""

    checkpoint: Any  # kimi_code.git.checkpoints.store.Checkpoint
    files: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    position: int | None = None  # session event seq the conversation goes back to
    dropped: int = 0  # later messages the conversation rewind drops
    error: str = ""  # why the conversation cannot be rewound to it


class CheckpointActions:
    def __init__(self, app: KimiApp) -> None:
        self.app = app
        self.last = ""  # id of the newest checkpoint this run created

    def _store(self) -> Any | None:
        try:
            from kimi_code.git.checkpoints.store import CheckpointStore
        except ImportError:
            self.app.show_notice("Checkpoints are not available in this build, so /undo and "
                                 "/rewind cannot go back.", "error")
            return None
        s = self.app.session
        return CheckpointStore(s.workspace.root, s.session_id)

    def _guard(self) -> bool:
        if self.app.busy:
            self.app.show_notice("The agent is working; press Esc first, then go back.", "warning")
            return False
        return True

    # ---- commands ----------------------------------------------------------------------------

    async def undo(self, arg: str = "") -> None:
        """/undo [files|conversation|both] [force]: back to before the last turn."""
        scope, force, rest = _parse(arg)
        store = self._store()
        if rest or store is None or not self._guard():
            if rest:
                self.app.show_notice(f"/undo takes files, conversation, both or force, not "
                                     f"{' '.join(rest)!r}.", "error")
            return
        checkpoints = await asyncio.to_thread(store.list)
        turns = self._not_rewound([c for c in checkpoints if c.trigger.startswith("turn")])
        if not turns:
            self.app.show_notice("No checkpoint in this session yet: nothing to undo.", "info")
            return
        await self.choose_scope(turns[-1], scope, force)

    def _not_rewound(self, turns: list[Any]) -> list[Any]:
        """The turn checkpoints whose turn is still in the conversation: one that a logged
        rewind already cut away (to_seq <= its position < the rewind) is skipped, so a second
        /undo goes one turn further back."""
        from kimi_code.app.rewind import RewindError, conversation_position

        log, session_id = self._session_log(), self.app.session.session_id
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

    async def pick(self, arg: str = "") -> None:
        """/rewind [ID] [files|conversation|both] [force]: pick a checkpoint, then the scope."""
        from kimi_code.git.checkpoints.store import CheckpointError

        scope, force, rest = _parse(arg)
        store = self._store()
        if store is None or not self._guard():
            return
        if rest:
            try:
                checkpoint = await asyncio.to_thread(store.get, rest[0])
            except CheckpointError as exc:
                self.app.show_notice(str(exc), "error")
                return
            await self.choose_scope(checkpoint, scope, force)
            return
        checkpoints = {c.id: c for c in await asyncio.to_thread(store.list)}
        choices = [Choice(c.id, c.trigger or "(checkpoint)", f"{c.created} · {c.id}")
                   for c in reversed(checkpoints.values())]
        self.app.push_screen(
            PickerScreen("Rewind to a checkpoint (then choose files, conversation or both)",
                         choices, empty="No checkpoint in this session yet."),
            callback=lambda value: value and self.app.run_worker(
                self.choose_scope(checkpoints[value], scope, force)))

    async def choose_scope(self, checkpoint: Any, scope: str | None, force: bool) -> None:
        """Dry-run both halves, then ask files / conversation / both (unless already given)."""
        plan = await self.plan(checkpoint)
        if scope is not None:
            await self.apply(plan, scope, force=force)
            return
        self.app.push_screen(
            PickerScreen(f"Go back to {checkpoint.trigger or checkpoint.id}", _scope_choices(plan),
                         current="both" if not plan.error else "code"),
            callback=lambda value: value and self.app.run_worker(
                self.apply(plan, value.removesuffix("+force"), force=value.endswith("+force"))))

    # ---- planning and applying ---------------------------------------------------------------

    async def plan(self, checkpoint: Any) -> RewindPlan:
        from kimi_code.app.rewind import RewindError, conversation_position

        store = self._store()
        plan = RewindPlan(checkpoint)
        report = await asyncio.to_thread(store.restore, checkpoint.id, dry_run=True)
        plan.files = [c.path for c in report.changes]
        plan.conflicts = list(report.conflicts)
        log, session_id = self._session_log(), self.app.session.session_id
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

    async def apply(self, plan: RewindPlan, scope: str, *, force: bool = False) -> None:
        if not self._guard():
            return
        if scope in ("code", "both") and not await self.restore(plan.checkpoint.id, force=force):
            return  # files refused (the user's own edits): leave the conversation alone too
        if scope in ("conversation", "both"):
            self.rewind_conversation(plan)

    async def restore(self, checkpoint_id: str, *, force: bool = False) -> bool:
        """Put the files back; returns False when nothing could be restored."""
        from kimi_code.git.checkpoints.store import CheckpointError

        store = self._store()
        if store is None:
            return False
        try:
            report = await asyncio.to_thread(store.restore, checkpoint_id, force=force)
        except CheckpointError as exc:
            self.app.show_notice(str(exc), "error")
            return False
        self.app.run_worker(self.app.refresh_git(), group="git", exclusive=True)
        if report.conflicts and not report.applied:
            files = ", ".join(report.conflicts[:8])
            self.app.show_notice(f"Not restored: you changed {files} since the agent did. "
                                 "Pick the choice that overwrites them (or /undo force).",
                                 "warning")
            return False
        if not report.changes:
            self.app.show_notice(f"Files already match checkpoint {checkpoint_id}.", "info")
        else:
            undo = f" (undo this with /rewind {report.safety_checkpoint} files)" \
                if report.safety_checkpoint else ""
            self.app.show_notice(f"Restored {len(report.changes)} file(s) to checkpoint "
                                 f"{report.checkpoint_id}{undo}.", "success")
        return True

    def _session_log(self) -> Any | None:
        recorder = self._recorder()
        return getattr(recorder, "store", None)

    def _recorder(self) -> Any | None:
        from kimi_code.agent.recorder import SessionRecorder

        agent = self.app.session.agent
        subscribers = agent.subscribers if agent is not None else []
        return next((s for s in subscribers if isinstance(s, SessionRecorder)), None)

    def rewind_conversation(self, plan: RewindPlan) -> None:
        """Cut the conversation back to the checkpoint: log the rewind, give the live agent the
        replayed history, redraw the transcript, and put the dropped turn's prompt back."""
        from kimi_code.app.rewind import record_conversation_rewind

        app, recorder = self.app, self._recorder()
        if plan.error or recorder is None:
            app.show_notice(f"The conversation cannot be rewound to {plan.checkpoint.id}: "
                            f"{plan.error or 'this session has no conversation log'}.", "error")
            return
        session_id, agent = app.session.session_id, app.session.agent
        before = list(agent.context.messages)
        seq = record_conversation_rewind(recorder.store, session_id, plan.checkpoint)
        messages, ledger = recorder.store.messages(session_id), recorder.store.ledger(session_id)
        agent.context.replace_history(messages, ledger)
        # The recorder mirrors the history (for compaction) and stamps checkpoints with the
        # last seq: both must follow the rewind, or a later rewind would undo this one.
        recorder.history, recorder.last_seq = list(messages), seq
        app.transcript.load_history(messages)
        dropped = before[len(messages):] if before[:len(messages)] == messages else []
        prompt = next((m.content for m in dropped if m.role == "user"), "")
        _, typed = split_shell_context(prompt)
        if typed.strip() and not app.prompt.text:
            app.prompt.insert(typed)
        count = len(before) - len(messages)
        app.show_notice(f"Conversation rewound to checkpoint {plan.checkpoint.id} "
                        f"({count} message{'s' if count != 1 else ''} dropped)"
                        + ("; its prompt is back in the input." if typed.strip() else "."),
                        "success")
        app.update_status()


def _parse(arg: str) -> tuple[str | None, bool, list[str]]:
    """(scope, force, the other words) from a command's arguments."""
    scope, force, rest = None, False, []
    for word in arg.split():
        if word.lower() in SCOPE_WORDS:
            scope = SCOPE_WORDS[word.lower()]
        elif word.lower() == "force":
            force = True
        else:
            rest.append(word)
    return scope, force, rest


def _scope_choices(plan: RewindPlan) -> list[Choice]:
    files = f"{len(plan.files)} file(s) change" if plan.files else "files already match"
    talk = f"{plan.dropped} later message(s) dropped" if not plan.error else \
        f"conversation: {plan.error}"
    choices = []
    for scope, label in SCOPES.items():
        if scope != "code" and plan.error:
            continue
        detail = {"both": f"{files} · {talk}", "code": files, "conversation": talk}[scope]
        choices.append(Choice(scope, label, detail))
        if scope != "conversation" and plan.conflicts:
            edited = ", ".join(plan.conflicts[:3])
            choices.append(Choice(f"{scope}+force", f"{label}, overwriting your edits",
                                  f"you changed {edited} since the agent did"))
    return choices
