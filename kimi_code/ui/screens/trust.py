"""First open of a workspace: ask whether to trust it before anything project-level loads."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

EXPLANATION = (
    "Trusting a workspace lets kimi-code load what the project ships: its .kimi-code/config.toml "
    "(it can only tighten permissions) and its custom subagent types (.kimi-code/agents). Until "
    "you trust it, "
    "nothing project-level loads; the agent still works, confined to this directory."
)


class TrustScreen(ModalScreen[bool]):
    """Enter trusts; Esc or n declines (and the session goes on without project config)."""

    DEFAULT_CSS = """
    TrustScreen { align: center middle; }
    TrustScreen > Vertical { width: 80%; max-width: 90; height: auto; border: thick $warning;
                             background: $surface; padding: 1 2; }
    TrustScreen #trust-title { text-style: bold; margin-bottom: 1; }
    TrustScreen #trust-keys { margin-top: 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("enter,y", "answer(True)", "Trust"),
        Binding("escape,n", "answer(False)", "Don't trust"),
    ]

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Do you trust the files in {self.root}?", id="trust-title", markup=False)
            yield Static(EXPLANATION, markup=False)
            yield Static("Enter: trust   ·   Esc / n: continue without trusting", id="trust-keys")

    def action_answer(self, trusted: bool) -> None:
        self.dismiss(trusted)
