"""One tool call as a compact block: name, key argument, status (spinner while it runs),
duration; the output expandable; Edit/Write shown as a coloured diff; subagents that the call
spawned grouped under it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Collapsible, Static

from kimi_code.ui.render import human_duration, key_argument, parse_arguments, visible
from kimi_code.ui.widgets.diff_view import DiffView

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
OUTPUT_PREVIEW_LINES = 200


@dataclass
class SubagentRow:
    description: str
    kind: str = ""
    step: int = 0
    last_tool: str = ""
    status: str = "running"  # running | success | failed | cancelled | timeout
    summary: str = ""


@dataclass
class ToolState:
    """Everything a block shows; enough to rebuild it after it was dropped from the screen."""

    call_id: str
    name: str
    arguments: dict[str, Any]
    status: str = "running"  # running | ok | error | denied
    duration_ms: int | None = None
    output: str = ""
    diff: str = ""
    note: str = ""
    subagents: dict[str, SubagentRow] = field(default_factory=dict)


class ToolBlock(Vertical):
    DEFAULT_CSS = """
    ToolBlock { height: auto; margin: 1 0 0 0; padding: 0 1; }
    ToolBlock .tool-header { color: $foreground; }
    ToolBlock.-error .tool-header, ToolBlock.-denied .tool-header { color: $error; }
    ToolBlock .tool-note { color: $text-muted; padding-left: 2; }
    ToolBlock .tool-subagents { padding-left: 2; color: $text-muted; }
    ToolBlock Collapsible { border: none; padding: 0; margin: 0 0 0 2; background: $background; }
    ToolBlock Collapsible > Contents { padding: 0 0 0 1; }
    ToolBlock .tool-output { color: $text-muted; }
    ToolBlock DiffView { margin: 0 0 0 2; }
    """

    def __init__(self, state: ToolState) -> None:
        super().__init__(classes=f"-{state.status}")
        self.state = state
        self.frame = 0
        self._results_shown = False
        self._mounted = False
        self._header = Static(classes="tool-header")
        self._note = Static(classes="tool-note")
        self._subagents = Static(classes="tool-subagents")

    @classmethod
    def for_call(cls, call_id: str, name: str, arguments: str) -> ToolBlock:
        return cls(ToolState(call_id, name, parse_arguments(arguments)))

    def compose(self) -> ComposeResult:
        yield self._header
        yield self._note
        yield self._subagents
        if self.state.status != "running":
            self._results_shown = True
            yield from self._result_widgets()

    def on_mount(self) -> None:
        self._mounted = True  # `is_mounted` only turns true after this handler returns
        self._refresh_parts()
        self._show_results()

    def _show_results(self) -> None:
        """Mount the output/diff once (the call may finish before the block is mounted)."""
        if self._mounted and not self._results_shown and self.state.status != "running":
            self._results_shown = True
            self.mount_all(self._result_widgets())

    # ---- rendering -------------------------------------------------------------------------

    def header_text(self) -> Text:
        s = self.state
        icon = {"running": SPINNER[self.frame % len(SPINNER)], "ok": "●", "error": "✗",
                "denied": "⊘"}[s.status]
        style = {"running": "bold yellow", "ok": "bold green", "error": "bold red",
                 "denied": "bold red"}[s.status]
        text = Text()
        text.append(f"{icon} ", style=style)
        text.append(s.name, style="bold")
        arg = key_argument(s.name, s.arguments, width=100)
        if arg:
            text.append(f"  {arg}")
        if s.duration_ms is not None:
            text.append(f"  {human_duration(s.duration_ms)}", style="dim")
        elif s.status == "running":
            text.append("  running…", style="dim")
        return text

    def _refresh_parts(self) -> None:
        self._header.update(self.header_text())
        self._note.update(Text(self.state.note))
        self._note.display = bool(self.state.note)
        rows = self._subagent_text()
        self._subagents.update(rows)
        self._subagents.display = bool(self.state.subagents)

    def _subagent_text(self) -> Text:
        text = Text()
        for index, row in enumerate(self.state.subagents.values()):
            if index:
                text.append("\n")
            mark = {"running": "◌", "success": "✓"}.get(row.status, "✗")
            text.append(f"{mark} {visible(row.description, keep_newlines=False)[:70]}")
            detail = f" step {row.step}" if row.step else ""
            if row.last_tool and row.status == "running":
                detail += f" · {row.last_tool}"
            if row.status != "running":
                detail += f" · {row.status}"
            text.append(detail, style="dim")
        return text

    def _result_widgets(self) -> list[Any]:
        widgets: list[Any] = []
        if self.state.diff:
            widgets.append(DiffView(self.state.diff))
        output = self.state.output.rstrip()
        if output and not (self.state.diff and self.state.status == "ok"):
            lines = output.splitlines()
            shown = "\n".join(lines[:OUTPUT_PREVIEW_LINES])
            if len(lines) > OUTPUT_PREVIEW_LINES:
                shown += f"\n… {len(lines) - OUTPUT_PREVIEW_LINES} more lines"
            title = f"output · {len(lines)} line{'s' if len(lines) != 1 else ''}"
            widgets.append(Collapsible(Static(Text(visible(shown)), classes="tool-output"),
                                       title=title, collapsed=self.state.status == "ok"))
        return widgets

    # ---- updates ---------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance the spinner (called by the app's single timer while calls run)."""
        self.frame += 1
        self._header.update(self.header_text())

    def finish(self, *, is_error: bool, output: str, duration_ms: int,
               display: dict[str, Any] | None = None) -> None:
        s = self.state
        if s.status == "running":
            s.status = "error" if is_error else "ok"
        s.duration_ms, s.output = duration_ms, output
        s.diff = str((display or {}).get("diff") or "")
        self.set_class(s.status == "error", "-error")
        self.set_class(s.status == "denied", "-denied")
        self._refresh_parts()
        self._show_results()

    def deny(self, reason: str) -> None:
        self.state.status = "denied"
        self.state.note = f"not run: {reason}"
        self.set_class(True, "-denied")
        self._refresh_parts()

    def subagent(self, subagent_id: str, **changes: Any) -> None:
        row = self.state.subagents.get(subagent_id)
        if row is None:
            row = self.state.subagents[subagent_id] = SubagentRow(
                description=str(changes.pop("description", subagent_id)))
        for key, value in changes.items():
            setattr(row, key, value)
        self._refresh_parts()

    @property
    def running_subagents(self) -> int:
        return sum(1 for row in self.state.subagents.values() if row.status == "running")

    def rebuild(self) -> ToolBlock:
        return ToolBlock(self.state)
