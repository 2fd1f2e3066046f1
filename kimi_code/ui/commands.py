"""The TUI side of the slash commands: `TuiHost` (the CommandHost the shared handlers talk
to: pickers are modal screens, notices are transcript blocks) and the command palette (Ctrl+P),
which lists the same registry."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from inspect import isawaitable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider

from kimi_code.ui.command_host import Choice, OnPick
from kimi_code.ui.command_list import commands_for, dispatch

if TYPE_CHECKING:
    from kimi_code.runtime.session import AgentSession
    from kimi_code.ui.session_actions import SessionActions


class TuiHost:
    """Runs `/name args` against the app."""

    name = "tui"

    def __init__(self, app: SessionActions) -> None:
        self.app = app

    @property
    def session(self) -> AgentSession:
        session: AgentSession = self.app.session
        return session

    async def run(self, line: str) -> None:
        await dispatch(self, line)

    def show_notice(self, message: str, level: str = "info") -> None:
        self.app.show_notice(message, level)

    async def choose(self, title: str, choices: list[Choice], on_pick: OnPick, *,
                     current: str | None = None, empty: str = "Nothing to pick from.") -> None:
        from kimi_code.ui.screens.picker import PickerScreen

        def picked(value: str | None) -> None:
            if value:
                result = on_pick(value)
                if isawaitable(result):
                    self.app.run_worker(result)

        self.app.push_screen(PickerScreen(title, choices, current=current, empty=empty),
                             callback=picked)

    def send_prompt(self, text: str, *, shown: str | None = None) -> None:
        self.app.send_prompt(text, shown=shown)

    def show_help(self, rows: list[tuple[str, str, str]]) -> None:
        from kimi_code.ui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(rows))

    def clear_screen(self) -> None:
        self.app.transcript.clear()

    def conversation_replaced(self, prompt: str = "") -> None:
        self.app.conversation_replaced(prompt)

    def status_changed(self) -> None:
        app = self.app
        model = app.session.model
        app.status.set(model=model.model or model.name, mode=app.session.permission_mode)
        app.update_status()
        app.run_worker(app.refresh_git(), group="git", exclusive=True)

    def theme_choices(self) -> list[Choice]:
        return [Choice(name, name, "dark" if t.theme.dark else "light")
                for name, t in sorted(self.app.kimi_themes.items())]

    def switch_theme(self, name: str) -> None:
        self.app.switch_theme(name)

    def cost(self) -> float | None:
        return self.app.session_cost()

    async def quit(self) -> None:
        await self.app.action_quit()


@runtime_checkable
class SlashRunner(Protocol):
    """What the palette needs of its app (KimiApp; Provider.app is typed as any App)."""

    async def run_slash(self, line: str) -> None: ...


class SlashCommandProvider(Provider):
    """The command palette (Ctrl+P) lists the slash commands."""

    async def discover(self) -> Hits:
        for command in commands_for("tui"):
            yield DiscoveryHit(command.name, self._runner(command.name), help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in commands_for("tui"):
            score = matcher.match(f"{command.name} {command.help}")
            if score > 0:
                yield Hit(score, matcher.highlight(command.name), self._runner(command.name),
                          help=command.help)

    def _runner(self, name: str) -> Callable[[], object]:
        app = self.app
        if not isinstance(app, SlashRunner):
            raise TypeError(f"{type(app).__name__} cannot run slash commands")
        return partial(app.run_slash, name)
