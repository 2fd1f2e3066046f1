"""Anthropic messages provider (Anthropic, and Anthropic-compatible endpoints such as Moonshot's)
through the official async `anthropic` SDK.

The system prompt travels apart from the messages; tool calls and results are content blocks;
thinking blocks carry a signature that must be sent back verbatim with the thinking text, so it is
streamed to the loop as ThinkingChunk(signature=...) and kept on Message.thinking_signature.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anthropic

from kimi_code.llm import errors
from kimi_code.llm.base import (
    Message,
    ProviderError,
    StreamEnd,
    StreamEvent,
    TextChunk,
    ThinkingChunk,
    ToolCall,
    ToolCallDone,
    ToolSpec,
    Usage,
)
from kimi_code.llm.client_pool import ClientPool, shared_ssl_context

LABEL = "anthropic API"
DEFAULT_MAX_TOKENS = 16384  # the messages API requires max_tokens
STOP_REASONS = {"end_turn": "end_turn", "stop_sequence": "end_turn", "tool_use": "tool_use",
                "max_tokens": "max_tokens", "model_context_window_exceeded": "max_tokens",
                "pause_turn": "end_turn", "refusal": "end_turn"}
CACHE = {"type": "ephemeral"}


def new_call_id() -> str:
    return "toolu_" + uuid.uuid4().hex[:24]


# ---- request conversion -----------------------------------------------------------------------


def _tool_input(arguments: str) -> dict[str, Any]:
    """tool_use.input must be an object; malformed JSON is kept visible to the model."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {"invalid_json": arguments}
    return value if isinstance(value, dict) else {"invalid_json": arguments}


def _assistant_blocks(m: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    # Without its signature a thinking block is rejected, so unsigned thinking (e.g. from another
    # provider) is dropped rather than sent.
    if m.thinking and m.thinking_signature:
        blocks.append({"type": "thinking", "thinking": m.thinking,
                       "signature": m.thinking_signature})
    if m.content:
        blocks.append({"type": "text", "text": m.content})
    for c in m.tool_calls:
        blocks.append({"type": "tool_use", "id": c.id, "name": c.name,
                       "input": _tool_input(c.arguments)})
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
            role, blocks = "assistant", _assistant_blocks(m)
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


def to_usage(raw: Any, previous: Usage | None = None) -> Usage:
    """Usage from an Anthropic usage object; fields it leaves out keep their previous values
    (message_delta usage is cumulative and often omits the input side)."""
    prev = previous or Usage()

    def pick(name: str, old: int) -> int:
        value = getattr(raw, name, None)
        return int(value) if value is not None else old

    return Usage(input_tokens=pick("input_tokens", prev.input_tokens),
                 output_tokens=pick("output_tokens", prev.output_tokens),
                 cache_read_tokens=pick("cache_read_input_tokens", prev.cache_read_tokens),
                 cache_write_tokens=pick("cache_creation_input_tokens", prev.cache_write_tokens))


def _stop_reason(raw: str | None, had_calls: bool) -> str:
    reason = STOP_REASONS.get(raw or "", "end_turn")
    return "tool_use" if had_calls and reason == "end_turn" else reason


# ---- stream decoding ----------------------------------------------------------------------------


class _StreamState:
    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}
        self.usage = Usage()
        self.stop: str | None = None
        self.finished = False
        self.calls = 0

    def feed(self, event: Any) -> list[StreamEvent]:
        kind = event.type
        if kind == "message_start":
            self.usage = to_usage(event.message.usage, self.usage)
        elif kind == "content_block_start":
            return self._start(event.index, event.content_block)
        elif kind == "content_block_delta":
            return self._delta(event.index, event.delta)
        elif kind == "content_block_stop":
            return self._stop(event.index)
        elif kind == "message_delta":
            self.stop = event.delta.stop_reason or self.stop
            if event.usage is not None:
                self.usage = to_usage(event.usage, self.usage)
        elif kind == "message_stop":
            self.finished = True
        return []

    def _start(self, index: int, block: Any) -> list[StreamEvent]:
        state = {"type": block.type, "parts": [], "id": getattr(block, "id", "") or "",
                 "name": getattr(block, "name", "") or "", "input": getattr(block, "input", None)}
        self.blocks[index] = state
        initial = getattr(block, "text", None) or getattr(block, "thinking", None)
        if block.type == "text" and initial:
            return [TextChunk(initial)]
        if block.type == "thinking" and initial:
            return [ThinkingChunk(initial)]
        return []

    def _delta(self, index: int, delta: Any) -> list[StreamEvent]:
        kind = delta.type
        if kind == "text_delta":
            return [TextChunk(delta.text)] if delta.text else []
        if kind == "thinking_delta":
            return [ThinkingChunk(delta.thinking)] if delta.thinking else []
        if kind == "signature_delta":
            return [ThinkingChunk("", signature=delta.signature)]
        if kind == "input_json_delta" and index in self.blocks:
            self.blocks[index]["parts"].append(delta.partial_json or "")
        return []

    def _stop(self, index: int) -> list[StreamEvent]:
        block = self.blocks.get(index)
        if block is None or block["type"] != "tool_use":
            return []
        arguments = "".join(block["parts"])
        if not arguments:  # no deltas: a tool without arguments, or a server that sent it whole
            arguments = json.dumps(block["input"] or {})
        self.calls += 1
        call = ToolCall(id=block["id"] or new_call_id(), name=block["name"], arguments=arguments)
        return [ToolCallDone(call)]

    def end(self) -> StreamEnd:
        if not self.finished and self.stop is None:
            raise ProviderError(f"{LABEL}: stream ended early (no message_stop)", retryable=True)
        return StreamEnd(self.usage, _stop_reason(self.stop, self.calls > 0))


