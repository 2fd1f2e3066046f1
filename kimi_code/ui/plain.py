"""`kimi-code --plain`: a line-mode front end (prompt-toolkit), for dumb terminals and screen
readers. Same events and intents as the TUI; no Textual import. History is shared with the TUI
(per workspace); `/` commands and `@` files complete with Tab; approvals are prompts; Markdown
and diffs are rendered with Rich, a finished paragraph at a time."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from rich.console import Console
from rich.markdown import Markdown

from kimi_code.agent.approval import ApprovalRequest, ApprovalResponse
from kimi_code.events import (
    AssistantMessage,
    CompactionDone,
    Event,
    Notice,
    PermissionDenied,
    RetryScheduled,
    SubagentCompleted,
    SubagentStarted,
    TextDelta,
    ThinkingDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
)
from kimi_code.ui.render import (
    diff_text,
    human_duration,
    key_argument,
    parse_arguments,
    proposed_diff,
    visible,
)

PLAIN_COMMANDS = {
    "/help": "this help", "/new": "start a new session", "/sessions": "list earlier sessions",
    "/resume": "/resume ID: continue an earlier session",
    "/mode": "/mode ask|accept-edits|yolo|read-only", "/compact": "summarise the conversation",
    "/cost": "tokens used so far", "/quit": "leave",
}
HELP = "\n".join(f"  {name:<10} {text}" for name, text in PLAIN_COMMANDS.items()) + (
    "\n  @path      mention a file (Tab completes)\n"
    "Ctrl-C interrupts a running turn; Ctrl-D (or /quit) exits.")
_FENCE = re.compile(r"^\s*(```|~~~)")


class PlainPrinter:
    """Renders events as lines: Markdown a paragraph at a time, thinking dim, tools compact."""

    def __init__(self, out: TextIO, *, color: bool | None = None) -> None:
        self.console = Console(file=out, force_terminal=color, highlight=False, soft_wrap=False)
        self.out = out
        self._text = ""
        self._thinking = False

    def __call__(self, event: Event) -> None:
        if event.agent_id:
            self._subagent(event)
            return
        if isinstance(event, ThinkingDelta):
            if not self._thinking:
                self.console.print("[dim italic]thinking…[/]")
                self._thinking = True
            return
        self._thinking = False
        if isinstance(event, TextDelta):
            self._text += event.text
            self._flush(final=False)
        elif isinstance(event, AssistantMessage):
            self._flush(final=True)
        elif isinstance(event, ToolCallStarted):
            self._flush(final=True)
            args = parse_arguments(event.call.arguments)
            self.console.print(f"● [bold]{event.call.name}[/] {_esc(key_argument(event.call.name, args, 120))}")
        elif isinstance(event, ToolCallFinished):
            self._tool_finished(event)
        else:
            self._other(event)
        self.out.flush()

    def _flush(self, *, final: bool) -> None:
        """Print the finished paragraphs (blank line outside a code fence) as Markdown."""
        if final:
            ready, self._text = self._text, ""
        else:
            ready, self._text = _split_finished(self._text)
        if ready.strip():
            self.console.print(Markdown(ready))

    def _tool_finished(self, event: ToolCallFinished) -> None:
        status = "[red]error[/]" if event.message.is_error else "[green]ok[/]"
        first = event.message.content.strip().splitlines()[:1]
        summary = _esc(visible(first[0][:160], keep_newlines=False)) if first else ""
        self.console.print(f"  ⎿ {status} ({human_duration(event.duration_ms)}) {summary}")
        diff = str((event.display or {}).get("diff") or "")
        if diff and not event.message.is_error:
            self.console.print(diff_text(diff, max_lines=120))

    def _other(self, event: Event) -> None:
        if isinstance(event, PermissionDenied):
            self.console.print(f"  [red]not run:[/] {_esc(event.reason)}")
        elif isinstance(event, RetryScheduled):
            self.console.print(f"[yellow]retrying in {event.delay_s:.1f}s "
                               f"({event.attempt}/{event.max_attempts}): {_esc(event.error)}[/]")
        elif isinstance(event, CompactionDone):
            self.console.print(f"[dim]context compacted: {event.tokens_before} → "
                               f"{event.tokens_after} tokens[/]")
        elif isinstance(event, Notice):
            style = {"warning": "yellow", "error": "bold red"}.get(event.level, "dim")
            self.console.print(f"[{style}]{_esc(event.message)}[/]")
        elif isinstance(event, TurnFinished):
            self._flush(final=True)
            reason = "" if event.stop_reason == "end_turn" else f"{event.stop_reason} · "
            error = f" {event.error}" if event.error and event.stop_reason != "cancelled" else ""
            self.console.print(f"[dim][{reason}{event.usage.input_tokens} in / "
                               f"{event.usage.output_tokens} out]{_esc(error)}[/]")

    def _subagent(self, event: Event) -> None:
        if isinstance(event, SubagentStarted):
            self.console.print(f"  ◌ subagent: {_esc(event.description)}")
        elif isinstance(event, SubagentCompleted):
            self.console.print(f"  {'✓' if event.status == 'success' else '✗'} subagent "
                               f"{event.status}: {_esc(event.summary[:120])}")


def _esc(text: str) -> str:
    return text.replace("[", r"\[")


def _split_finished(text: str) -> tuple[str, str]:
    """(complete paragraphs, the unfinished rest). Never splits inside a code fence."""
    lines = text.split("\n")
    fenced, cut = False, 0
    for index, line in enumerate(lines[:-1]):  # the last line is still being written
        if _FENCE.match(line):
            fenced = not fenced
        if not fenced and not line.strip():
            cut = index + 1
    return "\n".join(lines[:cut]), "\n".join(lines[cut:])


def make_completer(files: list[str]) -> Any:
    from prompt_toolkit.completion import Completer, Completion

    from kimi_code.ui.mentions import fuzzy, mention_at

    class _Completer(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterable[Any]:
            before = document.text_before_cursor
            if re.fullmatch(r"/[\w-]*", before):
                for name, text in PLAIN_COMMANDS.items():
                    if name.startswith(before):
                        yield Completion(name, -len(before), display_meta=text)
                return
            query = mention_at(before)
            if query is not None:
                for path in fuzzy(query, files, limit=20):
                    yield Completion(path, -len(query))

    return _Completer()


def make_history(workspace: Any) -> Any:
    """prompt-toolkit history backed by the TUI's per-workspace history file."""
    from prompt_toolkit.history import History

    from kimi_code.ui.history import InputHistory, history_file

    shared = InputHistory(history_file(workspace))

    class _Shared(History):
        def load_history_strings(self) -> Iterable[str]:
            return list(reversed(shared.entries))

        def store_string(self, string: str) -> None:
            shared.add(string)

    return _Shared()


