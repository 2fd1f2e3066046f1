"""The slash commands as data (no Textual here: the plain line mode completes them too)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    args: str
    help: str
    key: str = ""


COMMANDS = (
    Command("/help", "", "list commands and keys", "F1"),
    Command("/new", "", "start a new session (the current one stays resumable)"),
    Command("/sessions", "", "pick an earlier session of this workspace to resume"),
    Command("/model", "[name]", "switch to another configured model"),
    Command("/mode", "[ask|accept-edits|yolo|read-only]", "set the permission mode", "Shift+Tab"),
    Command("/theme", "[name]", "switch theme (saved to your config)"),
    Command("/compact", "", "summarise the conversation to free context"),
    Command("/clear", "", "clear the screen (the conversation is kept)", "Ctrl+L"),
    Command("/undo", "[files|conversation|both] [force]",
            "go back to before the last turn: files, conversation or both (asks which)"),
    Command("/rewind", "[ID] [files|conversation|both]",
            "go back to a checkpoint of this session: files, conversation or both"),
    Command("/init", "", "write AGENTS.md for this repository (runs an agent turn)"),
    Command("/cost", "", "tokens used and estimated cost of this session"),
    Command("/quit", "", "leave kimi-code", "Ctrl+C Ctrl+C"),
)
BY_NAME = {c.name: c for c in COMMANDS}
ALIASES = {"/exit": "/quit", "/q": "/quit", "/?": "/help", "/resume": "/sessions"}


def slash_completions(prefix: str) -> list[tuple[str, str]]:
    """(command, description) for the completion menu."""
    return [(c.name, f"{c.args}  {c.help}".strip()) for c in COMMANDS if c.name.startswith(prefix)]


def help_rows() -> list[tuple[str, str, str]]:
    return [(f"{c.name} {c.args}".strip(), c.help, c.key) for c in COMMANDS]
