"""`kimi-code --plain`: a line-mode front end (prompt-toolkit), for terminals where a full-screen
TUI is unwelcome. It only consumes agent events and sends intents; no Textual import."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from kimi_code.agent.executor import ApprovalRequest, ApprovalResponse
from kimi_code.events import (
    Event, Notice, PermissionDenied, RetryScheduled, TextDelta, ThinkingDelta, ToolCallFinished,
    ToolCallStarted, TurnFinished,
)

HELP = """Commands: /help  /new  /mode <ask|accept-edits|yolo|read-only>  /compact  /quit
Ctrl-C interrupts a running turn; Ctrl-D (or /quit) exits."""


class PlainPrinter:
    """Renders events as plain lines (ANSI dim for thinking)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._thinking = False

    def __call__(self, event: Event) -> None:
        if event.agent_id:
            return
        w = self.out.write
        if isinstance(event, ThinkingDelta):
            if not self._thinking:
                w("\x1b[2m")
                self._thinking = True
            w(event.text)
        elif isinstance(event, TextDelta):
            self._end_thinking()
            w(event.text)
        elif isinstance(event, ToolCallStarted):
            self._end_thinking()
            w(f"\n● {event.call.name} {event.call.arguments[:120]}\n")
        elif isinstance(event, ToolCallFinished):
            status = "error" if event.message.is_error else "ok"
            first = event.message.content.strip().splitlines()[:1]
            w(f"  ⎿ {status} ({event.duration_ms} ms) {first[0][:160] if first else ''}\n")
        elif isinstance(event, (Notice, RetryScheduled, PermissionDenied)):
            text = getattr(event, "message", "") or getattr(event, "error", "") or \
                getattr(event, "reason", "")
            w(f"\n[{event.kind}] {text}\n")
        elif isinstance(event, TurnFinished):
            self._end_thinking()
            w(f"\n[{event.stop_reason}] {event.usage.input_tokens} in / "
              f"{event.usage.output_tokens} out\n")
        self.out.flush()

    def _end_thinking(self) -> None:
        if self._thinking:
            self.out.write("\x1b[0m\n")
            self._thinking = False


async def _approve(request: ApprovalRequest) -> ApprovalResponse:
    from prompt_toolkit import PromptSession

    visible = request.subject.encode("unicode_escape").decode("ascii")
    answer = await PromptSession().prompt_async(
        f"\nAllow {request.tool_name}: {visible}?  [y]es / [a]lways ({request.suggested_rule}) / [n]o: ")
    answer = answer.strip().lower()
    if answer in ("y", "yes"):
        return ApprovalResponse(True)
    if answer in ("a", "always"):
        return ApprovalResponse(True, remember_rule=request.suggested_rule)
    return ApprovalResponse(False, message=answer if answer not in ("", "n", "no") else "")


async def _loop(session: object, continue_: bool, resume: str | None) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    from kimi_code import paths

    s = session  # InteractiveSession (kept untyped here to avoid a cycle at import)
    s.approver = _approve  # type: ignore[attr-defined]
    s.subscribers.append(PlainPrinter(sys.stdout))  # type: ignore[attr-defined]
    try:
        s.open(continue_=continue_, resume=resume)  # type: ignore[attr-defined]
    except LookupError as exc:
        sys.stderr.write(f"kimi-code: {exc}\n")
        return 1
    history = paths.ensure_dir(paths.data_dir()) / "plain_history"
    prompt = PromptSession(history=FileHistory(str(history)))
    print(f"kimi-code (plain) — session {s.session_id} in {s.workspace.root}. /help for commands.")  # type: ignore[attr-defined]
    while True:
        try:
            text = await prompt.prompt_async("› ")
        except EOFError:
            break
        except KeyboardInterrupt:
            continue
        text = text.strip()
        if not text:
            continue
        if text in ("/quit", "/exit"):
            break
        if text == "/help":
            print(HELP)
        elif text == "/new":
            await s.new_session()  # type: ignore[attr-defined]
            print(f"new session {s.session_id}")  # type: ignore[attr-defined]
        elif text.startswith("/mode"):
            try:
                s.set_mode(text.split(maxsplit=1)[1].strip())  # type: ignore[attr-defined]
            except (IndexError, ValueError) as exc:
                print(f"usage: /mode ask|accept-edits|yolo|read-only ({exc})")
        elif text == "/compact":
            done = await s.agent.compact_now()  # type: ignore[attr-defined]
            print("compacted" if done else "nothing to compact")
        else:
            task = s.submit(text)  # type: ignore[attr-defined]
            try:
                await asyncio.shield(task)
            except (KeyboardInterrupt, asyncio.CancelledError):
                await s.cancel()  # type: ignore[attr-defined]
    await s.close()  # type: ignore[attr-defined]
    return 0


def run_plain(session: object, *, continue_: bool = False, resume: str | None = None) -> int:
    try:
        return asyncio.run(_loop(session, continue_, resume))
    except KeyboardInterrupt:
        return 130
