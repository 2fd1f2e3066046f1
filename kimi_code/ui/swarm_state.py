"""What the swarm panel shows, kept apart from the widget: one row per subagent, grouped by the
Agent/AgentSwarm call that spawned it, with counts and usage kept as running totals.

Every event costs O(1) here (a dict lookup and a few field writes); ordering, collapsing and
text rendering happen only when the panel flushes (at most once per timer tick) and only for
the lines on screen. A group "folds" when its spawning call finishes: its rows leave the panel
and come back once, as a `Fold` (a summary line and the final per-subagent lines) for the
transcript.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.text import Text

from kimi_code.events import (
    Event,
    SubagentCompleted,
    SubagentProgress,
    SubagentStarted,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
)
from kimi_code.llm.base import Usage
from kimi_code.ui.render import human_duration, human_tokens, visible

SPAWNING_TOOLS = ("Agent", "AgentSwarm")
FAILED = ("failed", "timeout", "max_turns")  # the subagent tried and did not make it
STOPPED = ("cancelled", "budget", "skipped")  # stopped from outside (user, budget)
DONE_LIMIT = 8  # finished rows shown before the rest collapse into a count
ITEM_WIDTH = 56
MARKS = {"running": ("◌", "yellow"), "success": ("✓", "green")}


@dataclass
class SubagentView:
    """One subagent as the panel shows it; `version` bumps on every change (line cache key)."""

    subagent_id: str
    group: str
    number: int
    kind: str = ""
    description: str = ""
    step: int = 0
    last_tool: str = ""
    status: str = "running"
    summary: str = ""
    usage: Usage = field(default_factory=Usage)
    started: float = 0.0
    ended: float | None = None
    version: int = 0

    @property
    def item(self) -> str:
        """The AgentSwarm item ("desc [item]" is how the swarm names its children), else the
        description."""
        text = self.description
        if text.endswith("]") and " [" in text:
            return text[text.rindex(" [") + 2:-1]
        return text or self.subagent_id

    @property
    def duration_ms(self) -> int | None:
        return None if self.ended is None else int((self.ended - self.started) * 1000)


@dataclass
class SwarmGroup:
    """The subagents of one spawning call (nested spawns inside it join the same group)."""

    call_id: str
    tool: str = ""
    description: str = ""
    started: float = 0.0
    rows: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Fold:
    """A finished group, for the transcript: one summary line and every subagent's last line."""

    call_id: str
    summary: Text
    detail: Text
    count: int


@dataclass
class Counts:
    running: int = 0
    done: int = 0
    failed: int = 0
    stopped: int = 0
    steps: int = 0
    usage: Usage = field(default_factory=Usage)

    @property
    def total(self) -> int:
        return self.running + self.done + self.failed + self.stopped


def _bucket(status: str) -> str:
    if status in ("running", "success"):
        return "running" if status == "running" else "done"
    return "stopped" if status in STOPPED else "failed"


