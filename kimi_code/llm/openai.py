"""OpenAI chat-completions provider (Moonshot/Kimi, OpenAI, vLLM, SGLang, the embedded engine's
server) through the official async `openai` SDK.

Thinking models stream their reasoning as `reasoning_content` (Moonshot, vLLM, SGLang) or
`reasoning` (some gateways); both become ThinkingChunks, and the assistant's thinking is sent back
as `reasoning_content`, which Kimi's thinking models expect across tool-calling steps.

Usage is reported in Anthropic terms so the two providers agree: `input_tokens` excludes cached
prompt tokens, which are counted in `cache_read_tokens`.

The output-token limit goes out as `max_tokens` or `max_completion_tokens`, chosen per model by
the `max_tokens_param` setting (`[models.NAME] max_tokens_param` in config.toml):

- "max_tokens": Moonshot/Kimi, vLLM, SGLang, the embedded engine's server, most proxies.
- "max_completion_tokens": OpenAI, whose reasoning models (o1, o3, o4-mini, gpt-5, ...) reject
  `max_tokens` with a 400 and whose other chat models accept both.
- "both": the same limit under both names, for gateways that forward to either kind.
- "auto" (the default): "max_completion_tokens" when the base URL is OpenAI's own API
  (api.openai.com, *.openai.azure.com) or the model name (after any "vendor/" prefix) is an
  OpenAI reasoning model (o<digit>..., gpt-5...), as when a proxy forwards to one; otherwise
  "max_tokens". Nothing is sent when no limit is set.
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import openai

from kimi_code.config import MAX_TOKENS_PARAMS
from kimi_code.llm import errors, scrub, sse
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
from kimi_code.llm.client_pool import ClientPool, http_response_class, shared_ssl_context

if TYPE_CHECKING:
    import httpx2

LABEL = "openai-compatible API"
FINISH_REASONS = {"stop": "end_turn", "eos": "end_turn", "tool_calls": "tool_use",
                  "function_call": "tool_use", "length": "max_tokens"}


OPENAI_HOSTS = ("api.openai.com",)
OPENAI_HOST_SUFFIXES = (".openai.azure.com",)
# OpenAI's reasoning model families: o1, o3-mini, o4-mini, gpt-5, gpt-5.1-codex, ...
REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")


def max_tokens_fields(setting: str, model: str, base_url: str | None) -> tuple[str, ...]:
    """The body field(s) that carry the output-token limit (see the module docstring)."""
    if setting not in MAX_TOKENS_PARAMS:
        raise ValueError(f"max_tokens_param must be one of {', '.join(MAX_TOKENS_PARAMS)}, "
                         f"got {setting!r}")
    if setting == "both":
        return ("max_tokens", "max_completion_tokens")
    if setting != "auto":
        return (setting,)
    # No base URL: the SDK's default, which is OpenAI's API.
    host = (urllib.parse.urlsplit(base_url or "https://api.openai.com/v1").hostname or "").lower()
    name = model.rsplit("/", 1)[-1].lower()
    if host in OPENAI_HOSTS or host.endswith(OPENAI_HOST_SUFFIXES) or REASONING_MODEL.match(name):
        return ("max_completion_tokens",)
    return ("max_tokens",)


def new_call_id() -> str:
    """An id for a tool call the server sent without one."""
    return "call_" + uuid.uuid4().hex[:24]


# ---- request conversion -----------------------------------------------------------------------


def to_openai_messages(messages: Sequence[Message], *, echo_reasoning: bool = True
                       ) -> list[dict[str, Any]]:
    """Our messages in chat-completions wire format."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "assistant":
            item: dict[str, Any] = {"role": "assistant", "content": m.content or None}
            if m.tool_calls:
                item["tool_calls"] = [
                    {"id": c.id, "type": "function",
                     "function": {"name": c.name, "arguments": c.arguments}}
                    for c in m.tool_calls
                ]
            elif item["content"] is None:
                item["content"] = ""
            if echo_reasoning and m.thinking:
                item["reasoning_content"] = m.thinking
            out.append(item)
        elif m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def to_openai_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.parameters}} for t in tools]


def to_usage(raw: Any) -> Usage:
    """Usage from an OpenAI usage object or dict (Moonshot also puts `cached_tokens` on top)."""
    if raw is None:
        return Usage()
    data = raw.model_dump() if hasattr(raw, "model_dump") else dict(raw)
    prompt = int(data.get("prompt_tokens") or 0)
    details = data.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or data.get("cached_tokens") or 0)
    return Usage(input_tokens=max(0, prompt - cached),
                 output_tokens=int(data.get("completion_tokens") or 0),
                 cache_read_tokens=cached)


