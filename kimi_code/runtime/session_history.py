"""The AgentSession operations on its history: checkpoints, rewind, undo, fork, and the list of
earlier sessions. Mixed into AgentSession (kimi_code.runtime.session); kept apart so each
module stays small. Front ends call these and show the outcome; none of them touches the
recorder or the agent's history itself."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from kimi_code.runtime.rewind import (
    RewindError,
    RewindOutcome,
    RewindPlan,
    checkpoint_store,
    not_rewound,
    plan_rewind,
    record_conversation_rewind,
)

if TYPE_CHECKING:
    from kimi_code.agent.loop import Agent
    from kimi_code.git.checkpoints.store import Checkpoint, CheckpointStore
    from kimi_code.llm.base import Message
    from kimi_code.runtime.assemble import AgentParts, Workspace
    from kimi_code.session.store import SessionInfo, SessionStore


class CheckpointsUnavailable(RewindError):
    """This build has no checkpoint support, so nothing can be restored."""


class SessionHistory:
    """Checkpoints, rewind, undo, fork and session listing for AgentSession."""

    if TYPE_CHECKING:  # what AgentSession provides
        workspace: Workspace
        session_id: str
        agent: Agent | None
        _store: SessionStore
        _parts: AgentParts
        _keep_tools: bool

        @property
        def busy(self) -> bool: ...
        @property
        def messages(self) -> list[Message]: ...
        @property
        def model_name(self) -> str: ...
        async def cancel(self) -> None: ...
        def resume(self, session_id: str) -> None: ...

    # ---- checkpoints --------------------------------------------------------------------------

    def _checkpoints(self) -> CheckpointStore:
        try:
            return checkpoint_store(self.workspace.root, self.session_id)
        except ImportError:
            raise CheckpointsUnavailable("Checkpoints are not available in this build, so "
                                         "/undo and /rewind cannot go back.") from None

    async def checkpoints(self) -> list[Checkpoint]:
        """This session's checkpoints, oldest first (raises RewindError when unreadable)."""
        from kimi_code.git.checkpoints.store import CheckpointError

        try:
            return await asyncio.to_thread(self._checkpoints().list)
        except CheckpointError as exc:
            raise RewindError(str(exc)) from None

    async def checkpoint(self, checkpoint_id: str) -> Checkpoint:
        """One checkpoint by id (or unique prefix); raises RewindError when unknown."""
        from kimi_code.git.checkpoints.store import CheckpointError

        try:
            return await asyncio.to_thread(self._checkpoints().get, checkpoint_id)
        except CheckpointError as exc:
            raise RewindError(str(exc)) from None

    async def undo_target(self) -> Checkpoint | None:
        """The checkpoint taken before the last turn still in the conversation (None: none)."""
        turns = [c for c in await self.checkpoints() if c.trigger.startswith("turn")]
        kept = not_rewound(self._store, self.session_id, turns)
        return kept[-1] if kept else None

    async def rewind_plan(self, checkpoint: Checkpoint) -> RewindPlan:
        """What going back to `checkpoint` would do, files and conversation (a dry run)."""
        log = self._store if self._parts.recorder is not None else None
        return await plan_rewind(self._checkpoints(), log, self.session_id, checkpoint)

    # ---- rewind and undo ----------------------------------------------------------------------

    async def undo(self, scope: str = "both", *, force: bool = False
                   ) -> RewindOutcome | None:
        """Go back to before the last turn (None: no turn to undo)."""
        target = await self.undo_target()
        if target is None:
            return None
        return await self.rewind(scope, to=target.id, force=force)

    async def rewind(self, scope: str, *, to: str, force: bool = False
                     ) -> RewindOutcome:
        """Go back to checkpoint `to`: the files ("code"), the conversation, or "both". Files
        the user edited since the agent did are overwritten only with `force`; when the files
        are refused, the conversation is left alone too. Raises RewindError (unknown
        checkpoint, or a turn is running)."""
        if self.busy:
            raise RewindError("The agent is working; stop it first, then go back.")
        checkpoint = await self.checkpoint(to)
        outcome = RewindOutcome(checkpoint.id, scope)
        if scope in ("code", "both"):
            await self._restore_files(checkpoint.id, force, outcome)
            if outcome.refused:
                return outcome
        if scope in ("conversation", "both"):
            await self._rewind_conversation(checkpoint, outcome)
        return outcome

    async def _restore_files(self, checkpoint_id: str, force: bool,
                             outcome: RewindOutcome) -> None:
        from kimi_code.git.checkpoints.store import CheckpointError

        try:
            report = await asyncio.to_thread(self._checkpoints().restore, checkpoint_id,
                                             force=force)
        except CheckpointError as exc:
            outcome.error, outcome.refused = str(exc), True
            return
        outcome.report = report
        outcome.refused = bool(report.conflicts and not report.applied)

    async def _rewind_conversation(self, checkpoint: Checkpoint,
                                   outcome: RewindOutcome) -> None:
        """Log the rewind, give the live agent the replayed history, and say what was
        dropped (the dropped turn's typed prompt comes back for the input line)."""
        from kimi_code.runtime.shell_context import split

        plan = await self.rewind_plan(checkpoint)
        recorder, agent = self._parts.recorder, self.agent
        if plan.error or recorder is None or agent is None:
            outcome.error = plan.error or "this session has no conversation log"
            return
        before = self.messages
        seq = record_conversation_rewind(self._store, self.session_id, checkpoint)
        messages, ledger = self._store.messages(self.session_id), self._store.ledger(self.session_id)
        agent.context.replace_history(messages, ledger)
        # The recorder mirrors the history (for compaction) and stamps checkpoints with the
        # last seq: both must follow the rewind, or a later rewind would undo this one.
        recorder.history, recorder.last_seq = list(messages), seq
        dropped = before[len(messages):] if before[:len(messages)] == messages else []
        prompt = next((m.content for m in dropped if m.role == "user"), "")
        outcome.conversation_rewound = True
        outcome.messages_dropped = len(before) - len(messages)
        outcome.dropped_prompt = split(prompt)[1] if prompt else ""

    # ---- fork and earlier sessions ------------------------------------------------------------

    async def fork(self) -> str:
        """Continue in a new session that starts from this one's history; the old session is
        left untouched (and resumable). Returns the new session's id."""
        assert self.agent is not None, "open() first"
        await self.cancel()
        old_id, messages = self.session_id, self.messages
        ledger = list(self.agent.context.ledger)
        title = self._store.get(old_id)
        new_id = self._store.create(self.workspace.root, self.model_name,
                                    title=f"fork of {(title.title if title else '') or old_id}"[:80],
                                    parent_id=old_id)
        if ledger:  # one event holding the whole history keeps the pinned ledger too
            self._store.append(new_id, "compaction", {
                "summary": "", "ledger": ledger, "trigger": "fork",
                "messages": [m.to_dict() for m in messages]})
        else:
            for message in messages:
                self._store.append_message(new_id, message)
        self._keep_tools = True
        try:
            self.resume(new_id)
        finally:
            self._keep_tools = False
        return new_id

    def sessions(self, limit: int = 200) -> list[tuple[SessionInfo, str]]:
        """Earlier sessions of this workspace (newest first) with a title for each (its own, or
        its first prompt), this one excluded."""
        from kimi_code.session.store import SessionStore

        with SessionStore() as store:
            return [(info, info.title or store.first_prompt(info.id) or "")
                    for info in store.list(self.workspace.root, limit=limit)
                    if info.id != self.session_id]
