"""The Textual TUI. It renders the agent's events and sends the user's intents to the
`AgentSession` (kimi_code.runtime.session); it contains no agent logic. The agent runs as a
task in Textual's own event loop; its events are queued and drained in batches (messages.py)."""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from kimi_code.events import (
    AssistantMessage,
    Event,
    SessionStarted,
    TurnFinished,
)
from kimi_code.llm.base import Usage
from kimi_code.safety.permissions import MODES
from kimi_code.ui import themes as theme_data
from kimi_code.ui.command_list import slash_completions
from kimi_code.ui.commands import SlashCommandProvider, TuiHost
from kimi_code.ui.history import InputHistory, history_file
from kimi_code.ui.mentions import fuzzy
from kimi_code.ui.messages import AgentEventsReady, TurnDone, coalesce
from kimi_code.ui.prices import estimate_cost, load_prices
from kimi_code.ui.session_actions import SessionActions
from kimi_code.ui.swarm_state import SwarmTracker
from kimi_code.ui.widgets.completion_menu import CompletionMenu
from kimi_code.ui.widgets.prompt_input import PromptInput
from kimi_code.ui.widgets.status_bar import StatusBar
from kimi_code.ui.widgets.swarm_panel import SwarmPanel
from kimi_code.ui.widgets.tool_block import ToolBlock
from kimi_code.ui.widgets.transcript import Transcript

QUIT_WINDOW_S = 2.0


