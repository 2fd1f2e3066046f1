"""`kimi-code --plain`: a line-mode front end (prompt-toolkit), for dumb terminals and screen
readers. A thin client of AgentSession like the TUI, with the same slash-command registry
(command_list.py; /undo and /rewind included); no Textual import. History is shared with the
TUI (per workspace); `/` commands and `@` files complete with Tab; approvals are prompts;
Markdown and diffs are rendered with Rich, a finished paragraph at a time."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO, assert_never

from rich.console import Console
from rich.markdown import Markdown

from kimi_code.agent.approval import ApprovalRequest, ApprovalResponse, parse_answer
from kimi_code.events import (
    AnyEvent,
    AssistantMessage,
    CheckpointCreated,
    CompactionDone,
    Event,
    Notice,
    PermissionDenied,
    RetryScheduled,
    SessionStarted,
    StepStarted,
    SubagentCompleted,
    SubagentProgress,
    SubagentStarted,
    TextDelta,
    ThinkingDelta,
    TodosUpdated,
    ToolCallFinished,
    ToolCallStarted,
    ToolMessageAdded,
    TurnFinished,
    TurnStarted,
    UserMessageAdded,
    closed,
)
from kimi_code.ui.render import (
    diff_text,
    human_duration,
    key_argument,
    parse_arguments,
    proposed_diff,
    visible,
)

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
        self._show(closed(event))
        self.out.flush()

    def _show(self, event: AnyEvent) -> None:
        """One event of the main agent, as lines (exhaustive: mypy names a missing event)."""
        match event:
            case TextDelta():
                self._text += event.text
                self._flush(final=False)
            case AssistantMessage():
                self._flush(final=True)
            case ToolCallStarted():
                self._flush(final=True)
                args = parse_arguments(event.call.arguments)
                self.console.print(f"● [bold]{event.call.name}[/] "
                                   f"{_esc(key_argument(event.call.name, args, 120))}")
            case ToolCallFinished():
                self._tool_finished(event)
            case PermissionDenied() | RetryScheduled() | CompactionDone() | Notice() \
                    | TurnFinished():
                self._other(event)
            case ThinkingDelta() | SessionStarted() | TurnStarted() | StepStarted() \
                    | ToolMessageAdded() | UserMessageAdded() | CheckpointCreated() \
                    | SubagentStarted() | SubagentProgress() | SubagentCompleted() \
                    | TodosUpdated():
                pass  # not shown in line mode (the prompt line already shows what was typed)
            case _:
                assert_never(event)

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

    from kimi_code.ui.command_list import slash_completions
    from kimi_code.ui.mentions import fuzzy, mention_at

    class _Completer(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterable[Any]:
            before = document.text_before_cursor
            if re.fullmatch(r"/[\w-]*", before):
                for name, text in slash_completions(before, "plain"):
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
    session: PromptSession[str] = PromptSession()
    answer = await session.prompt_async(
        f"[y]es / [a]lways ({request.suggested_rule}) / [n]o / or type a message to deny: ")
    return parse_answer(answer, request.suggested_rule)


async def _ask_trust(s: Any) -> None:
    """First open of a workspace: Enter trusts; n (or Ctrl-C/Ctrl-D) continues untrusted."""
    from prompt_toolkit import PromptSession

    question = (f"Do you trust the files in {s.workspace.root}? Trusting loads the project's "
                ".kimi-code config (it can only tighten permissions) and its custom subagent "
                "types.\n[Enter] trust  [n] continue without trusting: ")
    session: PromptSession[str] = PromptSession()
    try:
        answer = (await session.prompt_async(question)).strip().lower()
    except (EOFError, KeyboardInterrupt):
        answer = "n"
    if answer in ("", "y", "yes"):
        s.trust()
    else:
        print("Not trusted: nothing project-level is loaded this session.")


async def _loop(s: Any, continue_: bool, resume: str | None) -> int:
    from prompt_toolkit import PromptSession

    from kimi_code.ui.mentions import list_files
    from kimi_code.ui.plain_commands import PlainHost

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
    prompt: PromptSession[str] = PromptSession(history=make_history(s.workspace.root),
                           completer=make_completer(files), complete_while_typing=False)
    host = PlainHost(s, printer.console)
    print(f"kimi-code (plain) — session {s.session_id} in {s.workspace.root}. /help for commands.")
    while not host.quitting:
        try:
            text = (await prompt.prompt_async("› ")).strip()
        except EOFError:
            break
        except KeyboardInterrupt:
            continue
        if text:
            await _handle(s, host, text)
    await s.close()
    return 0


async def _handle(s: Any, host: Any, text: str) -> None:
    """One line: a slash command, a `!command`, or a prompt for the agent."""
    from kimi_code.ui.command_list import dispatch

    if re.match(r"/[\w?-]*(\s|$)", text):  # "/tmp/x fails" is a prompt, not a command
        await dispatch(host, text)
        prompts, host.pending_prompts = host.pending_prompts, []
        for prompt, _ in prompts:  # /init: the command's prompt goes to the agent
            await _turn(s, prompt)
    elif text.startswith("!") and len(text) > 1:
        result = await s.run_shell(text[1:].strip())
        host.console.print(result.output.rstrip() or "(no output)", markup=False,
                           highlight=False)
        host.show_notice("↳ the output goes to the agent with your next message")
    else:
        await _turn(s, text)


async def _turn(s: Any, text: str) -> None:
    task = s.submit(text)
    try:
        await asyncio.shield(task)
    except (KeyboardInterrupt, asyncio.CancelledError):
        await s.cancel()


def run_plain(session: object, *, continue_: bool = False, resume: str | None = None) -> int:
    try:
        return asyncio.run(_loop(session, continue_, resume))
    except KeyboardInterrupt:
        return 130
