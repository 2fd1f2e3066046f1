"""The contract between the spawn tools (Agent, AgentSwarm) and the swarm that runs them: what
a swarm is asked to do (`SubagentSpec`), what each subagent did (`SubagentResult`), the error
for a request that cannot run (`SwarmError`), and the results rendered for the parent model
(JSON) and for people (a plain table). It lives in the tools layer so the tools never import
the agent layer; kimi_code.agent.swarm implements the runner."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from kimi_code.llm.base import Usage

# The parent's context is finite: a 300-agent swarm shares this many characters of summaries.
SUMMARY_BUDGET_CHARS = 60_000
MIN_SUMMARY_CHARS = 300
MAX_SUMMARY_CHARS = 8_000


class SwarmError(Exception):
    """A swarm request that cannot run at all (unknown type, no git repository, ...)."""


@dataclass
class SubagentSpec:
    description: str
    prompt: str
    subagent_type: str | None = None
    item: str | None = None  # the AgentSwarm item this subagent was given
    number: int = 0  # assigned by the runner: unique per session, orders the merge


@dataclass
class SubagentResult:
    number: int
    subagent_id: str
    parent_id: str  # the spawning tool call's id
    subagent_type: str
    description: str
    item: str | None = None
    status: str = "pending"  # success | failed | max_turns | timeout | budget | cancelled | skipped
    summary: str = ""
    error: str = ""
    steps: int = 0
    last_tool: str = ""
    usage: Usage = field(default_factory=Usage)
    files_changed: list[str] = field(default_factory=list)
    branch: str = ""
    base: str = ""
    commit: str = ""
    merge: str = ""  # merged | conflict | nothing | not merged (status was not success) | ""
    conflicts: list[str] = field(default_factory=list)
    session_id: str = ""
    worktree: Any = None  # git.worktrees.Worktree while it exists

    @classmethod
    def from_spec(cls, spec: SubagentSpec, parent_id: str) -> SubagentResult:
        return cls(number=spec.number, subagent_id=f"sub-{spec.number}", parent_id=parent_id,
                   subagent_type=spec.subagent_type or "explore", description=spec.description,
                   item=spec.item)

    def to_dict(self, summary_chars: int = MAX_SUMMARY_CHARS) -> dict[str, Any]:
        summary = self.summary
        if len(summary) > summary_chars:
            summary = summary[:summary_chars] + f"... [{len(self.summary) - summary_chars} more chars]"
        data: dict[str, Any] = {
            "subagent_id": self.subagent_id, "type": self.subagent_type,
            "description": self.description, "status": self.status, "steps": self.steps,
            "summary": summary, "usage": self.usage.to_dict(),
        }
        if self.item is not None:
            data["item"] = self.item
        if self.error:
            data["error"] = self.error
        if self.files_changed:
            data["files_changed"] = self.files_changed
        if self.merge:
            data["merge"] = self.merge
        if self.conflicts:
            data["conflicting_files"] = self.conflicts
        if self.branch:
            data["branch"] = self.branch
        if self.session_id:
            data["session_id"] = self.session_id
        return data


def counts(results: list[SubagentResult]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        out[r.status] = out.get(r.status, 0) + 1
    return out


def render_for_model(results: list[SubagentResult]) -> str:
    """The tool result the parent model reads: an overview line and one object per subagent."""
    per = max(MIN_SUMMARY_CHARS, min(MAX_SUMMARY_CHARS, SUMMARY_BUDGET_CHARS // max(1, len(results))))
    conflicts = [r for r in results if r.merge == "conflict"]
    overview = {"subagents": len(results), "status_counts": counts(results),
                "merged": sum(1 for r in results if r.merge == "merged"),
                "conflicts": len(conflicts)}
    lines = [json.dumps(overview)]
    if conflicts:
        lines.append("Conflicting subagents were NOT applied; their changes are on the listed "
                     "branches (apply by hand with `git cherry-pick --no-commit BRANCH`, or redo).")
    lines.extend(json.dumps(r.to_dict(per), ensure_ascii=False) for r in results)
    return "\n".join(lines)


def render_table(results: list[SubagentResult]) -> str:
    """A plain per-subagent table for `kimi-code run` in text mode and for logs."""
    rows = [("#", "type", "status", "steps", "tokens", "files", "merge", "what")]
    for r in results:
        what = (r.item if r.item is not None else r.description).replace("\n", " ")[:50]
        tokens = r.usage.input_tokens + r.usage.output_tokens
        rows.append((str(r.number), r.subagent_type, r.status, str(r.steps), str(tokens),
                     str(len(r.files_changed)), r.merge or "-", what))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    out = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(out)