class SwarmTracker:
    """Rows, groups and running totals of the subagents of the spawning calls now running."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 cost: Callable[[Usage], float | None] | None = None) -> None:
        self.clock = clock
        self.cost = cost  # usage -> USD when the model's price is known
        self.rows: dict[str, SubagentView] = {}
        self.groups: dict[str, SwarmGroup] = {}
        self._alias: dict[str, str] = {}  # nested spawn call id -> its top-level group
        self.counts = Counts()
        self.version = 0  # bumps on any visible change
        self._numbers = 0

    @property
    def active(self) -> bool:
        return bool(self.groups)

    # ---- events ----------------------------------------------------------------------------

    def observe(self, event: Event) -> list[Fold]:
        """A main-agent event: open a group when a spawning call starts, fold it when the call
        finishes (or when the turn ends with it still open). Returns the groups folded."""
        if isinstance(event, ToolCallStarted) and event.call.name in SPAWNING_TOOLS:
            self._group(event.call.id, tool=event.call.name)
        elif isinstance(event, ToolCallFinished) and event.call.id in self.groups:
            return [self.fold(event.call.id, event.message.content)]
        elif isinstance(event, TurnFinished):
            return [self.fold(call_id) for call_id in list(self.groups)]
        return []

    def apply(self, event: Event) -> None:
        """A subagent's event (agent_id = the spawning call, possibly nested)."""
        if isinstance(event, SubagentStarted):
            row = self._row(event.agent_id, event.subagent_id)
            row.kind, row.description = event.subagent_type, event.description
            self._touch(row)
        elif isinstance(event, SubagentProgress):
            row = self._row(event.agent_id, event.subagent_id)
            if row.status == "running":
                self.counts.steps += max(0, event.step - row.step)
                row.step, row.last_tool = max(row.step, event.step), event.last_tool
                self._set_usage(row, event.usage)
                self._touch(row)
        elif isinstance(event, SubagentCompleted):
            row = self._row(event.agent_id, event.subagent_id)
            self._finish(row, event)
        elif isinstance(event, ToolCallStarted) and event.call.name in SPAWNING_TOOLS:
            self._alias[event.call.id] = self._resolve(event.agent_id)

    def _resolve(self, agent_id: str) -> str:
        return self._alias.get(agent_id, agent_id)

    def _group(self, call_id: str, tool: str = "") -> SwarmGroup:
        group = self.groups.get(call_id)
        if group is None:
            group = self.groups[call_id] = SwarmGroup(call_id, tool=tool, started=self.clock())
            self.version += 1
        return group

    def _row(self, agent_id: str, subagent_id: str) -> SubagentView:
        row = self.rows.get(subagent_id)
        if row is None:
            group = self._group(self._resolve(agent_id))
            self._numbers += 1
            row = self.rows[subagent_id] = SubagentView(subagent_id, group.call_id, self._numbers,
                                                        started=self.clock())
            group.rows.append(subagent_id)
            self.counts.running += 1
        return row

    def _finish(self, row: SubagentView, event: SubagentCompleted) -> None:
        if row.status != "running":
            return
        self.counts.running -= 1
        bucket = _bucket(event.status)
        setattr(self.counts, bucket, getattr(self.counts, bucket) + 1)
        row.status, row.summary, row.ended = event.status, event.summary, self.clock()
        self._set_usage(row, event.usage)
        self._touch(row)

    def _set_usage(self, row: SubagentView, usage: Usage) -> None:
        """Events carry the subagent's cumulative usage: swap it into the running total."""
        total, old = self.counts.usage, row.usage
        self.counts.usage = Usage(
            total.input_tokens - old.input_tokens + usage.input_tokens,
            total.output_tokens - old.output_tokens + usage.output_tokens,
            total.cache_read_tokens - old.cache_read_tokens + usage.cache_read_tokens,
            total.cache_write_tokens - old.cache_write_tokens + usage.cache_write_tokens)
        row.usage = usage

    def _touch(self, row: SubagentView) -> None:
        row.version += 1
        self.version += 1

    # ---- views -----------------------------------------------------------------------------

    def ordered(self, done_limit: int = DONE_LIMIT) -> tuple[list[SubagentView], int]:
        """The rows to show, in order, and how many finished rows were collapsed: running rows
        first (oldest first), then failed and stopped ones, then the `done_limit` most recently
        finished successes."""
        running: list[SubagentView] = []
        problems: list[SubagentView] = []
        done: list[SubagentView] = []
        for row in self.rows.values():
            (running if row.status == "running" else
             done if row.status == "success" else problems).append(row)
        done.sort(key=lambda r: r.ended or 0.0, reverse=True)
        return running + problems + done[:done_limit], max(0, len(done) - done_limit)

    def widths(self) -> tuple[int, int]:
        """Column widths (type, item) that fit the rows now shown."""
        return _widths(list(self.rows.values()))

    def group_line(self, call_id: str) -> Text:
        """The counts of one group (for its call's block while it runs)."""
        counts = Counts()
        for row_id in self.groups[call_id].rows:
            row = self.rows[row_id]
            bucket = _bucket(row.status)
            setattr(counts, bucket, getattr(counts, bucket) + 1)
            counts.steps += row.step
        return _counts_text(counts, None, None)

    def header(self) -> Text:
        cost = self.cost(self.counts.usage) if self.cost else None
        return _counts_text(self.counts, cost,
                            elapsed_s=self.clock() - min(g.started for g in self.groups.values())
                            if self.groups else None)

    def fold(self, call_id: str, result: str = "") -> Fold:
        """Close a group: its rows leave the panel (anything still running counts as stopped)
        and come back as a `Fold`; `result` (the call's tool result) adds the merge outcome."""
        group = self.groups.pop(call_id)
        counts = Counts()
        rows = [self.rows.pop(rid) for rid in group.rows if rid in self.rows]
        for row in rows:
            if row.status == "running":
                self._finish(row, SubagentCompleted(subagent_id=row.subagent_id,
                                                    status="cancelled", summary="", usage=row.usage))
            bucket = _bucket(row.status)
            setattr(counts, bucket, getattr(counts, bucket) + 1)
            counts.steps += row.step
            counts.usage = counts.usage + row.usage
            self._remove_from_totals(row)
        self._alias = {k: v for k, v in self._alias.items() if v != call_id}
        self.version += 1
        rows.sort(key=lambda r: (r.status == "success", r.number))
        widths = _widths(rows)
        detail = Text("\n").join(row_text(r, widths, final=True) for r in rows)
        summary = _counts_text(counts, self.cost(counts.usage) if self.cost else None,
                               elapsed_s=self.clock() - group.started)
        _merge_text(summary, parse_result(result)[0])
        return Fold(call_id, summary, detail, len(rows))

    def _remove_from_totals(self, row: SubagentView) -> None:
        bucket = _bucket(row.status)
        setattr(self.counts, bucket, getattr(self.counts, bucket) - 1)
        self.counts.steps -= row.step
        self._set_usage(row, Usage())


def _widths(rows: list[SubagentView]) -> tuple[int, int]:
    return (min(10, max((len(r.kind) for r in rows), default=0)),
            min(ITEM_WIDTH, max((len(r.item) for r in rows), default=0)))