async def _approve(request: ApprovalRequest, console: Console, workspace: Any) -> ApprovalResponse:
    from prompt_toolkit import PromptSession

    diff = proposed_diff(request.tool_name, request.tool_input, workspace)
    console.print(f"\n[bold yellow]Allow {request.tool_name}?[/] {_esc(visible(request.subject))}")
    if diff:
        console.print(diff_text(diff, max_lines=80))
    answer = await PromptSession().prompt_async(
        f"[y]es / [a]lways ({request.suggested_rule}) / [n]o / or type a message to deny: ")
    answer = answer.strip()
    if answer.lower() in ("y", "yes"):
        return ApprovalResponse(True)
    if answer.lower() in ("a", "always"):
        return ApprovalResponse(True, remember_rule=request.suggested_rule)
    return ApprovalResponse(False, message="" if answer.lower() in ("", "n", "no") else answer)


async def _command(s: Any, text: str, console: Console) -> bool:
    """Run a slash command; False when it asks to quit."""
    name, _, arg = text.partition(" ")
    arg = arg.strip()
    if name in ("/quit", "/exit"):
        return False
    if name == "/help":
        console.print(HELP, markup=False)
    elif name == "/new":
        await s.new_session()
        console.print(f"new session {s.session_id}")
    elif name == "/mode":
        try:
            s.set_mode(arg)
        except ValueError as exc:
            console.print(f"usage: /mode ask|accept-edits|yolo|read-only ({exc})", markup=False)
    elif name == "/compact":
        console.print("compacted" if await s.agent.compact_now() else "nothing to compact")
    elif name == "/cost":
        usage = s.agent.context.total_usage
        console.print(f"{usage.input_tokens} input tokens ({usage.cache_read_tokens} cached), "
                      f"{usage.output_tokens} output tokens")
    elif name == "/sessions":
        _list_sessions(s, console)
    elif name == "/resume" and arg:
        await s.cancel()
        try:
            s.open(resume=arg)
        except LookupError as exc:
            console.print(f"cannot resume: {exc}", markup=False)
        else:
            console.print(f"resumed {s.session_id} ({len(s.agent.context.messages)} messages)")
    else:
        console.print(f"unknown command {name}; /help lists them", markup=False)
    return True


