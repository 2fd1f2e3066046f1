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
from typing import Any

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
from kimi_code.ui.swarm_render import (
    DONE_LIMIT,
    Counts,
    Fold,
    SubagentView,
    counts_text,
    merge_text,
    row_text,
    widths,
)

__all__ = ["DONE_LIMIT", "SPAWNING_TOOLS", "Fold", "SubagentView", "SwarmGroup", "SwarmTracker",
           "fold_from_result", "parse_result", "row_text"]
SPAWNING_TOOLS = ("Agent", "AgentSwarm")


@dataclass
class SwarmGroup:
    """The subagents of one spawning call (nested spawns inside it join the same group)."""

    call_id: str
    tool: str = ""
    description: str = ""
    started: float = 0.0
    rows: list[str] = field(default_factory=list)



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
            row.given_item = event.item
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
        self.counts.add(event.status, 1)
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
        return widths(list(self.rows.values()))

    def group_line(self, call_id: str) -> Text:
        """The counts of one group (for its call's block while it runs)."""
        counts = Counts()
        for row_id in self.groups[call_id].rows:
            row = self.rows[row_id]
            counts.add(row.status, 1)
            counts.steps += row.step
        return counts_text(counts, None, None)

    def header(self) -> Text:
        cost = self.cost(self.counts.usage) if self.cost else None
        return counts_text(self.counts, cost,
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
            counts.add(row.status, 1)
            counts.steps += row.step
            counts.usage = counts.usage + row.usage
            self._remove_from_totals(row)
        self._alias = {k: v for k, v in self._alias.items() if v != call_id}
        self.version += 1
        rows.sort(key=lambda r: (r.status == "success", r.number))
        columns = widths(rows)
        detail = Text("\n").join(row_text(r, columns, final=True) for r in rows)
        summary = counts_text(counts, self.cost(counts.usage) if self.cost else None,
                               elapsed_s=self.clock() - group.started)
        merge_text(summary, parse_result(result)[0])
        return Fold(call_id, summary, detail, len(rows))

    def _remove_from_totals(self, row: SubagentView) -> None:
        self.counts.add(row.status, -1)
        self.counts.steps -= row.step
        self._set_usage(row, Usage())



def parse_result(content: str) -> tuple[dict, list[SubagentView]]:
    """An Agent/AgentSwarm tool result (tools.subagents.render_for_model: an overview object, then
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
            raw_usage = data.get("usage")
            usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
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
        counts.add(row.status, 1)
        counts.steps += row.step
        counts.usage = counts.usage + row.usage
    rows.sort(key=lambda r: (r.status == "success", r.number))
    columns = widths(rows)
    summary = counts_text(counts, None, None)
    merge_text(summary, overview)
    return Fold(call_id, summary, Text("\n").join(row_text(r, columns, final=True) for r in rows),
                len(rows))