def _stop_reason(finish: str | None, had_calls: bool) -> str:
    reason = FINISH_REASONS.get(finish or "", "end_turn")
    # Some servers say "stop" after tool calls; what the loop needs to know is that calls came.
    return "tool_use" if had_calls and reason == "end_turn" else reason


# ---- stream decoding ----------------------------------------------------------------------------


class _CallBuffer:
    """Tool-call deltas accumulated by index; a call is complete when a later one starts or the
    choice finishes."""

    def __init__(self) -> None:
        self.calls: dict[int, dict[str, Any]] = {}
        self.done: set[int] = set()
        self.count = 0

    def feed(self, deltas: Sequence[dict[str, Any]]) -> list[ToolCall]:
        finished: list[ToolCall] = []
        for d in deltas:
            index = d.get("index")
            if not isinstance(index, int):
                index = self._index_for(d.get("id"))
            if index not in self.calls:
                finished += self.flush(below=index)
                self.calls[index] = {"id": "", "name": "", "args": []}
            call = self.calls[index]
            if d.get("id") and not call["id"]:
                call["id"] = d["id"]
            fn = d.get("function") or {}
            if fn.get("name") and not call["name"]:
                call["name"] = fn["name"]
            if fn.get("arguments"):
                call["args"].append(fn["arguments"])
        return finished

    def _index_for(self, call_id: str | None) -> int:
        # Servers that omit `index`: a new id starts a new call, no id continues the last one.
        if call_id:
            for index, call in self.calls.items():
                if call["id"] == call_id:
                    return index
            return max(self.calls, default=-1) + 1
        return max(self.calls, default=0)

    def flush(self, below: int | None = None) -> list[ToolCall]:
        """Complete every pending call (those with a lower index than `below`, when given)."""
        out = []
        for index in sorted(self.calls):
            if index in self.done or (below is not None and index >= below):
                continue
            call = self.calls[index]
            self.done.add(index)
            self.count += 1
            out.append(ToolCall(id=call["id"] or new_call_id(), name=call["name"],
                                arguments="".join(call["args"])))
        return out


