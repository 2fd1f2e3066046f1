"""The one slash-command registry: `Command(name, args, help, handler)` rows used by the TUI,
plain mode, the completion menus and the command palette (no Textual here). Handlers are the
shared functions of command_handlers.py and rewind_commands.py; `dispatch` runs a typed line."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kimi_code.ui import command_handlers as h
from kimi_code.ui import rewind_commands as rw
from kimi_code.ui.command_host import CommandHost

Handler = Callable[[CommandHost, str], Awaitable[None]]


@dataclass(frozen=True)
class Command:
    name: str
    args: str
    help: str
    handler: Handler
    key: str = ""  # the TUI's key for it, shown in /help
    front_ends: tuple[str, ...] = ("tui", "plain")


async def _show_help(host: CommandHost, arg: str) -> None:
    host.show_help(help_rows(host.name))


COMMANDS = (
    Command("/help", "", "list commands and keys", _show_help, "F1"),
    Command("/new", "", "start a new session (the current one stays resumable)", h.new_session),
    Command("/sessions", "[ID]", "resume an earlier session of this workspace (pick, or by id)",
            h.sessions),
    Command("/fork", "", "continue in a copy of this session (the original stays as it is)",
            h.fork),
    Command("/model", "[name]", "switch to another configured model", h.model),
    Command("/mode", "[ask|accept-edits|yolo|read-only]", "set the permission mode", h.mode,
            "Shift+Tab"),
    Command("/theme", "[name]", "switch theme (saved to your config)", h.theme,
            front_ends=("tui",)),
    Command("/compact", "", "summarise the conversation to free context", h.compact),
    Command("/clear", "", "clear the screen (the conversation is kept)", h.clear, "Ctrl+L",
            front_ends=("tui",)),
    Command("/undo", "[files|conversation|both] [force]",
            "go back to before the last turn: files, conversation or both (asks which)", rw.undo),
    Command("/rewind", "[ID] [files|conversation|both]",
            "go back to a checkpoint of this session: files, conversation or both", rw.rewind),
    Command("/trust", "", "trust this workspace: load its project config and custom subagents",
            h.trust),
    Command("/init", "", "write AGENTS.md for this repository (runs an agent turn)", h.init),
    Command("/cost", "", "tokens used and estimated cost of this session", h.cost),
    Command("/quit", "", "leave kimi-code", h.quit_, "Ctrl+C Ctrl+C"),
)
BY_NAME = {c.name: c for c in COMMANDS}
ALIASES = {"/exit": "/quit", "/q": "/quit", "/?": "/help", "/resume": "/sessions"}


def commands_for(front_end: str) -> list[Command]:
    return [c for c in COMMANDS if front_end in c.front_ends]


def lookup(name: str, front_end: str) -> Command | None:
    command = BY_NAME.get(ALIASES.get(name, name))
    return command if command is not None and front_end in command.front_ends else None


async def dispatch(host: CommandHost, line: str) -> None:
    """Run `/name args` in `host`; an unknown name gets a hint."""
    name, _, arg = line.strip().partition(" ")
    command = lookup(name, host.name)
    if command is None:
        close = [c.name for c in commands_for(host.name) if c.name.startswith(name[:3])]
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        host.show_notice(f"Unknown command {name}.{hint} /help lists them.", "error")
        return
    await command.handler(host, arg.strip())


def slash_completions(prefix: str, front_end: str = "tui") -> list[tuple[str, str]]:
    """(command, description) for the completion menus."""
    return [(c.name, f"{c.args}  {c.help}".strip()) for c in commands_for(front_end)
            if c.name.startswith(prefix)]


def help_rows(front_end: str = "tui") -> list[tuple[str, str, str]]:
    return [(f"{c.name} {c.args}".strip(), c.help, c.key) for c in commands_for(front_end)]
