"""Slash commands (and the same actions in the command palette, Ctrl+P).

Each command is a row of data (name, argument hint, help, key) plus a handler that calls the
app's intents; none of them contains agent logic."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from kimi_code.safety.permissions import MODES
from kimi_code.ui.command_list import ALIASES, BY_NAME, COMMANDS, help_rows
from kimi_code.ui.render import human_tokens
from kimi_code.ui.screens.picker import Choice, PickerScreen

if TYPE_CHECKING:
    from kimi_code.ui.app import KimiApp

INIT_PROMPT = Path(__file__).with_name("prompts") / "init.md"


class CommandRunner:
    """Runs `/name args` against the app."""

    def __init__(self, app: KimiApp) -> None:
        self.app = app

    async def run(self, line: str) -> None:
        name, _, arg = line.strip().partition(" ")
        name = ALIASES.get(name, name)
        if name not in BY_NAME:
            close = [c.name for c in COMMANDS if c.name.startswith(name[:3])]
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            self.app.show_notice(f"Unknown command {name}.{hint} /help lists them.", "error")
            return
        handler: Callable[[str], Awaitable[None]] = getattr(self, "cmd_" + name[1:])
        await handler(arg.strip())

    async def cmd_help(self, arg: str) -> None:
        from kimi_code.ui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(help_rows()))

    async def cmd_new(self, arg: str) -> None:
        await self.app.new_session()

    async def cmd_sessions(self, arg: str) -> None:
        self.app.open_session_picker()

    async def cmd_model(self, arg: str) -> None:
        models = self.app.session.config.models
        if arg:
            await self.app.switch_model(arg)
            return
        choices = [Choice(name, name, f"{m.provider} · {m.model or m.path or ''}")
                   for name, m in sorted(models.items())]
        self.app.push_screen(PickerScreen("Model", choices, current=self.app.session.model.name),
                             callback=lambda v: v and self.app.run_worker(self.app.switch_model(v)))

    async def cmd_mode(self, arg: str) -> None:
        if arg:
            self.app.set_mode(arg)
            return
        choices = [Choice(m, m) for m in MODES]
        self.app.push_screen(PickerScreen("Permission mode", choices,
                                          current=self.app.session.permission_mode),
                             callback=lambda v: v and self.app.set_mode(v))

    async def cmd_theme(self, arg: str) -> None:
        if arg:
            self.app.switch_theme(arg)
            return
        choices = [Choice(name, name, "dark" if t.theme.dark else "light")
                   for name, t in sorted(self.app.kimi_themes.items())]
        self.app.push_screen(PickerScreen("Theme", choices, current=self.app.theme),
                             callback=lambda v: v and self.app.switch_theme(v))

    async def cmd_compact(self, arg: str) -> None:
        await self.app.compact()

    async def cmd_clear(self, arg: str) -> None:
        self.app.transcript.clear()

    async def cmd_undo(self, arg: str) -> None:
        await self.app.checkpoints.undo(arg)

    async def cmd_rewind(self, arg: str) -> None:
        await self.app.checkpoints.pick(arg)

    async def cmd_init(self, arg: str) -> None:
        self.app.send_prompt(INIT_PROMPT.read_text(encoding="utf-8"), shown="/init")

    async def cmd_cost(self, arg: str) -> None:
        usage = self.app.session_usage()
        cost = self.app.session_cost()
        text = (f"This session: {human_tokens(usage.input_tokens)} input tokens "
                f"({human_tokens(usage.cache_read_tokens)} from cache), "
                f"{human_tokens(usage.output_tokens)} output tokens. ")
        text += f"Estimated cost ${cost:.4f}." if cost is not None else \
            "Cost unknown for this model (add its price to prices.toml in your config dir)."
        self.app.show_notice(text, "info")

    async def cmd_quit(self, arg: str) -> None:
        await self.app.action_quit()


class SlashCommandProvider(Provider):
    """The command palette (Ctrl+P) lists the slash commands."""

    async def discover(self) -> Hits:
        for command in COMMANDS:
            yield DiscoveryHit(command.name, self._runner(command.name), help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in COMMANDS:
            score = matcher.match(f"{command.name} {command.help}")
            if score > 0:
                yield Hit(score, matcher.highlight(command.name), self._runner(command.name),
                          help=command.help)

    def _runner(self, name: str) -> Callable[[], object]:
        app = self.app
        return partial(app.run_slash, name)  # type: ignore[attr-defined]
