"""/help: every slash command and key binding."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    ("Enter", "send (while the agent works: queue the message)"),
    ("Shift+Enter / Ctrl+J", "new line"),
    ("Ctrl+S", "steer: inject the typed (or queued) message into the running turn"),
    ("Esc", "interrupt the running turn (or close a menu)"),
    ("Up / Down", "prompt history (per workspace)"),
    ("@path", "mention a file (fuzzy completion, Tab or Enter accepts)"),
    ("!command", "run a shell command yourself; its output (capped like the Bash tool's) goes "
                 "to the agent with your next message"),
    ("Shift+Tab", "cycle permission mode"),
    ("Ctrl+P", "command palette"),
    ("F2", "show / hide the live swarm panel (subagents of Agent/AgentSwarm calls)"),
    ("Ctrl+L", "clear the screen"),
    ("Ctrl+C", "interrupt; press again when idle to quit"),
)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 110; height: auto; max-height: 90%;
                                  border: thick $primary; background: $surface; padding: 1 2; }
    """
    BINDINGS = [Binding("escape,q,f1", "dismiss", "Close")]

    def __init__(self, commands: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.commands = commands

    def compose(self) -> ComposeResult:
        commands = Table(title="Slash commands", expand=True, show_edge=False)
        commands.add_column("command", style="bold", no_wrap=True)
        commands.add_column("what it does")
        commands.add_column("key", style="dim", no_wrap=True)
        for name, help_text, key in self.commands:
            commands.add_row(name, help_text, key)
        keys = Table(title="Keys", expand=True, show_edge=False)
        keys.add_column("key", style="bold", no_wrap=True)
        keys.add_column("action")
        for key, action in KEYS:
            keys.add_row(key, action)
        with VerticalScroll():
            yield Static(commands)
            yield Static(keys)
            yield Static("[dim]Esc closes this help.[/dim]")