class _StreamState:
    """Decodes chat.completion.chunk dicts into stream events."""

    def __init__(self) -> None:
        self.calls = _CallBuffer()
        self.finish: str | None = None
        self.usage = Usage()
        self.done = False  # saw `data: [DONE]`

    def feed(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        if chunk.get("error"):  # vLLM/SGLang report failures inside the stream
            raise errors.from_status(LABEL, None, None, chunk, "error inside the stream")
        events: list[StreamEvent] = []
        if chunk.get("usage"):
            self.usage = to_usage(chunk["usage"])
        for choice in chunk.get("choices") or ():
            if choice.get("usage"):  # Moonshot: usage inside the final choice
                self.usage = to_usage(choice["usage"])
            delta = choice.get("delta")
            if delta:
                events += self._delta(delta)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
                events += [ToolCallDone(c) for c in self.calls.flush()]
        return events

    def _delta(self, delta: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            events.append(ThinkingChunk(reasoning))
        if delta.get("content"):
            events.append(TextChunk(delta["content"]))
        if delta.get("tool_calls"):
            events += [ToolCallDone(c) for c in self.calls.feed(delta["tool_calls"])]
        return events

    def end(self) -> StreamEnd:
        if self.finish is None:
            raise ProviderError(f"{LABEL}: stream ended early (no finish_reason)", retryable=True)
        return StreamEnd(self.usage, _stop_reason(self.finish, self.calls.count > 0))


def completion_events(completion: Any) -> list[StreamEvent]:
    """The events of a non-streamed chat completion, in stream order."""
    if not completion.choices:
        raise ProviderError(f"{LABEL}: response has no choices", retryable=True)
    choice = completion.choices[0]
    message = choice.message
    events: list[StreamEvent] = []
    extra = message.model_extra or {}
    reasoning = extra.get("reasoning_content") or extra.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        events.append(ThinkingChunk(reasoning))
    if message.content:
        events.append(TextChunk(message.content))
    calls = message.tool_calls or []
    for c in calls:
        fn = getattr(c, "function", None)
        events.append(ToolCallDone(ToolCall(id=c.id or new_call_id(), name=fn.name if fn else "",
                                            arguments=fn.arguments if fn else "")))
    events.append(StreamEnd(to_usage(completion.usage),
                            _stop_reason(choice.finish_reason or "stop", bool(calls))))
    return events


# ---- errors ----------------------------------------------------------------------------------


def map_error(exc: BaseException, *, started: bool = False) -> ProviderError:
    """Any exception from the SDK as a ProviderError (see errors.py for the rules)."""
    return errors.from_sdk(openai, LABEL, exc, started=started)


# ---- the provider ----------------------------------------------------------------------------


class OpenAIProvider:
    """ChatProvider for chat-completions endpoints. The SDK never retries (max_retries=0): the
    agent loop owns retries so it can emit retry events and restart from a consistent state.
    `max_tokens_param` picks the name of the output-token limit (module docstring); a value
    outside MAX_TOKENS_PARAMS raises ValueError."""

    def __init__(self, *, model: str, base_url: str | None = None, api_key: str | None = None,
                 context_window: int = 262144, max_tokens: int | None = None,
                 temperature: float | None = None, timeout: float = 600.0,
                 streaming: bool = True, echo_reasoning: bool = True,
                 extra_body: dict[str, Any] | None = None,
                 max_tokens_param: str = "auto") -> None:
        # Errors built from now on never show the key or the base URL's password.
        scrub.register_secret(api_key)
        scrub.register_url(base_url)
        self.model = model
        self.max_tokens_fields = max_tokens_fields(max_tokens_param, model, base_url)
        self.context_window = context_window
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.streaming = streaming
        self.echo_reasoning = echo_reasoning
        self.extra_body = dict(extra_body or {})

        def make() -> openai.AsyncOpenAI:
            return openai.AsyncOpenAI(
                base_url=base_url, api_key=api_key or "not-needed", max_retries=0,
                timeout=openai.Timeout(timeout, connect=min(timeout, 20.0)),
                http_client=openai.DefaultAsyncHttpxClient(verify=shared_ssl_context()))

        self.pool: ClientPool[openai.AsyncOpenAI] = ClientPool(make)

    @property
    def _client(self) -> openai.AsyncOpenAI:
        return self.pool.first

    def request(self, messages: Sequence[Message], tools: Sequence[ToolSpec],
                max_tokens: int | None) -> dict[str, Any]:
        """The JSON body of one chat-completions request (without `stream`)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(messages, echo_reasoning=self.echo_reasoning),
        }
        if tools:
            body["tools"] = to_openai_tools(tools)
        limit = max_tokens or self.max_tokens
        if limit:
            for name in self.max_tokens_fields:
                body[name] = limit
        if self.temperature is not None:
            body["temperature"] = self.temperature
        body.update(self.extra_body)
        return body

    def _create_args(self, body: dict[str, Any]) -> dict[str, Any]:
        # The SDK's typed-params transform walks every message of every request: 35 ms of CPU per
        # step with a 200-message history (measured). Our body is already final wire JSON, so it
        # travels as `extra_body`, which the SDK merges over the typed fields and sends as is.
        return {"model": body["model"], "messages": [], "extra_body": body}

    @contextlib.asynccontextmanager
    async def _open_stream(self, client: openai.AsyncOpenAI, body: dict[str, Any]
                           ) -> AsyncIterator[httpx2.Response]:
        """POST the final wire body through the SDK (auth, headers, typed HTTP errors) and yield
        the raw streaming HTTP response. `client.post` with the HTTP client's own Response class
        as `cast_to` skips the typed-params transform (about 0.3 ms of CPU per request in a
        profile) and the SDK's stream wrappers, which a swarm pays on every step of every
        subagent."""
        response: httpx2.Response = await client.post(
            "/chat/completions", body=body, stream=True, stream_cls=None,
            cast_to=http_response_class())
        try:
            yield response
        finally:
            await response.aclose()

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec], *,
                     max_tokens: int | None = None) -> AsyncIterator[StreamEvent]:
        """Stream one model step; ends with exactly one StreamEnd or raises ProviderError."""
        args = self._create_args(self.request(messages, tools, max_tokens))
        if not self.streaming:
            try:
                async with self.pool.lease() as client:
                    completion = await client.chat.completions.create(**args)
                events = completion_events(completion)
            except Exception as exc:
                raise map_error(exc) from exc
            for event in events:
                yield event
            return
        state = _StreamState()
        started = False
        try:
            body = {**args["extra_body"], "stream": True, "stream_options": {"include_usage": True}}
            async with self.pool.lease() as client, self._open_stream(client, body) as response:
                started = True
                async for data in sse.data_events(response.aiter_lines()):
                    if data.startswith("[DONE]"):
                        state.done = True  # keep reading to the end so the connection is reused
                    elif not state.done:
                        for event in state.feed(sse.decode(data, LABEL)):
                            yield event
        except Exception as exc:
            # A connection dropped after [DONE] lost nothing; anything else is a failure.
            if not (state.done and state.finish and errors.is_transport_error(exc)):
                raise map_error(exc, started=started) from exc
        yield state.end()

    async def aclose(self) -> None:
        await self.pool.aclose()
