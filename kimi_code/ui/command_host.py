"""What a slash command may ask of the front end it runs in (the TUI or plain mode): the one
interface the shared handlers (command_handlers.py, rewind_commands.py) talk to. No Textual
here: plain mode uses it too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kimi_code.runtime.session import AgentSession


@dataclass(frozen=True)
class Choice:
    """One entry of a pick list: the value handed back, what is shown, a detail line."""

    value: str
    label: str
    detail: str = ""


# Called with the picked value; may return an awaitable (run without blocking the front end).
OnPick = Callable[[str], Awaitable[None] | None]


class CommandHost(Protocol):
    """A front end, as the slash commands see it."""

    name: str  # "tui" or "plain": commands that only make sense in one say so in the other

    @property
    def session(self) -> AgentSession:
        """The session the commands operate on."""

    def show_notice(self, message: str, level: str = "info") -> None:
        """Show a line to the user (info, success, warning, error)."""

    async def choose(self, title: str, choices: list[Choice], on_pick: OnPick, *,
                     current: str | None = None, empty: str = "Nothing to pick from.") -> None:
        """Let the user pick one of `choices`; `on_pick` gets the value (not called on cancel)."""

    def send_prompt(self, text: str, *, shown: str | None = None) -> None:
        """Send `text` to the agent as the user's message (`shown` instead in the transcript)."""

    def show_help(self, rows: list[tuple[str, str, str]]) -> None:
        """Show the commands: (usage, help, key) rows."""

    def clear_screen(self) -> None:
        """Clear what is shown (the conversation is kept)."""

    def conversation_replaced(self, prompt: str = "") -> None:
        """The session's conversation changed under the view (resume, new, rewind): redraw it;
        `prompt` (a rewound turn's) goes back into the input line when that is empty."""

    def status_changed(self) -> None:
        """Mode, model, usage or the workspace's files changed: refresh what shows them."""

    def theme_choices(self) -> list[Choice]:
        """The themes there are (empty where themes do not apply)."""

    def switch_theme(self, name: str) -> None:
        """Switch to theme `name` and save it (reports an unknown name itself)."""

    def cost(self) -> float | None:
        """The session's estimated cost in dollars (None: the model's price is unknown)."""

    async def quit(self) -> None:
        """Leave kimi-code."""
