"""One tool call as a compact block: name, key argument, status (spinner while it runs),
duration; the output expandable; Edit/Write shown as a coloured diff. An Agent/AgentSwarm call
shows one line of subagent counts while it runs (the rows live in the swarm panel) and, once it
finished, the swarm's summary line with every subagent's last line in a collapsed section."""

from __future__ import annotations

from dataclasses import dataclass
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
    swarm_line: Text | None = None  # subagent counts (live), then the swarm's summary
    swarm_detail: Text | None = None  # every subagent's final line, once the swarm folded
    swarm_count: int = 0


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
        self._detail_shown = False
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
        if self.state.swarm_detail is not None:
            self._detail_shown = True
            yield self._swarm_detail_widget()
        if self.state.status != "running":
            self._results_shown = True
            yield from self._result_widgets()

    def on_mount(self) -> None:
        self._mounted = True  # `is_mounted` only turns true after this handler returns
        self._refresh_parts()
        self._show_results()
        self._show_swarm_detail()

    def _show_swarm_detail(self) -> None:
        if self._mounted and not self._detail_shown and self.state.swarm_detail is not None:
            self._detail_shown = True
            self.mount(self._swarm_detail_widget(), after=self._subagents)

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
        self._subagents.update(self.state.swarm_line or "")
        self._subagents.display = self.state.swarm_line is not None

    def _swarm_detail_widget(self) -> Collapsible:
        count = self.state.swarm_count
        return Collapsible(Static(self.state.swarm_detail or "", classes="tool-output"),
                           title=f"subagents · {count}", collapsed=True, classes="swarm-detail")

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

    def set_note(self, note: str) -> None:
        self.state.note = note
        self._refresh_parts()

    def deny(self, reason: str) -> None:
        self.state.status = "denied"
        self.state.note = f"not run: {reason}"
        self.set_class(True, "-denied")
        self._refresh_parts()

    def swarm_progress(self, line: Text) -> None:
        """The live subagent counts (called at most once per timer tick)."""
        if self.state.swarm_line is None or self.state.swarm_line.plain != line.plain:
            self.state.swarm_line = line
            self._subagents.update(line)
            self._subagents.display = True

    def swarm_folded(self, summary: Text, detail: Text, count: int) -> None:
        """The swarm finished: its summary replaces the live counts; the per-subagent lines go
        into a collapsed section (rendered once, here)."""
        self.state.swarm_line, self.state.swarm_detail, self.state.swarm_count = \
            summary, detail, count
        self._refresh_parts()
        self._show_swarm_detail()

    def rebuild(self) -> ToolBlock:
        return ToolBlock(self.state)
