"""The live swarm panel: while Agent/AgentSwarm calls run, a header with counts and usage and one
line per subagent (type, item, steps, last tool or status and duration), above the prompt.

Built to stay cheap with hundreds of subagents: events only update `SwarmTracker` (O(1) each);
the app's single timer calls `flush()`, which re-orders the rows once and repaints only the
lines whose content changed; the rows are a Line-API `ScrollView`, so only the lines on screen
are ever rendered. When a spawning call finishes, its rows fold into a one-line summary on the
call's block in the transcript.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from kimi_code.events import Event
from kimi_code.ui.swarm_state import DONE_LIMIT, Fold, SubagentView, SwarmTracker, row_text

MAX_ROWS = 12  # lines of rows on a tall terminal; a third of the screen on a short one
TOGGLE_KEY = "F2"
LineKey = tuple[Any, ...]


class SwarmRows(ScrollView):
    """The subagent lines. Holds the ordered rows and a key per line; a line is rendered (and
    cached) only when it is on screen and its key changed."""

    DEFAULT_CSS = """
    SwarmRows { height: auto; max-height: 12; overflow-x: hidden; scrollbar-size-vertical: 1;
                background: $surface; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lines: list[SubagentView | int] = []  # a row, or the count of collapsed rows
        self.keys: list[LineKey] = []
        self.widths = (0, 0)
        self.renders = 0  # lines rendered so far (tests and benchmarks read it)
        self._cache: dict[int, tuple[LineKey, int, Strip]] = {}

    def set_lines(self, rows: list[SubagentView], collapsed: int, widths: tuple[int, int]) -> int:
        """Show these rows (and a "N more" line when some were collapsed); repaint only the
        lines whose key changed. Returns how many lines changed."""
        keys: list[LineKey] = [(r.subagent_id, r.version, widths) for r in rows]
        lines: list[SubagentView | int] = list(rows)
        if collapsed:
            keys.append(("more", collapsed))
            lines.append(collapsed)
        changed = [i for i, key in enumerate(keys) if i >= len(self.keys) or self.keys[i] != key]
        resized = len(keys) != len(self.keys)
        self.lines, self.keys, self.widths = lines, keys, widths
        if resized:
            self.virtual_size = Size(self.size.width, len(keys))
            self.refresh(layout=True)
        else:
            for index in changed:
                self.refresh_line(index)
        return len(changed)

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.size.width
        style = self.rich_style
        if index >= len(self.lines):
            return Strip.blank(width, style)
        key = self.keys[index]
        cached = self._cache.get(index)
        if cached is not None and cached[0] == key and cached[1] == width:
            return cached[2]
        line = self.lines[index]
        text = row_text(line, self.widths) if isinstance(line, SubagentView) else \
            Text(f"  … {line} more finished (✓) — folded into the summary when the swarm ends",
                 style="dim")
        text.truncate(width, overflow="ellipsis")
        text.stylize_before(style)
        strip = Strip(text.render(self.app.console), text.cell_len).crop_extend(0, width, style)
        self._cache[index] = (key, width, strip)
        self.renders += 1
        return strip


class SwarmPanel(Vertical):
    """Header + rows; shown while a spawning call runs (unless the user hid it with F2)."""

    DEFAULT_CSS = """
    SwarmPanel { height: auto; display: none; border-top: solid $primary; padding: 0 1;
                 background: $surface; }
    SwarmPanel.-visible { display: block; }
    SwarmPanel > .swarm-header { height: 1; color: $foreground; }
    """

    def __init__(self, tracker: SwarmTracker, transcript: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tracker = tracker
        self.transcript = transcript  # where finished groups fold
        self.user_hidden = False
        self.header = Static(classes="swarm-header")
        self.rows = SwarmRows()
        self._seen = -1
        self._header_plain = ""
        self.flushes = 0

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.rows

    # ---- events (cheap: no rendering here) --------------------------------------------------

    def apply(self, event: Event) -> None:
        """A subagent's event."""
        self.tracker.apply(event)

    def observe(self, event: Event) -> list[Fold]:
        """A main-agent event, after the transcript handled it: fold finished groups into it."""
        folds = self.tracker.observe(event)
        for fold in folds:
            self.transcript.fold_swarm(fold)
        if folds:
            self.flush()
        return folds

    # ---- rendering (at most once per timer tick) --------------------------------------------

    @property
    def up_to_date(self) -> bool:
        """Whether the last flush saw every change the tracker has."""
        return self._seen == self.tracker.version

    def flush(self) -> bool:
        """Bring the panel up to date with the tracker; returns whether anything was redrawn."""
        tracker = self.tracker
        self.set_class(tracker.active and not self.user_hidden, "-visible")
        if not tracker.active:
            self._seen = tracker.version
            return False
        header = tracker.header()
        header.append(f"   {TOGGLE_KEY} hides", style="dim")
        header.no_wrap, header.overflow = True, "ellipsis"
        changed = header.plain != self._header_plain
        if changed:
            self._header_plain = header.plain
            self.header.update(header)
        if tracker.version == self._seen:
            return changed
        self._seen = tracker.version
        self.flushes += 1
        rows, collapsed = tracker.ordered(DONE_LIMIT)
        self.rows.set_lines(rows, collapsed, tracker.widths())
        self._fit_height()
        for call_id in tracker.groups:
            line = tracker.group_line(call_id)
            line.append(f"  — live in the swarm panel ({TOGGLE_KEY})", style="dim")
            self.transcript.swarm_progress(call_id, line)
        return True

    def _fit_height(self) -> None:
        limit = max(3, min(MAX_ROWS, self.app.size.height // 3))
        if self.rows.styles.max_height is None or self.rows.styles.max_height.value != limit:
            self.rows.styles.max_height = limit

    def toggle(self) -> bool:
        """Show or hide the panel (F2); returns whether it is now shown."""
        self.user_hidden = not self.user_hidden
        self.set_class(self.tracker.active and not self.user_hidden, "-visible")
        return not self.user_hidden
