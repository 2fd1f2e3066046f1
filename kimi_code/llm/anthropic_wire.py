"""Our conversation in Anthropic messages-API wire format (the request side of anthropic.py).

The system prompt travels apart from the messages; tool calls and results are content blocks.
Thinking goes back exactly as the model produced it: each signed thinking block (and each
redacted_thinking block) separately, in its original place between text and tool_use blocks,
because the API verifies them and rejects thinking that was modified, merged or reordered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kimi_code.llm.base import Message, ThinkingBlock, ToolCall, ToolSpec

CACHE = {"type": "ephemeral"}


def _tool_input(arguments: str) -> dict[str, Any]:
    """tool_use.input must be an object; malformed JSON is kept visible to the model."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {"invalid_json": arguments}
    return value if isinstance(value, dict) else {"invalid_json": arguments}


def _tool_use(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_use", "id": call.id, "name": call.name,
            "input": _tool_input(call.arguments)}


def _thinking(block: ThinkingBlock) -> dict[str, Any] | None:
    """The wire form of one thinking block; None for one that cannot be sent back: without its
    signature a thinking block is rejected, so unsigned thinking (e.g. from another provider)
    is dropped rather than sent."""
    if block.redacted:
        return {"type": "redacted_thinking", "data": block.redacted}
    if block.thinking and block.signature:
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    return None


def _segment(blocks: list[dict[str, Any]], text: str, calls: Sequence[ToolCall]) -> None:
    """Text and tool calls that stood between two thinking blocks (text first, as streamed)."""
    if text:
        blocks.append({"type": "text", "text": text})
    blocks.extend(_tool_use(c) for c in calls)


def assistant_blocks(m: Message) -> list[dict[str, Any]]:
    """The content blocks of an assistant message, thinking blocks in their original places.
    Messages without `thinking_blocks` (other providers, sessions stored before the field
    existed) send `thinking` + `thinking_signature` as one leading block."""
    thinking = m.thinking_blocks or (
        (ThinkingBlock(m.thinking, m.thinking_signature),) if m.thinking else ())
    blocks: list[dict[str, Any]] = []
    text_at = calls_at = 0
    for block in thinking:
        wire = _thinking(block)
        if wire is None:
            continue
        # Positions are clamped: a stored message whose text was later redacted still sends
        # every thinking block, in order, with the text split as closely as it can be.
        cut = min(max(block.text_offset, text_at), len(m.content))
        upto = min(max(block.calls_before, calls_at), len(m.tool_calls))
        _segment(blocks, m.content[text_at:cut], m.tool_calls[calls_at:upto])
        text_at, calls_at = cut, upto
        blocks.append(wire)
    _segment(blocks, m.content[text_at:], m.tool_calls[calls_at:])
    return blocks


def to_anthropic_messages(messages: Sequence[Message]
                          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, messages) in messages-API wire format. Leading system messages form the
    system prompt; later ones become user text; consecutive same-role turns are merged (tool
    results and the user text after them share one user turn)."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system" and not out:
            if m.content:
                system.append({"type": "text", "text": m.content})
            continue
        if m.role == "assistant":
            role, blocks = "assistant", assistant_blocks(m)
        elif m.role == "tool":
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.tool_call_id,
                                      "is_error": m.is_error}
            if m.content:
                result["content"] = m.content
            role, blocks = "user", [result]
        else:
            text = m.content if m.role == "user" else f"<system>\n{m.content}\n</system>"
            role, blocks = "user", ([{"type": "text", "text": text}] if m.content else [])
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return system, out


def to_anthropic_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    return [{"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in tools]


def mark_cache(system: list[dict[str, Any]], tools: list[dict[str, Any]],
               messages: list[dict[str, Any]]) -> None:
    """Prompt-cache breakpoints on the stable prefix: system prompt, tool list, latest turn."""
    for seq in (system, tools):
        if seq:
            seq[-1]["cache_control"] = CACHE
    if messages:
        last = messages[-1]["content"][-1]
        if last.get("type") not in ("thinking", "redacted_thinking"):
            last["cache_control"] = CACHE
