"""The Anthropic provider's previous stream path, kept as the baseline for llm_stream.py: the SDK's
typed stream (`messages.create(stream=True)`, one pydantic event per SSE message) decoded by
attribute access. The provider now reads raw SSE into dicts (kimi_code/llm/anthropic.py); this
file exists only so a benchmark can run both side by side in the same process.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from kimi_code.llm.anthropic import AnthropicProvider, map_error, new_call_id
from kimi_code.llm.base import (
    Message,
    StreamEnd,
    StreamEvent,
    TextChunk,
    ThinkingChunk,
    ToolCall,
    ToolCallDone,
    ToolSpec,
    Usage,
)


def _usage(raw: Any, prev: Usage) -> Usage:
    def pick(name: str, old: int) -> int:
        value = getattr(raw, name, None)
        return int(value) if value is not None else old

    return Usage(pick("input_tokens", prev.input_tokens), pick("output_tokens", prev.output_tokens),
                 pick("cache_read_input_tokens", prev.cache_read_tokens),
                 pick("cache_creation_input_tokens", prev.cache_write_tokens))


class TypedState:
    """The previous decoder: typed SDK events in, our stream events out."""

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}
        self.usage, self.stop, self.calls = Usage(), None, 0

    def feed(self, event: Any) -> list[StreamEvent]:
        kind = event.type
        if kind == "message_start":
            self.usage = _usage(event.message.usage, self.usage)
        elif kind == "content_block_start":
            block = event.content_block
            self.blocks[event.index] = {"type": block.type, "parts": [],
                                        "id": getattr(block, "id", "") or "",
                                        "name": getattr(block, "name", "") or ""}
        elif kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                return [TextChunk(delta.text)] if delta.text else []
            if delta.type == "thinking_delta":
                return [ThinkingChunk(delta.thinking)] if delta.thinking else []
            if delta.type == "signature_delta":
                return [ThinkingChunk("", signature=delta.signature)]
            if delta.type == "input_json_delta" and event.index in self.blocks:
                self.blocks[event.index]["parts"].append(delta.partial_json or "")
        elif kind == "content_block_stop":
            block = self.blocks.get(event.index)
            if block is not None and block["type"] == "tool_use":
                self.calls += 1
                arguments = "".join(block["parts"]) or json.dumps({})
                return [ToolCallDone(ToolCall(block["id"] or new_call_id(), block["name"],
                                              arguments))]
        elif kind == "message_delta":
            self.stop = event.delta.stop_reason or self.stop
            if event.usage is not None:
                self.usage = _usage(event.usage, self.usage)
        return []


class TypedAnthropicProvider(AnthropicProvider):
    """AnthropicProvider with the previous, typed stream path."""

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec], *,
                     max_tokens: int | None = None) -> AsyncIterator[StreamEvent]:
        args = self._create_args(self.request(messages, tools, max_tokens))
        async with self.pool.lease() as client:
            try:
                response = await client.messages.create(**args, stream=True)
            except Exception as exc:
                raise map_error(exc) from exc
            state = TypedState()
            try:
                async for event in response:
                    for out in state.feed(event):
                        yield out
            finally:
                await response.close()
        stop = "tool_use" if state.calls else "end_turn"
        yield StreamEnd(state.usage, stop)
