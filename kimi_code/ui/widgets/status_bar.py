"""The status line: model, permission mode, tokens in/out, context used, cost when known, git
branch and dirty state, running subagents, and what the agent is doing."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from kimi_code.ui.render import human_tokens

MODE_STYLES = {"ask": "green", "accept-edits": "yellow", "yolo": "bold red", "read-only": "cyan"}


@dataclass
class StatusInfo:
    model: str = ""
    mode: str = "ask"
    tokens_in: int = 0
    tokens_out: int = 0
    context_pct: float = 0.0
    cost: float | None = None
    branch: str = ""
    dirty: bool = False
    subagents: int = 0
    activity: str = "starting…"
    queued: int = 0


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.info = StatusInfo()

    def set(self, **changes: object) -> None:
        """Update some fields and redraw (only when something changed)."""
        changed = False
        for key, value in changes.items():
            if getattr(self.info, key) != value:
                setattr(self.info, key, value)
                changed = True
        if changed:
            self.update(self.render_info())

    def render_info(self) -> Text:
        i = self.info
        sep = ("  │  ", "dim")
        parts: list[tuple[str, str]] = [
            (i.activity, "bold"), sep, (i.model or "no model", ""), sep,
            (i.mode, MODE_STYLES.get(i.mode, "")), sep,
            (f"↑{human_tokens(i.tokens_in)} ↓{human_tokens(i.tokens_out)}", ""), sep,
            (f"ctx {i.context_pct:.1f}%" if i.context_pct < 10 else f"ctx {i.context_pct:.0f}%", "bold red" if i.context_pct >= 85 else ""),
        ]
        if i.cost is not None:
            parts += [sep, (f"${i.cost:.2f}", "")]
        if i.branch:
            parts += [sep, (f"⎇ {i.branch}{'*' if i.dirty else ''}", "yellow" if i.dirty else "")]
        if i.subagents:
            parts += [sep, (f"{i.subagents} subagent{'s' if i.subagents != 1 else ''}", "cyan")]
        if i.queued:
            parts += [sep, (f"{i.queued} queued", "magenta")]
        return Text.assemble(*parts)

    def on_mount(self) -> None:
        self.update(self.render_info())