def _counts_text(counts: Counts, cost: float | None, elapsed_s: float | None) -> Text:
    text = Text()
    parts: list[tuple[str, str]] = []
    if counts.running:
        parts.append((f"◌ {counts.running} running", "bold yellow"))
    parts.append((f"✓ {counts.done} done", "green"))
    if counts.failed:
        parts.append((f"✗ {counts.failed} failed", "bold red"))
    if counts.stopped:
        parts.append((f"⊘ {counts.stopped} stopped", "yellow"))
    usage = counts.usage
    parts.append((f"{counts.total} subagent{'s' if counts.total != 1 else ''}", ""))
    parts.append((f"{counts.steps} step{'s' if counts.steps != 1 else ''}", "dim"))
    if usage.input_tokens or usage.output_tokens:
        parts.append((f"↑{human_tokens(usage.input_tokens + usage.cache_read_tokens)} "
                      f"↓{human_tokens(usage.output_tokens)}", "dim"))
    if cost is not None:
        parts.append((f"${cost:.2f}", "dim"))
    if elapsed_s is not None:
        parts.append((_elapsed(elapsed_s), "dim"))
    for index, (part, style) in enumerate(parts):
        if index:
            text.append(" · ", style="dim")
        text.append(part, style=style)
    return text


def parse_result(content: str) -> tuple[dict, list[SubagentView]]:
    """An Agent/AgentSwarm tool result (swarm_report.render_for_model: an overview object, then
    one object per subagent, as JSON lines) read back: (overview, rows). Lines that are not
    such objects are skipped, so any other text gives ({}, [])."""
    overview: dict = {}
    rows: list[SubagentView] = []
    for line in content.splitlines():
        try:
            data = json.loads(line) if line.startswith("{") else None
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        if "status_counts" in data:
            overview = data
        elif "subagent_id" in data:
            usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
            item = data.get("item")
            rows.append(SubagentView(
                str(data["subagent_id"]), "", len(rows) + 1, kind=str(data.get("type", "")),
                description=f"{data.get('description', '')} [{item}]" if item is not None
                else str(data.get("description", "")),
                step=int(data.get("steps") or 0), status=str(data.get("status", "failed")),
                summary=str(data.get("error") or data.get("summary") or ""),
                usage=Usage(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)),
                            int(usage.get("cache_read_input_tokens", 0)),
                            int(usage.get("cache_creation_input_tokens", 0)))))
    return overview, rows


def fold_from_result(call_id: str, content: str) -> Fold | None:
    """The fold of a finished call rebuilt from its tool result (a resumed session has no
    subagent events): counts, steps, usage, merge outcome and every subagent's line."""
    overview, rows = parse_result(content)
    if not rows:
        return None
    counts = Counts()
    for row in rows:
        bucket = _bucket(row.status)
        setattr(counts, bucket, getattr(counts, bucket) + 1)
        counts.steps += row.step
        counts.usage = counts.usage + row.usage
    rows.sort(key=lambda r: (r.status == "success", r.number))
    widths = _widths(rows)
    summary = _counts_text(counts, None, None)
    _merge_text(summary, overview)
    return Fold(call_id, summary, Text("\n").join(row_text(r, widths, final=True) for r in rows),
                len(rows))


def _merge_text(summary: Text, overview: dict) -> None:
    merged, conflicts = overview.get("merged"), overview.get("conflicts")
    if isinstance(merged, int) and merged:
        summary.append(f" · {merged} merged", style="green")
    if isinstance(conflicts, int) and conflicts:
        summary.append(f" · {conflicts} conflict{'s' if conflicts != 1 else ''}",
                       style="bold red")


def _elapsed(seconds: float) -> str:
    if seconds < 60:
        return human_duration(int(seconds * 1000))
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def row_text(row: SubagentView, widths: tuple[int, int], *, final: bool = False) -> Text:
    """One subagent as one line: mark, type, item, steps, last tool (running) or status and
    duration (finished), and for a failure the start of its message."""
    mark, style = MARKS.get(row.status, ("⊘", "yellow") if row.status in STOPPED else ("✗", "red"))
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{mark} ", style=style)
    kind_width, item_width = widths
    text.append(f"{(row.kind or '?')[:kind_width]:<{kind_width}}  ", style="cyan")
    item = visible(row.item, keep_newlines=False)
    if len(item) > item_width:
        item = item[:item_width - 1] + "…"
    text.append(f"{item:<{item_width}}")
    detail = f"  {row.step} step{'s' if row.step != 1 else ''}"
    if row.status == "running" and not row.step:
        detail = "  starting…"
    if row.status == "running":
        if row.last_tool:
            detail += f" · {row.last_tool}"
        text.append(detail, style="dim")
        return text
    text.append(detail, style="dim")
    if row.status != "success":
        text.append(f" · {row.status}", style=style)
    if row.duration_ms is not None:
        text.append(f" · {human_duration(row.duration_ms)}", style="dim")
    note = visible(row.summary, keep_newlines=False).strip()
    if note and (final or row.status != "success"):
        text.append(f" — {note[:160]}", style="dim" if row.status == "success" else style)
    return text
