"""Automatic compaction: summarise old history near the context limit.

The summary replaces the old messages; the ledger of the user's explicit constraints and
decisions is merged into the pinned ledger (existing items are never dropped), so it survives
every compaction. Compaction only runs between steps, never in the middle of a tool batch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from kimi_code.agent.context import Context, estimate_tokens
from kimi_code.llm.base import ChatProvider, Message, StreamEnd, TextChunk, Usage

SUMMARY_PREFIX = "[Summary of the earlier conversation, written when the context was compacted]\n"
KEEP_FRACTION = 0.2  # of the window: recent messages kept verbatim after the summary


@dataclass(frozen=True)
class CompactionResult:
    summary: str
    ledger: list[str]
    tokens_before: int
    tokens_after: int
    kept_messages: int
    usage: Usage


def _prompt() -> str:
    return resources.files("kimi_code.agent").joinpath("prompts/compact.md").read_text("utf-8")


def split_point(messages: list[Message], keep_tokens: int) -> int:
    """Index where the verbatim tail starts: at a user or assistant message (so that no tool
    result is separated from its call), as early as the budget allows, never at 0."""
    kept = 0
    best = len(messages)
    for index in range(len(messages) - 1, 0, -1):
        kept += estimate_tokens(messages[index])
        if kept > keep_tokens:
            break
        if messages[index].role in ("user", "assistant"):
            best = index
    return best


def render_transcript(messages: list[Message]) -> str:
    lines: list[str] = []
    for message in messages:
        if message.role == "tool":
            body = message.content if len(message.content) < 4000 else (
                message.content[:2000] + "\n[...]\n" + message.content[-1500:])
            lines.append(f"[tool result{' (error)' if message.is_error else ''}]\n{body}")
            continue
        if message.content:
            lines.append(f"[{message.role}]\n{message.content}")
        for call in message.tool_calls:
            lines.append(f"[tool call {call.name}] {call.arguments[:2000]}")
    return "\n\n".join(lines)


def parse_summary(text: str) -> tuple[str, list[str]]:
    summary_match = re.search(r"<summary>(.*?)(?:</summary>|$)", text, re.S)
    summary = (summary_match.group(1) if summary_match else text).strip()
    ledger_match = re.search(r"<ledger>(.*?)(?:</ledger>|$)", text, re.S)
    items: list[str] = []
    if ledger_match:
        for line in ledger_match.group(1).splitlines():
            item = line.strip().lstrip("-*•").strip()
            if item:
                items.append(item)
    return summary, items


def merge_ledger(old: list[str], new: list[str]) -> list[str]:
    seen = {item.casefold() for item in old}
    merged = list(old)
    for item in new:
        if item.casefold() not in seen:
            merged.append(item)
            seen.add(item.casefold())
    return merged


async def compact(provider: ChatProvider, context: Context) -> CompactionResult | None:
    """Summarise the older part of `context` in place. None when there is nothing to compact."""
    before = context.used_tokens()
    cut = split_point(context.messages, int(context.context_window * KEEP_FRACTION))
    if cut <= 0 or cut > len(context.messages):
        return None
    old, tail = context.messages[:cut], context.messages[cut:]
    if not old:
        return None
    request = [
        Message(role="system", content=_prompt()),
        Message(role="user", content="<transcript>\n" + render_transcript(old) + "\n</transcript>"),
    ]
    parts: list[str] = []
    usage = Usage()
    async for event in provider.stream(request, []):
        if isinstance(event, TextChunk):
            parts.append(event.text)
        elif isinstance(event, StreamEnd):
            usage = event.usage
    summary, items = parse_summary("".join(parts))
    ledger = merge_ledger(context.ledger, items)
    head = Message(role="user", content=SUMMARY_PREFIX + summary)
    context.replace_history([head, *tail], ledger)
    return CompactionResult(summary, ledger, before, context.used_tokens(), len(tail), usage)
