"""Running the review agents: one per part of the diff, in parallel, read-only tools only.

Each reviewer gets its own ToolContext (an empty environment: nothing it drives can see a
secret), the read-only tool set plus ReportFinding, and permission mode "read-only". Tool calls
it is not allowed to make are collected as refusals and reported; findings are merged,
anchored, fingerprinted, deduplicated and redacted.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kimi_code.events import Event, PermissionDenied, ToolCallFinished
from kimi_code.git.diffparse import DiffFile
from kimi_code.llm.base import ChatProvider
from kimi_code.llm.scrub import registered_secrets
from kimi_code.review.confined_tools import CONFINED_TOOLS, REFUSAL_MARK
from kimi_code.review.findings import (
    Refusal,
    ReviewReport,
    configured_secrets,
    finalise,
    redact,
    redact_findings,
)
from kimi_code.review.report_finding import FINDINGS_KEY, HUNKS_KEY, ReportFindingTool
from kimi_code.review.review import ReviewTarget, chunk_prompt, split_chunks

if TYPE_CHECKING:  # the tools load lazily (start-up time)
    from kimi_code.tools.registry import ToolRegistry

CHUNK_CHARS = 16_000   # diff chars per reviewer; larger diffs fan out by file
MAX_PARALLEL = 8
MAX_STEPS = 40         # agent steps per reviewer


def review_prompt() -> str:
    """The review system prompt, kept beside this feature in review/prompts/."""
    return (Path(__file__).with_name("prompts") / "review.md").read_text(encoding="utf-8").strip()


@dataclass
class ReviewOptions:
    chunk_chars: int = CHUNK_CHARS
    max_parallel: int = MAX_PARALLEL
    max_steps: int = MAX_STEPS
    secrets: list[str] = field(default_factory=list)
    max_file_chars: int | None = None  # one file's diff in a prompt; None: review's default


@dataclass
class _PartResult:
    findings: list[dict]
    refused: list[Refusal]
    summary: str
    error: str = ""
    note: str = ""
    retryable: bool = False


def _refusal_from(event: Event, allowed: set[str]) -> Refusal | None:
    if isinstance(event, PermissionDenied):
        return Refusal(event.tool_name, json.dumps(event.tool_input)[:300], event.reason)
    if isinstance(event, ToolCallFinished) and event.message.is_error:
        name, content = event.call.name, event.message.content
        if name not in allowed:
            return Refusal(name, event.call.arguments[:300], "not available in review mode "
                           "(read-only tools only)")
        if "outside the workspace" in content or REFUSAL_MARK in content:
            return Refusal(name, event.call.arguments[:300], content.splitlines()[0][:300])
    return None


def _registry() -> ToolRegistry:
    from kimi_code.tools.registry import READ_ONLY_TOOLSET, ToolRegistry

    tools = ToolRegistry.builtin(READ_ONLY_TOOLSET)
    for confined in CONFINED_TOOLS:  # Read/Glob/Grep see only the head tree (issue 15)
        tools.add(confined())
    tools.add(ReportFindingTool())
    return tools


async def _review_part(provider: ChatProvider, target: ReviewTarget, chunk: list[DiffFile],
                       part: int, parts: int, opts: ReviewOptions) -> _PartResult:
    from kimi_code.agent.loop import Agent, AgentOptions
    from kimi_code.tools.base import ToolContext

    tools = _registry()
    hunks = {f.path: [(h.new_start, h.new_end) for h in f.hunks] for f in chunk}
    ctx = ToolContext(workspace=target.root, session_id=f"review-{part}", env={},
                      state={FINDINGS_KEY: [], HUNKS_KEY: hunks})
    refused: list[Refusal] = []
    allowed = set(tools.names())

    def on_event(event: Event) -> None:
        refusal = _refusal_from(event, allowed)
        if refusal:
            refused.append(refusal)

    agent = Agent(provider, tools, ctx, AgentOptions(
        system_prompt=review_prompt(), max_turns=opts.max_steps,
        permission_mode="read-only"), on_event=on_event)
    result = await agent.run_turn(chunk_prompt(target, chunk, part, parts, opts.max_file_chars))
    findings = list(ctx.state[FINDINGS_KEY])
    out = _PartResult(findings, refused, result.text.strip())
    if result.stop_reason == "provider_error":
        out.error = f"part {part} ({', '.join(f.path for f in chunk)}): model failed: {result.error}"
        out.retryable = result.retryable
    elif result.stop_reason != "end_turn":
        out.note = f"part {part} stopped early ({result.stop_reason}); its findings so far are kept"
    return out


async def run_review(provider: ChatProvider, target: ReviewTarget,
                     opts: ReviewOptions | None = None,
                     progress: Callable[[str], None] | None = None) -> ReviewReport:
    """Review `target` and return the report (findings final: anchored, deduplicated,
    fingerprinted, redacted)."""
    opts = opts or ReviewOptions()
    chunks = split_chunks(target.files, opts.chunk_chars)
    gate = asyncio.Semaphore(opts.max_parallel)

    async def guarded(index: int, chunk: list[DiffFile]) -> _PartResult:
        async with gate:
            if progress:
                progress(f"reviewing part {index}/{len(chunks)}: {len(chunk)} file(s)")
            return await _review_part(provider, target, chunk, index, len(chunks), opts)

    parts = await asyncio.gather(*(guarded(i, c) for i, c in enumerate(chunks, start=1)))
    report = ReviewReport(base=target.base, head=target.head, files=[f.path for f in target.files])
    for f in target.files:
        added, removed = f.stats()
        report.added, report.removed = report.added + added, report.removed + removed
    raws = [raw for p in parts for raw in p.findings]
    report.findings, report.notes = finalise(raws, target.files, target.read_lines)
    report.notes += [p.note for p in parts if p.note]
    report.errors = [p.error for p in parts if p.error]
    report.retryable = bool(report.errors) and all(p.retryable for p in parts if p.error)
    report.refused = [r for p in parts for r in p.refused]
    # configured secrets, and what the providers were built with (a --base-url password)
    secrets = [*opts.secrets, *registered_secrets()]
    redact_findings(report.findings, secrets)
    report.summary = redact(" ".join(p.summary for p in parts if p.summary), secrets)
    report.notes = [redact(n, secrets) for n in report.notes]
    report.errors = [redact(e, secrets) for e in report.errors]
    for r in report.refused:
        r.input, r.reason = redact(r.input, secrets), redact(r.reason, secrets)
    return report


def default_secrets(env: dict[str, str], api_key: str | None) -> list[str]:
    return configured_secrets(env, [api_key])
