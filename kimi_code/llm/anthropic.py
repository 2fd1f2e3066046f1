"""Anthropic messages provider (Anthropic, and Anthropic-compatible endpoints such as Moonshot's)
through the official async `anthropic` SDK.

The SDK builds, authenticates and sends each request and raises its typed HTTP errors; the event
stream itself is read as raw SSE into plain dicts (sse.py), as the OpenAI provider does, because
a typed pydantic event per chunk costs several times the CPU of a dict (measured in
benchmarks/llm_stream.py) and a swarm streams dozens of conversations at once.

Thinking blocks carry a signature that must be sent back verbatim. Each block is streamed to the
loop as ThinkingChunks (text for display, then the signature) and closed by a ThinkingBlockDone
carrying the whole block and its position, which the assistant Message keeps in
`thinking_blocks`; anthropic_wire.py sends them back in place. Errors reported inside an HTTP 200
stream (`event: error`, e.g. overloaded_error) become ProviderErrors classified by their type.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anthropic

from kimi_code.llm import errors, scrub, sse
from kimi_code.llm.anthropic_wire import (  # noqa: F401 - re-exported for callers and tests
    CACHE,
    assistant_blocks,
    mark_cache,
    to_anthropic_messages,
    to_anthropic_tools,
)
from kimi_code.llm.base import (
    Message,
    ProviderError,
    StreamEnd,
    StreamEvent,
    TextChunk,
    ThinkingBlock,
    ThinkingBlockDone,
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


def new_call_id() -> str:
    return "toolu_" + uuid.uuid4().hex[:24]


def to_usage(raw: dict[str, Any] | None, previous: Usage | None = None) -> Usage:
    """Usage from an Anthropic usage dict; fields it leaves out keep their previous values
    (message_delta usage is cumulative and often omits the input side)."""
    prev = previous or Usage()
    if not raw:
        return prev

    def pick(name: str, old: int) -> int:
        value = raw.get(name)
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
    """Decodes Anthropic stream events (plain dicts) into our stream events. Blocks arrive one
    after another, so a block's position is the text and calls seen before its start."""

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}
        self.usage = Usage()
        self.stop: str | None = None
        self.finished = False
        self.calls = 0
        self.text_len = 0

    def feed(self, kind: str, event: dict[str, Any]) -> list[StreamEvent]:
        """One event; `kind` is its SSE event name (or its `type` when the server sent none)."""
        if kind == "content_block_delta":  # by far the most frequent: first
            return self._delta(event.get("index"), event.get("delta") or {})
        if kind == "content_block_start":
            return self._start(event.get("index"), event.get("content_block") or {})
        if kind == "content_block_stop":
            return self._stop(event.get("index"))
        if kind == "message_start":
            self.usage = to_usage((event.get("message") or {}).get("usage"), self.usage)
        elif kind == "message_delta":
            self.stop = (event.get("delta") or {}).get("stop_reason") or self.stop
            self.usage = to_usage(event.get("usage"), self.usage)
        elif kind == "message_stop":
            self.finished = True
        elif kind == "error":
            raise errors.from_status(LABEL, None, None, event, "error inside the stream")
        return []  # ping, and event types added after this was written

    def _start(self, index: Any, block: dict[str, Any]) -> list[StreamEvent]:
        kind = block.get("type")
        state: dict[str, Any] = {
            "type": kind, "parts": [], "id": block.get("id") or "",
            "name": block.get("name") or "", "input": block.get("input"),
            "signature": block.get("signature") or "", "data": block.get("data") or "",
            "text_offset": self.text_len, "calls_before": self.calls}
        self.blocks[index] = state
        if kind == "text" and block.get("text"):
            self.text_len += len(block["text"])
            return [TextChunk(block["text"])]
        if kind == "thinking" and block.get("thinking"):
            state["parts"].append(block["thinking"])
            return [ThinkingChunk(block["thinking"])]
        return []

    def _delta(self, index: Any, delta: dict[str, Any]) -> list[StreamEvent]:
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            if not text:
                return []
            self.text_len += len(text)
            return [TextChunk(text)]
        block = self.blocks.get(index)
        if kind == "input_json_delta":
            if block is not None:
                block["parts"].append(delta.get("partial_json") or "")
        elif kind == "thinking_delta":
            text = delta.get("thinking")
            if text:
                if block is not None:
                    block["parts"].append(text)
                return [ThinkingChunk(text)]
        elif kind == "signature_delta":
            signature = delta.get("signature") or ""
            if block is not None:
                block["signature"] += signature
            return [ThinkingChunk("", signature=signature)]
        return []  # citations_delta and other additions carry nothing we keep

    def _stop(self, index: Any) -> list[StreamEvent]:
        block = self.blocks.get(index)
        if block is None:
            return []
        if block["type"] == "tool_use":
            arguments = "".join(block["parts"])
            if not arguments:  # no deltas: a tool without arguments, or a server that sent it whole
                arguments = json.dumps(block["input"] or {})
            self.calls += 1
            return [ToolCallDone(ToolCall(id=block["id"] or new_call_id(), name=block["name"],
                                          arguments=arguments))]
        if block["type"] == "thinking":
            return [ThinkingBlockDone(ThinkingBlock(
                "".join(block["parts"]), block["signature"], text_offset=block["text_offset"],
                calls_before=block["calls_before"]))]
        if block["type"] == "redacted_thinking" and block["data"]:
            return [ThinkingBlockDone(ThinkingBlock(
                redacted=block["data"], text_offset=block["text_offset"],
                calls_before=block["calls_before"]))]
        return []

    def end(self) -> StreamEnd:
        if not self.finished and self.stop is None:
            raise ProviderError(f"{LABEL}: stream ended early (no message_stop)", retryable=True)
        return StreamEnd(self.usage, _stop_reason(self.stop, self.calls > 0))


