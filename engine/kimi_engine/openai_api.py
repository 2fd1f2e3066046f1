"""OpenAI chat-completions protocol: request validation -> prompt ids, generated ids -> chunks.

Extensions understood: `reasoning_content` on assistant messages (Kimi thinking, echoed back),
`thinking` (bool) or `chat_template_kwargs.thinking` to switch thinking on or off, `top_k`.
`tool_choice`: "none" hides the tools; "required" or {"type":"function","function":{"name":N}}
forces a call by writing the section (and call) markers into the prompt.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from kimi_engine.engine import StopMatcher
from kimi_engine.parsers import (
    ARG_BEGIN,
    CALL_BEGIN,
    SECTION_BEGIN,
    THINK_CLOSE,
    Delta,
    StreamParser,
)
from kimi_engine.sampling import SamplingParams
from kimi_engine.tokenizer import StreamDecoder, Tokenizer

MAX_STOP, MAX_STOP_CHARS = 16, 256


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
    if isinstance(value, float) and not math.isfinite(value):  # 1e999 parses as inf
        raise APIError(400, f"'{key}' must be a finite number", param=key)
    return kind(value)


def _typed(body: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = body.get(key)
    if value is not None and not isinstance(value, kind):
        raise APIError(400, f"'{key}' must be {what}, got {type(value).__name__}", param=key)
    return value


def parse_request(body: Any, default_temperature: float, model: str | None = None) -> ChatRequest:
    """Validate a /v1/chat/completions body; raises APIError (400, or 404 for another `model`)
    naming the bad field. Fields this server cannot honour (n > 1, logprobs, a JSON response
    format) are refused rather than silently ignored."""
    if not isinstance(body, dict):
        raise APIError(400, "request body must be a JSON object")
    name = _typed(body, "model", str, "a string")
    if model is not None and name not in (None, model):
        raise APIError(404, f"model {name!r} does not exist; this server serves {model!r}",
                       code="model_not_found", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise APIError(400, "'messages' must be a non-empty list of message objects", param="messages")
    messages = [_normalise_message(m, i) for i, m in enumerate(messages)]
    tools = _tools(body.get("tools"))
    _unsupported(body)
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise APIError(400, "'stop' must be a string or a list of strings", param="stop")
    # Holding back text that may start a stop string costs O(len^2) per token on the event loop.
    if len(stop) > MAX_STOP or any(len(s) > MAX_STOP_CHARS for s in stop):
        raise APIError(400, f"'stop' takes at most {MAX_STOP} strings of at most {MAX_STOP_CHARS} characters",
                       param="stop")
    max_tokens = _max_tokens(body)
    params = _sampling(body, default_temperature, stop, max_tokens)
    kwargs = _typed(body, "chat_template_kwargs", dict, "an object") or {}
    thinking = body.get("thinking", kwargs.get("thinking"))
    if thinking is not None and not isinstance(thinking, bool):
        raise APIError(400, "'thinking' must be true or false", param="thinking")
    stream = _typed(body, "stream", bool, "true or false")
    req = ChatRequest(messages, tools, params, max_tokens, stream=bool(stream), thinking=thinking)
    options = _typed(body, "stream_options", dict, "an object") or {}
    req.include_usage = bool(options.get("include_usage"))
    _apply_tool_choice(req, body.get("tool_choice"))
    return req


def _max_tokens(body: dict[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = _num(body, key, int, None)
        if value is not None:
            if value < 1:
                raise APIError(400, f"'{key}' must be >= 1, got {value}", param=key)
            return value
    return None


def _sampling(body: dict[str, Any], default_temperature: float, stop: list[str], max_tokens: int | None
              ) -> SamplingParams:
    temperature = _num(body, "temperature", float, default_temperature)
    top_p, top_k = _num(body, "top_p", float, 1.0), _num(body, "top_k", int, 0)
    seed = _num(body, "seed", int, None)
    if temperature < 0:
        raise APIError(400, f"'temperature' must be >= 0, got {temperature:g}", param="temperature")
    if not 0 <= top_p <= 1:
        raise APIError(400, f"'top_p' must be between 0 and 1, got {top_p:g}", param="top_p")
    if top_k < 0:
        raise APIError(400, f"'top_k' must be >= 0 (0 = off), got {top_k}", param="top_k")
    if seed is not None and not -(2**63) <= seed < 2**64:
        raise APIError(400, "'seed' must fit in 64 bits", param="seed")
    if top_p == 0:  # a nucleus of no mass: only the most likely token (OpenAI accepts top_p=0)
        top_p, top_k = 1.0, 1
    return SamplingParams(temperature=temperature, top_p=top_p, top_k=top_k, max_tokens=max_tokens or 1,
                          stop=stop, seed=seed)


def _unsupported(body: dict[str, Any]) -> None:
    if _num(body, "n", int, 1) != 1:
        raise APIError(400, "only n=1 is supported", param="n")
    for key in ("logprobs", "top_logprobs"):
        if body.get(key) not in (None, False, 0):
            raise APIError(400, f"'{key}' is not supported by this server", param=key)
    fmt = body.get("response_format")
    if fmt is not None and fmt != {"type": "text"}:
        kind = fmt.get("type") if isinstance(fmt, dict) else fmt
        raise APIError(400, f"response_format {kind!r} is not supported (only 'text'); describe the format in "
                            "the prompt or use a tool", param="response_format")


def _tools(tools: Any) -> list[dict[str, Any]] | None:
    """`tools`: [{"type": "function", "function": {"name", "description"?, "parameters"?}}]."""
    if tools is None or tools == []:
        return None
    if not isinstance(tools, list):
        raise APIError(400, "'tools' must be a list of tool objects", param="tools")
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or tool.get("type", "function") != "function":
            raise APIError(400, f"{where} must be {{\"type\": \"function\", \"function\": {{...}}}}", param=where)
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            raise APIError(400, f"{where}.function.name must be a non-empty string", param=f"{where}.function.name")
        params = fn.get("parameters")
        if params is not None and (not isinstance(params, dict) or params.get("type", "object") != "object"):
            raise APIError(400, f"{where}.function.parameters must be a JSON Schema object "
                                "({\"type\": \"object\", \"properties\": {...}})",
                           param=f"{where}.function.parameters")
        if not isinstance(fn.get("description", ""), str):
            raise APIError(400, f"{where}.function.description must be a string",
                           param=f"{where}.function.description")
    return tools


_ROLES = ("system", "user", "assistant", "tool")


def _normalise_message(m: Any, i: int) -> dict[str, Any]:
    """Check one message's shape and map the OpenAI wire form onto what the chat template reads
    (reasoning_content -> reasoning). Content parts are checked by the template (text only)."""
    where = f"messages[{i}]"
    if not isinstance(m, dict):
        raise APIError(400, f"{where} must be a message object", param=where)
    if m.get("role") not in _ROLES:
        raise APIError(400, f"{where}.role must be one of {', '.join(_ROLES)}; got {m.get('role')!r}",
                       param=f"{where}.role")
    for key in ("name", "tool_call_id", "reasoning_content", "reasoning"):
        if m.get(key) is not None and not isinstance(m[key], str):
            raise APIError(400, f"{where}.{key} must be a string", param=f"{where}.{key}")
    if m.get("content") is not None and not isinstance(m["content"], (str, list)):
        raise APIError(400, f"{where}.content must be a string or a list of content parts", param=f"{where}.content")
    _check_tool_calls(m.get("tool_calls"), where)
    m = dict(m)
    if m.get("role") == "assistant" and "reasoning_content" in m and "reasoning" not in m:
        m["reasoning"] = m.pop("reasoning_content")
    if m.get("content") is None:
        m["content"] = ""
    return m


def _check_tool_calls(calls: Any, where: str) -> None:
    if calls is None:
        return
    if not isinstance(calls, list):
        raise APIError(400, f"{where}.tool_calls must be a list", param=f"{where}.tool_calls")
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise APIError(400, f"{at} must be {{\"id\", \"type\": \"function\", \"function\": "
                                "{\"name\", \"arguments\"}}", param=at)
        if not isinstance(fn.get("arguments", "{}"), (str, dict)):
            raise APIError(400, f"{at}.function.arguments must be a JSON string", param=f"{at}.function.arguments")
        if call.get("id") is not None and not isinstance(call["id"], str):
            raise APIError(400, f"{at}.id must be a string", param=f"{at}.id")


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
    fn = choice.get("function") if isinstance(choice, dict) else None
    name = fn.get("name") if isinstance(fn, dict) else None
    known = {t["function"]["name"] for t in req.tools}
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
