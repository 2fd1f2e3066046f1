"""OpenAI chat-completions protocol: request validation -> prompt ids, generated ids -> chunks.

Extensions understood: `reasoning_content` on assistant messages (Kimi thinking, echoed back),
`thinking` (bool) or `chat_template_kwargs.thinking` to switch thinking on or off, `top_k`.
`tool_choice`: "none" hides the tools; "required" or {"type":"function","function":{"name":N}}
forces a call by writing the section (and call) markers into the prompt.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .engine import StopMatcher
from .parsers import ARG_BEGIN, CALL_BEGIN, SECTION_BEGIN, THINK_CLOSE, Delta, StreamParser
from .sampling import SamplingParams
from .tokenizer import StreamDecoder, Tokenizer


class APIError(Exception):
    """An error answered as OpenAI-style JSON with an HTTP status."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.type, self.param, self.code = status, type_, param, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": str(self), "type": self.type, "param": self.param, "code": self.code}}


@dataclass
class ChatRequest:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    params: SamplingParams
    max_tokens: int | None
    stream: bool = False
    include_usage: bool = False
    thinking: bool | None = None
    forced: list[tuple[str, bool]] = field(default_factory=list)  # (text, is_special) after the prompt


def _num(body: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise APIError(400, f"'{key}' must be {'an integer' if kind is int else 'a number'}", param=key)
    return kind(value)


def parse_request(body: Any, default_temperature: float) -> ChatRequest:
    """Validate a /v1/chat/completions body; raises APIError(400) naming the bad field."""
    if not isinstance(body, dict):
        raise APIError(400, "request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise APIError(400, "'messages' must be a non-empty list of message objects", param="messages")
    messages = [_normalise_message(m) for m in messages]
    tools = body.get("tools") or None
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)):
        raise APIError(400, "'tools' must be a list of tool objects", param="tools")
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise APIError(400, "'stop' must be a string or a list of strings", param="stop")
    max_tokens = _num(body, "max_completion_tokens", int, None) or _num(body, "max_tokens", int, None)
    try:
        params = SamplingParams(
            temperature=_num(body, "temperature", float, default_temperature),
            top_p=_num(body, "top_p", float, 1.0), top_k=_num(body, "top_k", int, 0),
            max_tokens=max_tokens or 1, stop=stop, seed=_num(body, "seed", int, None))
    except ValueError as e:
        raise APIError(400, str(e)) from None
    if max_tokens is not None and max_tokens < 1:
        raise APIError(400, "'max_tokens' must be >= 1", param="max_tokens")
    if _num(body, "n", int, 1) != 1:
        raise APIError(400, "only n=1 is supported", param="n")
    kwargs = body.get("chat_template_kwargs") or {}
    thinking = body.get("thinking", kwargs.get("thinking") if isinstance(kwargs, dict) else None)
    if thinking is not None and not isinstance(thinking, bool):
        raise APIError(400, "'thinking' must be true or false", param="thinking")
    req = ChatRequest(messages, tools, params, max_tokens, stream=bool(body.get("stream")), thinking=thinking)
    options = body.get("stream_options") or {}
    req.include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
    _apply_tool_choice(req, body.get("tool_choice"))
    return req


def _normalise_message(m: dict[str, Any]) -> dict[str, Any]:
    """Map the OpenAI wire shape onto what the chat template reads (reasoning_content -> reasoning)."""
    m = dict(m)
    if m.get("role") == "assistant" and "reasoning_content" in m and "reasoning" not in m:
        m["reasoning"] = m.pop("reasoning_content")
    if m.get("content") is None:
        m["content"] = ""
    return m


def _apply_tool_choice(req: ChatRequest, choice: Any) -> None:
    if choice in (None, "auto"):
        return
    if choice == "none":
        req.tools = None
        return
    if not req.tools:
        raise APIError(400, "'tool_choice' needs 'tools'", param="tool_choice")
    close = [(THINK_CLOSE, True)] if req.thinking is True else []
    if choice == "required":
        req.forced = [*close, (SECTION_BEGIN, True)]
        return
    name = choice.get("function", {}).get("name") if isinstance(choice, dict) else None
    known = {t.get("function", {}).get("name") for t in req.tools}
    if not isinstance(name, str) or name not in known:
        raise APIError(400, f"'tool_choice' must be none, auto, required or a declared function; got {choice!r}",
                       param="tool_choice")
    req.forced = [*close, (SECTION_BEGIN, True), (CALL_BEGIN, True), (f"functions.{name}:0", False),
                  (ARG_BEGIN, True)]


class Assembler:
    """Turns generated token ids into OpenAI deltas (reasoning_content / content / tool_calls)."""

    def __init__(self, tokenizer: Tokenizer, req: ChatRequest, model: str) -> None:
        self.decoder, self.stops = StreamDecoder(tokenizer), StopMatcher(req.params.stop)
        self.parser = StreamParser(thinking=req.thinking is True)
        self.id, self.model, self.created = "chatcmpl-" + uuid.uuid4().hex[:24], model, int(time.time())
        self.completion_tokens = 0
        self._pending = self.parser.feed("".join(text for text, _ in req.forced))

    def push(self, token: int) -> list[dict[str, Any]]:
        """Feed one token; the deltas it completes."""
        self.completion_tokens += 1
        deltas = self._pending + self.parser.feed(self.stops.push(self.decoder.push(token)))
        self._pending = []
        return [_delta(d) for d in deltas]

    @property
    def stopped(self) -> bool:
        """A stop string or an end-of-turn marker ended the output: generation should stop."""
        return self.stops.hit or self.parser.done

    def finish(self) -> list[dict[str, Any]]:
        deltas = self._pending + self.parser.feed(self.stops.push(self.decoder.flush()) + self.stops.flush())
        self._pending = []
        return [_delta(d) for d in deltas + self.parser.finish()]

    def finish_reason(self, reason: str) -> str:
        return "tool_calls" if self.parser.message.tool_calls else reason

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    def completion(self, finish: str, usage: dict[str, Any]) -> dict[str, Any]:
        msg = self.parser.message
        message: dict[str, Any] = {"role": "assistant", "content": msg.content}
        if msg.reasoning:
            message["reasoning_content"] = msg.reasoning
        if msg.tool_calls:
            message["tool_calls"] = [_call(c) for c in msg.tool_calls]
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": usage}


def _call(call: Any) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def _delta(d: Delta) -> dict[str, Any]:
    if d.kind == "reasoning":
        return {"reasoning_content": d.text}
    if d.kind == "content":
        return {"content": d.text}
    assert d.tool_call is not None
    return {"tool_calls": [{"index": d.tool_call.index, **_call(d.tool_call)}]}


def usage(prompt_tokens: int, completion_tokens: int, cached: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens, "prompt_tokens_details": {"cached_tokens": cached}}


def sse(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()