def _list_sessions(s: Any, console: Console) -> None:
    from kimi_code.session.store import SessionStore

    with SessionStore() as store:
        for info in store.list(s.workspace.root, limit=20):
            title = (info.title or store.first_prompt(info.id) or "(empty)").splitlines()[0][:60]
            console.print(f"  {info.id}  {info.message_count:>4} msgs  {title}", markup=False)


async def _ask_trust(s: Any) -> None:
    """First open of a workspace: Enter trusts; n (or Ctrl-C/Ctrl-D) continues untrusted."""
    from prompt_toolkit import PromptSession

    from kimi_code.safety import trust

    question = (f"Do you trust the files in {s.workspace.root}? Trusting loads the project's "
                ".kimi-code config (it can only tighten permissions), custom agents and hooks.\n"
                "[Enter] trust  [n] continue without trusting: ")
    try:
        answer = (await PromptSession().prompt_async(question)).strip().lower()
    except (EOFError, KeyboardInterrupt):
        answer = "n"
    if answer in ("", "y", "yes"):
        trust.trust(s.workspace.root)
    else:
        print("Not trusted: nothing project-level is loaded this session.")


async def _loop(s: Any, continue_: bool, resume: str | None) -> int:
    from prompt_toolkit import PromptSession

    from kimi_code.ui.mentions import list_files

    printer = PlainPrinter(sys.stdout)
    s.approver = lambda request: _approve(request, printer.console, s.workspace.root)
    s.subscribers.append(printer)
    if s.needs_trust and sys.stdin.isatty():
        await _ask_trust(s)
    try:
        s.open(continue_=continue_, resume=resume)
    except LookupError as exc:
        sys.stderr.write(f"kimi-code: {exc}\n")
        return 1
    files = await asyncio.to_thread(list_files, s.workspace.root)
    prompt = PromptSession(history=make_history(s.workspace.root),
                           completer=make_completer(files), complete_while_typing=False)
    print(f"kimi-code (plain) — session {s.session_id} in {s.workspace.root}. /help for commands.")
    while True:
        try:
            text = (await prompt.prompt_async("› ")).strip()
        except EOFError:
            break
        except KeyboardInterrupt:
            continue
        if not text:
            continue
        if re.match(r"/[\w-]*(\s|$)", text):
            if not await _command(s, text, printer.console):
                break
            continue
        task = s.submit(text)
        try:
            await asyncio.shield(task)
        except (KeyboardInterrupt, asyncio.CancelledError):
            await s.cancel()
    await s.close()
    return 0


def run_plain(session: object, *, continue_: bool = False, resume: str | None = None) -> int:
    try:
        return asyncio.run(_loop(session, continue_, resume))
    except KeyboardInterrupt:
        return 130