class KimiApp(SessionActions):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses may live anywhere
    TITLE = "kimi-code"
    COMMANDS = App.COMMANDS | {SlashCommandProvider}
    BINDINGS = [
        Binding("escape", "interrupt", "Interrupt", show=False),
        Binding("ctrl+c", "ctrl_c", "Interrupt / quit", priority=True, show=False),
        Binding("ctrl+s", "steer", "Steer", priority=True),
        Binding("shift+tab", "cycle_mode", "Mode", priority=True),
        Binding("ctrl+l", "clear", "Clear screen"),
        Binding("f1", "help", "Help"),
        Binding("f2", "toggle_swarm", "Swarm panel"),
    ]

    def __init__(self, session: Any, *, continue_: bool = False, resume: str | None = None) -> None:
        super().__init__()
        self.session = session
        self._continue, self._resume = continue_, resume
        self.kimi_themes, self.theme_problems = theme_data.load_themes()
        self.diff_palette = dict(theme_data.FALLBACK_DIFF)
        self.inbox: deque[Event] = deque()
        self._drain_posted = False
        self.turn_task: asyncio.Task[Any] | None = None
        self.queue: list[str] = []
        self.shell_blocks: list[ToolBlock] = []
        self.turns_done = 0
        self.ready = False
        self.awaiting_approval = False
        self.files: list[str] = []
        self.prices = load_prices()
        self.runner = TuiHost(self)
        self._last_ctrl_c = 0.0
        self.session_closed = False
        self.history = InputHistory(history_file(session.workspace.root))
        self.menu = CompletionMenu(id="completion")
        self.transcript = Transcript(id="transcript")
        self.status = StatusBar(id="status")
        self.swarm = SwarmTracker(cost=lambda usage: estimate_cost(
            self.session.model.model or self.session.model.name, usage, self.prices))
        self.swarm_panel = SwarmPanel(self.swarm, self.transcript, id="swarm")
        self.prompt = PromptInput(self.history, self.menu, slash_source=slash_completions,
                                  file_source=self._file_completions, id="prompt")

    def compose(self) -> ComposeResult:
        yield self.transcript
        yield self.swarm_panel
        yield Static("", id="queue")
        yield self.menu
        yield self.prompt
        yield self.status

    # ---- startup -----------------------------------------------------------------------------

    def on_mount(self) -> None:
        for kimi_theme in self.kimi_themes.values():
            self.register_theme(kimi_theme.theme)
        wanted = self.session.config.ui.theme
        for problem in self.theme_problems:
            self.show_notice(problem, "warning")
        if wanted not in self.available_themes:
            fallback = theme_data.DEFAULT_THEME if theme_data.DEFAULT_THEME in self.available_themes \
                else "textual-dark"
            self.show_notice(f"Theme {wanted!r} is not available (see the themes directory); "
                             f"using {fallback}.", "warning")
            wanted = fallback
        self.switch_theme(wanted, persist=False)
        self.prompt.focus()
        self.set_interval(0.1, self._tick)
        self.call_after_refresh(self._open)

    def _open(self) -> None:
        """Open the session after the first frame is on screen (start-up stays fast). The first
        time a workspace is opened, ask for trust before anything project-level loads."""
        if self.session.needs_trust:
            from kimi_code.ui.screens.trust import TrustScreen

            self.push_screen(TrustScreen(self.session.workspace.root), callback=self._trusted)
            return
        self._open_session()

    def _trusted(self, trusted: bool | None) -> None:
        if trusted:
            self.session.trust()
        else:
            self.show_notice("Workspace not trusted: project config and custom subagent types "
                             "are not loaded this session (/trust loads them).", "warning")
        self._open_session()

    def _open_session(self) -> None:
        s = self.session
        s.subscribers.append(self._on_event)
        s.approver = self.approve
        try:
            s.open(continue_=self._continue, resume=self._resume)
        except LookupError as exc:
            self.exit(1, return_code=1, message=f"kimi-code: {exc}")
            return
        if s.messages:
            self.transcript.load_history(s.messages)
        else:
            self.show_notice(f"kimi-code in {s.workspace.root.name} — /help for commands and keys, "
                             "@ mentions a file, Ctrl+P opens the palette.")
        self.ready = True
        self.status.set(activity="ready", model=s.model.model or s.model.name,
                        mode=s.permission_mode)
        self.update_status()
        self.run_worker(self.refresh_git(), group="git")
        self.run_worker(self._load_files, thread=True, group="files")

    def _load_files(self) -> None:
        from kimi_code.ui.mentions import list_files

        self.files = list_files(self.session.workspace.root)

    def _file_completions(self, query: str) -> list[tuple[str, str]]:
        return [(path, "") for path in fuzzy(query, self.files, limit=12)]

    # ---- agent events -------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        """Called synchronously by the agent on the loop thread: queue, never block."""
        self.inbox.append(event)
        if not self._drain_posted:
            self._drain_posted = True
            self.post_message(AgentEventsReady())

    async def on_agent_events_ready(self, _: AgentEventsReady) -> None:
        self._drain_posted = False
        events = coalesce(self.inbox)
        self.inbox.clear()
        for event in events:
            if event.agent_id:  # a subagent's: the swarm panel shows it (rendered on a tick)
                self.swarm_panel.apply(event)
                continue
            await self.transcript.handle(event)
            self.swarm_panel.observe(event)
            if isinstance(event, SessionStarted):
                self.status.set(model=event.model, mode=event.permission_mode)
            elif isinstance(event, (AssistantMessage, TurnFinished)):
                self.update_status()
        # The subagent count follows the batch at once (the timer tick may be a while away).
        self.status.set(subagents=self.swarm.counts.running)

    def update_status(self) -> None:
        usage = self.session.usage
        self.status.set(tokens_in=usage.input_tokens + usage.cache_read_tokens,
                        tokens_out=usage.output_tokens,
                        context_pct=self.session.context_fraction * 100,
                        cost=self.session_cost(), subagents=self.swarm.counts.running,
                        queued=len(self.queue), mode=self.session.permission_mode)

    def session_usage(self) -> Usage:
        return self.session.usage

    def session_cost(self) -> float | None:
        model = self.session.model.model or self.session.model.name
        return estimate_cost(model, self.session_usage(), self.prices)

    def _tick(self) -> None:
        for block in self.transcript.running_tools():
            block.tick()
        self.swarm_panel.flush()  # the one place the panel redraws: at most once per tick
        if self.awaiting_approval:
            activity = "waiting for approval"
        elif self.busy:
            activity = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"[int(time.monotonic() * 10) % 10] + " working (Esc stops)"
        else:
            activity = "ready" if self.ready else "starting…"
        self.status.set(activity=activity, subagents=self.swarm.counts.running)

    # ---- turns --------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self.turn_task is not None and not self.turn_task.done()

    def send_prompt(self, text: str, *, shown: str | None = None) -> None:
        """Start a turn, or queue the prompt while one runs (Ctrl+S steers instead). `shown`:
        what the transcript shows instead of a long built-in prompt (e.g. "/init")."""
        if shown is not None:
            self.transcript.aliases[text] = shown
        if not self.ready:
            self.show_notice("Still starting; try again in a moment.", "warning")
            return
        if self.busy:
            self.queue.append(text)
            self._show_queue()
            return
        self.turn_task = self.session.submit(text)
        self.shell_outputs_sent()
        self.prompt.add_class("-busy")
        self.turn_task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        error = ""
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            error = f"{type(exc).__name__}: {exc}"
        self.post_message(TurnDone(error))

    def on_turn_done(self, message: TurnDone) -> None:
        self.turns_done += 1
        self.prompt.remove_class("-busy")
        self._tick()  # show "ready" now, not at the next timer tick
        if message.error:
            self.show_notice(f"The turn crashed: {message.error}", "error")
        self.update_status()
        self.run_worker(self.refresh_git(), group="git", exclusive=True)
        if self.queue and not self.busy:
            text, self.queue = "\n\n".join(self.queue), []
            self._show_queue()
            self.send_prompt(text)

    def _show_queue(self) -> None:
        queue = self.query_one("#queue", Static)
        queue.update("\n".join(f"⏳ queued: {q.splitlines()[0][:100] if q.strip() else ''}"
                               for q in self.queue))
        queue.set_class(bool(self.queue), "-visible")
        self.status.set(queued=len(self.queue))

    async def on_prompt_input_submitted(self, message: PromptInput.Submitted) -> None:
        text = message.text
        stripped = text.strip()
        if re.match(r"/[\w?-]*(\s|$)", stripped):  # "/tmp/x fails" is a prompt, not a command
            await self.runner.run(stripped)
        elif stripped.startswith("!") and len(stripped) > 1:
            self.run_shell(stripped[1:].strip())
        else:
            self.send_prompt(text)

    async def run_slash(self, line: str) -> None:
        await self.runner.run(line)

    # ---- actions ------------------------------------------------------------------------------

    async def action_interrupt(self) -> None:
        if self.menu.visible:
            self.menu.hide()
        elif self.busy or self.shell_task is not None:
            await self.interrupt()

    async def interrupt(self) -> None:
        if self.shell_task is not None and not self.shell_task.done():
            self.shell_task.cancel()
        if self.busy:
            await self.session.cancel()

    async def action_ctrl_c(self) -> None:
        if self.busy:
            await self.interrupt()
        elif self.prompt.text:
            self.prompt.clear()
        elif time.monotonic() - self._last_ctrl_c < QUIT_WINDOW_S:
            await self.action_quit()
        else:
            self._last_ctrl_c = time.monotonic()
            self.notify("Press Ctrl+C again to quit.", timeout=QUIT_WINDOW_S)

    def action_steer(self) -> None:
        """Inject the typed message (or the queued ones) into the running turn now."""
        text = self.prompt.expanded_text().strip()
        if not self.busy:
            if text:
                self.prompt.submit()
            return
        if text:
            self.prompt.prompt_history.add(self.prompt.text)
            self.prompt.clear()
        elif self.queue:
            text, self.queue = "\n\n".join(self.queue), []
            self._show_queue()
        if text:
            self.session.steer(text)
            self.shell_outputs_sent()

    def action_cycle_mode(self) -> None:
        current = self.session.permission_mode
        self.set_mode(MODES[(MODES.index(current) + 1) % len(MODES)] if current in MODES
                      else MODES[0])

    def action_clear(self) -> None:
        self.transcript.clear()

    def action_toggle_swarm(self) -> None:
        if not self.swarm_panel.toggle():
            self.notify("Swarm panel hidden; F2 shows it again.", timeout=2)
        elif not self.swarm.active:
            self.notify("No subagents are running; the panel opens when a swarm starts.",
                        timeout=3)

    async def action_help(self) -> None:
        await self.runner.run("/help")

    async def action_quit(self) -> None:
        await self.close_session()
        self.exit(0)

    async def close_session(self) -> None:
        """Cancel the turn and release the session (once), while the loop still runs."""
        if not self.session_closed:
            self.session_closed = True
            try:
                await self.session.close()
            except Exception as exc:  # closing must never hide the real exit reason
                self.log.error(f"closing the session failed: {exc}")

    async def on_unmount(self) -> None:
        await self.close_session()


def run_tui(session: Any, *, continue_: bool = False, resume: str | None = None) -> int:
    """`kimi-code` in a terminal: run the app until the user quits; return the exit code."""
    app = KimiApp(session, continue_=continue_, resume=resume)
    try:
        result = app.run()
    finally:
        if not app.session_closed:  # the app died before it could close the session itself
            asyncio.run(_close_quietly(session))
    return app.return_code if app.return_code is not None else (result or 0)


async def _close_quietly(session: Any) -> None:
    try:
        await session.close()
    except Exception:
        pass


def run_onboarding(error: str) -> bool:
    """First run (no usable model configured): explain, write the config, and say whether the
    user finished it (then the caller starts the session again)."""
    from kimi_code.ui.screens.onboarding import OnboardingApp

    return bool(OnboardingApp(error).run())