def message_events(message: dict[str, Any]) -> list[StreamEvent]:
    """The events of a non-streamed message (its JSON body), in stream order: the same decoder
    as the stream, fed one whole block at a time."""
    if not isinstance(message.get("content"), list):
        raise ProviderError(f"{LABEL}: response has no content list: {str(message)[:200]}",
                            retryable=False)
    state = _StreamState()
    events = state.feed("message_start", {"message": {"usage": message.get("usage")}})
    for index, block in enumerate(message["content"]):
        if not isinstance(block, dict):
            continue
        events += state.feed("content_block_start", {"index": index, "content_block": block})
        if block.get("type") == "thinking" and block.get("signature"):
            events.append(ThinkingChunk("", signature=block["signature"]))
        events += state.feed("content_block_stop", {"index": index})
    state.stop = message.get("stop_reason") or "end_turn"
    events.append(state.end())
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
        # Errors built from now on never show the key or the base URL's password.
        scrub.register_secret(api_key)
        scrub.register_url(base_url)
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
            for event in await self._complete(args):
                yield event
            return
        state = _StreamState()
        started = False
        try:
            async with self.pool.lease() as client, \
                    client.messages.with_streaming_response.create(**args, stream=True) as response:
                started = True
                async for kind, data in sse.named_events(response.iter_lines()):
                    if state.finished:
                        continue  # read to the end of the body so the connection is reused
                    payload = sse.decode(data, LABEL)
                    for out in state.feed(kind or str(payload.get("type") or ""), payload):
                        yield out
        except Exception as exc:
            # A connection dropped after message_stop lost nothing; anything else is a failure.
            if not (state.finished and errors.is_transport_error(exc)):
                raise map_error(exc, started=started) from exc
        yield state.end()

    async def _complete(self, args: dict[str, Any]) -> list[StreamEvent]:
        """One non-streamed request, its JSON body decoded by the stream decoder."""
        try:
            async with self.pool.lease() as client:
                raw = await client.messages.with_raw_response.create(**args)
                body = await raw.json()
        except Exception as exc:
            raise map_error(exc) from exc
        if not isinstance(body, dict):
            raise ProviderError(f"{LABEL}: unexpected response: {str(body)[:200]}",
                                retryable=False)
        return message_events(body)

    async def aclose(self) -> None:
        await self.pool.aclose()
