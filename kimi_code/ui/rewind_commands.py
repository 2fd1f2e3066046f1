"""/undo and /rewind, shared by the TUI and plain mode: pick a checkpoint of this session, then
what goes back — the files, the conversation, or both. AgentSession does the work (a dry-run
plan, the restore, the conversation cut); this module asks and reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kimi_code.runtime.rewind import RewindError, RewindOutcome, RewindPlan, parse_scope_args
from kimi_code.ui.command_host import Choice, CommandHost

if TYPE_CHECKING:
    from kimi_code.git.checkpoints.store import Checkpoint

SCOPES = {"both": "Files and conversation", "code": "Files only",
          "conversation": "Conversation only"}


def _ready(host: CommandHost) -> bool:
    if host.session.busy:
        host.show_notice("The agent is working; press Esc first, then go back.", "warning")
        return False
    return True


async def undo(host: CommandHost, arg: str) -> None:
    """/undo [files|conversation|both] [force]: back to before the last turn."""
    scope, force, rest = parse_scope_args(arg)
    if rest:
        host.show_notice(f"/undo takes files, conversation, both or force, not "
                         f"{' '.join(rest)!r}.", "error")
        return
    if not _ready(host):
        return
    try:
        target = await host.session.undo_target()
    except RewindError as exc:
        host.show_notice(str(exc), "error")
        return
    if target is None:
        host.show_notice("No checkpoint in this session yet: nothing to undo.", "info")
        return
    await choose_scope(host, target, scope, force)


async def rewind(host: CommandHost, arg: str) -> None:
    """/rewind [ID] [files|conversation|both] [force]: pick a checkpoint, then the scope."""
    scope, force, rest = parse_scope_args(arg)
    if not _ready(host):
        return
    try:
        if rest:
            await choose_scope(host, await host.session.checkpoint(rest[0]), scope, force)
            return
        checkpoints = {c.id: c for c in await host.session.checkpoints()}
    except RewindError as exc:
        host.show_notice(str(exc), "error")
        return
    choices = [Choice(c.id, c.trigger or "(checkpoint)", f"{c.created} · {c.id}")
               for c in reversed(checkpoints.values())]
    await host.choose("Rewind to a checkpoint (then choose files, conversation or both)",
                      choices, lambda value: choose_scope(host, checkpoints[value], scope, force),
                      empty="No checkpoint in this session yet.")


async def choose_scope(host: CommandHost, checkpoint: Checkpoint, scope: str | None,
                       force: bool) -> None:
    """Dry-run both halves, then ask files / conversation / both (unless already given)."""
    plan = await host.session.rewind_plan(checkpoint)
    if scope is not None:
        await apply(host, plan, scope, force=force)
        return
    await host.choose(f"Go back to {checkpoint.trigger or checkpoint.id}", scope_choices(plan),
                      lambda value: apply(host, plan, value.removesuffix("+force"),
                                          force=value.endswith("+force")),
                      current="both" if not plan.error else "code")


async def apply(host: CommandHost, plan: RewindPlan, scope: str, *, force: bool = False) -> None:
    if not _ready(host):
        return
    try:
        outcome = await host.session.rewind(scope, to=plan.checkpoint.id, force=force)
    except RewindError as exc:
        host.show_notice(str(exc), "error")
        return
    if outcome.conversation_rewound:  # redrawn first: the notices below stay on screen
        host.conversation_replaced(outcome.dropped_prompt)
    for message, level in outcome_notices(outcome):
        host.show_notice(message, level)
    host.status_changed()


def outcome_notices(outcome: RewindOutcome) -> list[tuple[str, str]]:
    """What to tell the user about a rewind, one (message, level) per line."""
    notices: list[tuple[str, str]] = []
    report = outcome.report
    if outcome.scope in ("code", "both"):
        if outcome.refused and report is not None:
            files = ", ".join(report.conflicts[:8])
            return [(f"Not restored: you changed {files} since the agent did. Pick the choice "
                     "that overwrites them (or /undo force).", "warning")]
        if outcome.refused:
            return [(outcome.error, "error")]
        if report is not None and not report.changes:
            notices.append((f"Files already match checkpoint {outcome.checkpoint_id}.", "info"))
        elif report is not None:
            undo_hint = f" (undo this with /rewind {report.safety_checkpoint} files)" \
                if report.safety_checkpoint else ""
            notices.append((f"Restored {len(report.changes)} file(s) to checkpoint "
                            f"{report.checkpoint_id}{undo_hint}.", "success"))
    if outcome.scope in ("conversation", "both"):
        notices.append(_conversation_notice(outcome))
    return notices


def _conversation_notice(outcome: RewindOutcome) -> tuple[str, str]:
    if not outcome.conversation_rewound:
        return (f"The conversation cannot be rewound to {outcome.checkpoint_id}: "
                f"{outcome.error or 'this session has no conversation log'}.", "error")
    count = outcome.messages_dropped
    back = "; its prompt is back in the input." if outcome.dropped_prompt.strip() else "."
    return (f"Conversation rewound to checkpoint {outcome.checkpoint_id} "
            f"({count} message{'s' if count != 1 else ''} dropped){back}", "success")


def scope_choices(plan: RewindPlan) -> list[Choice]:
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


__all__ = ["apply", "choose_scope", "outcome_notices", "rewind", "scope_choices", "undo"]
