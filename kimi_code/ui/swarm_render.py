"""How the swarm panel words things: one subagent as one line, counts as a header or summary
line (shared by the live panel, the fold on the call's block and a resumed session)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text

from kimi_code.llm.base import Usage
from kimi_code.ui.render import human_duration, human_tokens, visible

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
    given_item: str | None = None  # SubagentStarted.item, when the event carried one
    usage: Usage = field(default_factory=Usage)
    started: float = 0.0
    ended: float | None = None
    version: int = 0

    @property
    def item(self) -> str:
        """The AgentSwarm item: from the event, else from the "desc [item]" naming (sessions
        recorded before events carried it), else the description."""
        if self.given_item is not None:
            return self.given_item
        text = self.description
        if text.endswith("]") and " [" in text:
            return text[text.rindex(" [") + 2:-1]
        return text or self.subagent_id

    @property
    def duration_ms(self) -> int | None:
        return None if self.ended is None else int((self.ended - self.started) * 1000)



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

    def add(self, status: str, delta: int = 1) -> None:
        """Count a subagent with this status in (or, with -1, out of) its bucket."""
        name = bucket(status)
        setattr(self, name, getattr(self, name) + delta)

    @property
    def total(self) -> int:
        return self.running + self.done + self.failed + self.stopped


def bucket(status: str) -> str:
    if status in ("running", "success"):
        return "running" if status == "running" else "done"
    return "stopped" if status in STOPPED else "failed"



def widths(rows: list[SubagentView]) -> tuple[int, int]:
    return (min(10, max((len(r.kind) for r in rows), default=0)),
            min(ITEM_WIDTH, max((len(r.item) for r in rows), default=0)))


def counts_text(counts: Counts, cost: float | None, elapsed_s: float | None) -> Text:
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


def merge_text(summary: Text, overview: dict) -> None:
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
