"""The plain line mode's side of the slash commands: `PlainHost`, the CommandHost whose pickers
are numbered lists answered on the prompt and whose notices are printed lines."""

from __future__ import annotations

from inspect import isawaitable
from typing import TYPE_CHECKING

from rich.console import Console

from kimi_code.ui.command_host import Choice, OnPick

if TYPE_CHECKING:
    from kimi_code.runtime.session import AgentSession

KEYS_HELP = ("  @path      mention a file (Tab completes)\n"
             "  !command   run a shell command; its output goes with your next message\n"
             "Ctrl-C interrupts a running turn; Ctrl-D (or /quit) exits.")
_STYLES = {"warning": "yellow", "error": "bold red", "success": "green"}


class PlainHost:
    name = "plain"

    def __init__(self, session: AgentSession, console: Console) -> None:
        self.session, self.console = session, console
        self.quitting = False
        self.pending_prompts: list[tuple[str, str | None]] = []  # /init: sent after the command

    def show_notice(self, message: str, level: str = "info") -> None:
        style = _STYLES.get(level)
        self.console.print(message, style=style, markup=False, highlight=False)

    async def choose(self, title: str, choices: list[Choice], on_pick: OnPick, *,
                     current: str | None = None, empty: str = "Nothing to pick from.") -> None:
        from prompt_toolkit import PromptSession

        if not choices:
            self.show_notice(empty)
            return
        self.console.print(f"{title}:", markup=False, highlight=False)
        for number, choice in enumerate(choices, 1):
            mark = " (current)" if choice.value == current else ""
            detail = f"  {choice.detail}" if choice.detail else ""
            self.console.print(f"  {number:>2}. {choice.label}{mark}{detail}", markup=False,
                               highlight=False)
        try:
            prompt: PromptSession[str] = PromptSession()
            answer = (await prompt.prompt_async("number (Enter cancels): ")).strip()
        except (EOFError, KeyboardInterrupt):
            answer = ""
        if not answer.isdigit() or not 1 <= int(answer) <= len(choices):
            if answer:
                self.show_notice(f"No choice {answer!r}; nothing done.", "warning")
            return
        result = on_pick(choices[int(answer) - 1].value)
        if isawaitable(result):
            await result

    def send_prompt(self, text: str, *, shown: str | None = None) -> None:
        self.pending_prompts.append((text, shown))

    def show_help(self, rows: list[tuple[str, str, str]]) -> None:
        width = max(len(usage) for usage, _, _ in rows)
        for usage, text, _ in rows:
            self.console.print(f"  {usage:<{width}}  {text}", markup=False, highlight=False)
        self.console.print(KEYS_HELP, markup=False, highlight=False)

    def clear_screen(self) -> None:
        return None  # a line mode keeps its scrollback

    def conversation_replaced(self, prompt: str = "") -> None:
        if prompt.strip():
            self.show_notice(f"The dropped turn's prompt was: {prompt.strip()}")

    def status_changed(self) -> None:
        return None  # no status line: each command reports what it did

    def theme_choices(self) -> list[Choice]:
        return []

    def switch_theme(self, name: str) -> None:
        self.show_notice("Themes apply to the full-screen TUI only.")

    def cost(self) -> float | None:
        from kimi_code.ui.prices import estimate_cost, load_prices

        return estimate_cost(self.session.model_name, self.session.usage, load_prices())

    async def quit(self) -> None:
        self.quitting = True