def message_events(message: Any) -> list[StreamEvent]:
    """The events of a non-streamed message, in stream order."""
    events: list[StreamEvent] = []
    calls = 0
    for block in message.content:
        if block.type == "thinking":
            events.append(ThinkingChunk(block.thinking, signature=block.signature or ""))
        elif block.type == "text" and block.text:
            events.append(TextChunk(block.text))
        elif block.type == "tool_use":
            calls += 1
            call = ToolCall(id=block.id or new_call_id(), name=block.name,
                            arguments=json.dumps(block.input))
            events.append(ToolCallDone(call))
    events.append(StreamEnd(to_usage(message.usage), _stop_reason(message.stop_reason, calls > 0)))
    return events


# ---- errors ----------------------------------------------------------------------------------


def map_error(exc: BaseException, *, started: bool = False) -> ProviderError:
    """Any exception from the SDK as a ProviderError (see errors.py for the rules)."""
    return errors.from_sdk(anthropic, LABEL, exc, started=started)


# ---- the provider ----------------------------------------------------------------------------


class AnthropicProvider:
    """ChatProvider for the Anthropic messages API. max_retries=0: the loop owns retries.
    `thinking_budget` turns extended thinking on (temperature is then left to the server)."""

    def __init__(self, *, model: str, base_url: str | None = None, api_key: str | None = None,
                 context_window: int = 200000, max_tokens: int | None = None,
                 temperature: float | None = None, timeout: float = 600.0,
                 streaming: bool = True, thinking_budget: int | None = None,
                 prompt_caching: bool = True) -> None:
        self.model = model
        self.context_window = context_window
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.streaming = streaming
        self.thinking_budget = thinking_budget
        self.prompt_caching = prompt_caching
        # This SDK sends the key as a Bearer token; older Anthropic-compatible servers and
        # proxies read `x-api-key`, so send both.
        headers = {"x-api-key": api_key} if api_key else None

        def make() -> anthropic.AsyncAnthropic:
            return anthropic.AsyncAnthropic(
                base_url=base_url, api_key=api_key or "not-needed", max_retries=0,
                default_headers=headers,
                timeout=anthropic.Timeout(timeout, connect=min(timeout, 20.0)),
                http_client=anthropic.DefaultAsyncHttpxClient(verify=shared_ssl_context()))

        self.pool: ClientPool[anthropic.AsyncAnthropic] = ClientPool(make)

    @property
    def _client(self) -> anthropic.AsyncAnthropic:
        return self.pool.first

    def request(self, messages: Sequence[Message], tools: Sequence[ToolSpec],
                max_tokens: int | None) -> dict[str, Any]:
        """The JSON body of one messages request (without `stream`)."""
        system, wire = to_anthropic_messages(messages)
        tool_list = to_anthropic_tools(tools)
        if self.prompt_caching:
            mark_cache(system, tool_list, wire)
        body: dict[str, Any] = {"model": self.model, "messages": wire,
                                "max_tokens": max_tokens or self.max_tokens or DEFAULT_MAX_TOKENS}
        if system:
            body["system"] = system
        if tool_list:
            body["tools"] = tool_list
        if self.thinking_budget:
            body["thinking"] = {"type": "enabled", "budget_tokens": self.thinking_budget}
        elif self.temperature is not None:
            body["temperature"] = self.temperature
        return body

    @staticmethod
    def _create_args(body: dict[str, Any]) -> dict[str, Any]:
        # The body is final wire JSON and goes as `extra_body` (merged over the typed fields):
        # it keeps working when an SDK release drops a keyword argument, as 2.x did with
        # `temperature`, and mirrors openai.py, where skipping the typed walk saves real CPU.
        return {"model": body["model"], "max_tokens": body["max_tokens"], "messages": [],
                "extra_body": body}

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec], *,
                     max_tokens: int | None = None) -> AsyncIterator[StreamEvent]:
        """Stream one model step; ends with exactly one StreamEnd or raises ProviderError."""
        args = self._create_args(self.request(messages, tools, max_tokens))
        if not self.streaming:
            try:
                async with self.pool.lease() as client:
                    events = message_events(await client.messages.create(**args))
            except Exception as exc:
                raise map_error(exc) from exc
            for event in events:
                yield event
            return
        async with self.pool.lease() as client:
            try:
                response = await client.messages.create(**args, stream=True)
            except Exception as exc:
                raise map_error(exc) from exc
            state = _StreamState()
            try:
                async for event in response:
                    for out in state.feed(event):
                        yield out
            except Exception as exc:
                raise map_error(exc, started=True) from exc
            finally:
                try:
                    await response.close()
                except Exception:  # the connection may already be broken; the real error is raised
                    pass
        yield state.end()

    async def aclose(self) -> None:
        await self.pool.aclose()
