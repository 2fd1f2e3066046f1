"""/undo and /rewind: restore the workspace files from this session's checkpoints
(kimi_code.git.checkpoints). The conversation itself is not cut back here; `kimi-code rewind
--scope both` does that from the shell."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from kimi_code.ui.screens.picker import Choice, PickerScreen

if TYPE_CHECKING:
    from kimi_code.ui.app import KimiApp


class CheckpointActions:
    def __init__(self, app: KimiApp) -> None:
        self.app = app
        self.last = ""  # id of the newest checkpoint this run created

    def _store(self) -> Any | None:
        try:
            from kimi_code.git.checkpoints import CheckpointStore
        except ImportError:
            self.app.show_notice("Checkpoints are not available in this build, so /undo and "
                                 "/rewind cannot restore files.", "error")
            return None
        s = self.app.session
        return CheckpointStore(s.workspace.root, s.session_id)

    def _guard(self) -> bool:
        if self.app.busy:
            self.app.show_notice("The agent is working; press Esc first, then restore.", "warning")
            return False
        return True

    async def undo(self, *, force: bool = False) -> None:
        """Restore the files to the checkpoint taken when the last turn started."""
        store = self._store()
        if store is None or not self._guard():
            return
        checkpoints = await asyncio.to_thread(store.list)
        turns = [c for c in checkpoints if c.trigger.startswith("turn")]
        if not turns:
            self.app.show_notice("No checkpoint in this session yet: nothing to undo.", "info")
            return
        await self.restore(turns[-1].id, force=force)

    async def pick(self, checkpoint_id: str = "") -> None:
        store = self._store()
        if store is None or not self._guard():
            return
        if checkpoint_id:
            await self.restore(checkpoint_id)
            return
        checkpoints = await asyncio.to_thread(store.list)
        choices = [Choice(c.id, c.trigger or "(checkpoint)", f"{c.created} · {c.id}")
                   for c in reversed(checkpoints)]
        self.app.push_screen(
            PickerScreen("Rewind files to a checkpoint", choices,
                         empty="No checkpoint in this session yet."),
            callback=lambda value: value and self.app.run_worker(self.restore(value)))

    async def restore(self, checkpoint_id: str, *, force: bool = False) -> None:
        from kimi_code.git.checkpoints import CheckpointError

        store = self._store()
        if store is None:
            return
        try:
            report = await asyncio.to_thread(store.restore, checkpoint_id, force=force)
        except CheckpointError as exc:
            self.app.show_notice(str(exc), "error")
            return
        if report.conflicts and not report.applied:
            files = ", ".join(report.conflicts[:8])
            self.app.show_notice(f"Not restored: you changed {files} since the agent did. "
                                 "/undo force (or /rewind with force from the shell) "
                                 "overwrites them.", "warning")
        elif not report.changes:
            self.app.show_notice(f"Files already match checkpoint {checkpoint_id}.", "info")
        else:
            undo = f" (undo this with /rewind {report.safety_checkpoint})" \
                if report.safety_checkpoint else ""
            self.app.show_notice(f"Restored {len(report.changes)} file(s) to checkpoint "
                                 f"{report.checkpoint_id}{undo}.", "success")
        self.app.run_worker(self.app.refresh_git(), group="git", exclusive=True)
