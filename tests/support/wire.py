"""Wire formats for the scripted server: turn one script entry into OpenAI chat-completions or
Anthropic messages responses (streamed SSE events or one JSON body).

A script entry (see scripted_server.py for the whole contract) is normalised by `normalize()`
first, so the builders below can rely on every field being present.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

OPENAI_FINISH = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}
ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def default_signature(thinking: str) -> str:
    """The Anthropic thinking signature the server sends when the entry gives none."""
    return "sig-" + hashlib.sha256(thinking.encode()).hexdigest()[:24]


def split(text: str, parts: int = 3) -> list[str]:
    """Split `text` into up to `parts` non-empty pieces so that streaming really streams."""
    if not text:
        return []
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _arguments_text(arguments: Any) -> str:
    # A string is sent verbatim (it may be deliberately malformed JSON); anything else is JSON.
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _call(call: dict[str, Any], default_id: str) -> dict[str, Any]:
    call_id = call["id"] if "id" in call else default_id
    return {"id": call_id or "", "name": call["name"],
            "arguments": _arguments_text(call.get("arguments", {}))}


def _ordered_blocks(blocks: list[dict[str, Any]], request_no: int) -> list[dict[str, Any]]:
    """An entry's explicit `blocks`, normalised (tool calls numbered across the message)."""
    out: list[dict[str, Any]] = []
    calls = 0
    for block in blocks:
        kind = block.get("type")
        if kind == "thinking":
            thinking = block.get("thinking", "")
            out.append({"type": "thinking", "thinking": thinking,
                        "signature": block.get("signature") or default_signature(thinking)})
        elif kind == "redacted_thinking":
            out.append({"type": "redacted_thinking", "data": block["data"]})
        elif kind == "text":
            out.append({"type": "text", "text": block.get("text", "")})
        elif kind == "tool_use":
            out.append({"type": "tool_use", **_call(block, f"call_{request_no}_{calls}")})
            calls += 1
        else:
            raise ValueError(f"script block type must be thinking, redacted_thinking, text or "
                             f"tool_use, got {kind!r}")
    return out


def normalize(entry: dict[str, Any], request_no: int, body: dict[str, Any] | None) -> dict[str, Any]:
    """Fill defaults: tool call ids and argument text, usage estimate, stop reason."""
    blocks = None
    if entry.get("blocks") is not None:
        blocks = _ordered_blocks(entry["blocks"], request_no)
        calls = [{k: b[k] for k in ("id", "name", "arguments")}
                 for b in blocks if b["type"] == "tool_use"]
        text = "".join(b["text"] for b in blocks if b["type"] == "text")
        thinking = "".join(b["thinking"] for b in blocks if b["type"] == "thinking")
    else:
        calls = [_call(call, f"call_{request_no}_{i}")
                 for i, call in enumerate(entry.get("tool_calls") or [])]
        text, thinking = entry.get("text", ""), entry.get("thinking", "")
    usage = dict(entry.get("usage") or {})
    if "input_tokens" not in usage:
        usage["input_tokens"] = len(json.dumps(body or {})) // 4 + 1
    if "output_tokens" not in usage:
        produced = len(text) + len(thinking) + sum(len(c["arguments"]) for c in calls)
        usage["output_tokens"] = produced // 4 + 1
    cache_read = usage.get("cache_read_tokens", usage.get("cache_read_input_tokens", 0))
    cache_write = usage.get("cache_write_tokens", usage.get("cache_creation_input_tokens", 0))
    return {
        "text": text,
        "thinking": thinking,
        "signature": entry.get("signature") or (default_signature(thinking) if thinking else ""),
        "reasoning_field": entry.get("reasoning_field", "reasoning_content"),
        "tool_calls": calls,
        "blocks": blocks,
        "pings": bool(entry.get("pings")),
        "input_tokens": int(usage["input_tokens"]),
        "output_tokens": int(usage["output_tokens"]),
        "cache_read": int(cache_read),
        "cache_write": int(cache_write),
        "stop_reason": entry.get("stop_reason") or ("tool_use" if calls else "end_turn"),
        "id": f"scripted-{request_no}",
        "parts": max(1, int(entry.get("text_chunks", 3))),
    }


def sse(data: dict[str, Any] | str, event: str | None = None) -> bytes:
    """One Server-Sent Event."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


# ---- OpenAI chat completions ---------------------------------------------------------------


def _openai_usage(e: dict[str, Any]) -> dict[str, Any]:
    prompt = e["input_tokens"] + e["cache_read"] + e["cache_write"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": e["output_tokens"],
        "total_tokens": prompt + e["output_tokens"],
        "prompt_tokens_details": {"cached_tokens": e["cache_read"]},
    }


def _openai_call(call: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "function",
                           "function": {"name": call["name"], "arguments": call["arguments"]}}
    if call["id"]:
        out["id"] = call["id"]
    return out


def openai_events(e: dict[str, Any], model: str) -> list[bytes]:
    """The SSE events of a streamed chat completion, ending with `data: [DONE]`."""
    base = {"id": "chatcmpl-" + e["id"], "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return sse({**base, "choices": [choice]})

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({e["reasoning_field"]: piece}) for piece in split(e["thinking"])]
    events += [chunk({"content": piece}) for piece in split(e["text"], e["parts"])]
    for index, call in enumerate(e["tool_calls"]):
        head = _openai_call(call)
        head["function"]["arguments"] = ""
        events.append(chunk({"tool_calls": [{"index": index, **head}]}))
        for piece in split(call["arguments"]):
            events.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    finish = OPENAI_FINISH.get(e["stop_reason"], e["stop_reason"])
    events.append(chunk({}, finish))
    events.append(sse({**base, "choices": [], "usage": _openai_usage(e)}))
    events.append(sse("[DONE]"))
    return events


def openai_completion(e: dict[str, Any], model: str) -> dict[str, Any]:
    """A non-streamed chat completion."""
    message: dict[str, Any] = {"role": "assistant", "content": e["text"] or None}
    if e["thinking"]:
        message[e["reasoning_field"]] = e["thinking"]
    if e["tool_calls"]:
        message["tool_calls"] = [_openai_call(c) for c in e["tool_calls"]]
    finish = OPENAI_FINISH.get(e["stop_reason"], e["stop_reason"])
    return {"id": "chatcmpl-" + e["id"], "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": _openai_usage(e)}


def openai_error(err: dict[str, Any]) -> dict[str, Any]:
    status = int(err.get("status", 500))
    kind = err.get("type") or ("server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": err.get("message", f"scripted error {status}"), "type": kind,
                      "code": err.get("code"), "param": None}}


# ---- Anthropic messages ----------------------------------------------------------------------


def _anthropic_usage(e: dict[str, Any]) -> dict[str, Any]:
    return {"input_tokens": e["input_tokens"], "output_tokens": e["output_tokens"],
            "cache_read_input_tokens": e["cache_read"],
            "cache_creation_input_tokens": e["cache_write"]}


def _anthropic_blocks(e: dict[str, Any]) -> list[dict[str, Any]]:
    if e["blocks"] is not None:  # explicit order (interleaved thinking, redacted thinking)
        return [{"type": "tool_use", "id": b["id"], "name": b["name"], "input": b["arguments"]}
                if b["type"] == "tool_use" else dict(b) for b in e["blocks"]]
    blocks: list[dict[str, Any]] = []
    if e["thinking"]:
        blocks.append({"type": "thinking", "thinking": e["thinking"], "signature": e["signature"]})
    if e["text"]:
        blocks.append({"type": "text", "text": e["text"]})
    for call in e["tool_calls"]:
        blocks.append({"type": "tool_use", "id": call["id"], "name": call["name"],
                       "input": call["arguments"]})
    return blocks


def _anthropic_block_events(index: int, block: dict[str, Any], parts: int) -> list[bytes]:
    """content_block_start, its deltas, content_block_stop."""
    kind = block["type"]
    if kind == "redacted_thinking":  # arrives whole, without deltas
        return [sse({"type": "content_block_start", "index": index, "content_block": block},
                    "content_block_start"),
                sse({"type": "content_block_stop", "index": index}, "content_block_stop")]
    empty = {"thinking": {"type": "thinking", "thinking": "", "signature": ""},
             "text": {"type": "text", "text": ""},
             "tool_use": {"type": "tool_use", "id": block.get("id"), "name": block.get("name"),
                          "input": {}}}[kind]
    events = [sse({"type": "content_block_start", "index": index, "content_block": empty},
                  "content_block_start")]
    field, delta_type, key = {"thinking": ("thinking", "thinking_delta", "thinking"),
                              "text": ("text", "text_delta", "text"),
                              "tool_use": ("input", "input_json_delta", "partial_json")}[kind]
    for piece in split(block[field], parts if kind == "text" else 3):
        delta = {"type": delta_type, key: piece}
        events.append(sse({"type": "content_block_delta", "index": index, "delta": delta},
                          "content_block_delta"))
    if kind == "thinking":
        delta = {"type": "signature_delta", "signature": block["signature"]}
        events.append(sse({"type": "content_block_delta", "index": index, "delta": delta},
                          "content_block_delta"))
    events.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
    return events


def anthropic_events(e: dict[str, Any], model: str) -> list[bytes]:
    """The SSE events of a streamed Anthropic message, message_start to message_stop (with
    `ping` events after message_start and between blocks when the entry asks for them)."""
    usage = _anthropic_usage(e)
    start = {"id": "msg_" + e["id"], "type": "message", "role": "assistant", "content": [],
             "model": model, "stop_reason": None, "stop_sequence": None,
             "usage": {**usage, "output_tokens": 1}}
    ping = [sse({"type": "ping"}, "ping")] if e["pings"] else []
    events = [sse({"type": "message_start", "message": start}, "message_start"), *ping]
    for index, block in enumerate(_anthropic_blocks(e)):
        events += _anthropic_block_events(index, block, e["parts"]) + ping
    delta = {"type": "message_delta", "delta": {"stop_reason": e["stop_reason"],
                                                "stop_sequence": None}, "usage": usage}
    events.append(sse(delta, "message_delta"))
    events.append(sse({"type": "message_stop"}, "message_stop"))
    return events


def anthropic_message(e: dict[str, Any], model: str) -> dict[str, Any]:
    """A non-streamed Anthropic message (tool inputs parsed; malformed JSON becomes {})."""
    blocks = _anthropic_blocks(e)
    for block in blocks:
        if block["type"] == "tool_use":
            try:
                block["input"] = json.loads(block["input"])
            except ValueError:
                block["input"] = {}
    return {"id": "msg_" + e["id"], "type": "message", "role": "assistant", "content": blocks,
            "model": model, "stop_reason": e["stop_reason"], "stop_sequence": None,
            "usage": _anthropic_usage(e)}


def anthropic_error(err: dict[str, Any]) -> dict[str, Any]:
    status = int(err.get("status", 500))
    kind = err.get("type") or ANTHROPIC_ERROR_TYPES.get(status) or (
        "api_error" if status >= 500 else "invalid_request_error")
    body: dict[str, Any] = {"type": kind, "message": err.get("message", f"scripted error {status}")}
    if err.get("code"):
        body["details"] = {"error_code": err["code"]}
        body["code"] = err["code"]
    return {"type": "error", "error": body}


def stream_error(api: str, err: dict[str, Any]) -> bytes:
    """An error reported inside an already-started stream."""
    if api == "openai":
        return sse(openai_error(err))
    return sse(anthropic_error(err), "error")


def models_list(model_ids: list[str]) -> dict[str, Any]:
    """`GET /v1/models` in a shape both SDKs accept (OpenAI list + Anthropic page fields)."""
    data = [{"id": m, "object": "model", "type": "model", "created": 0, "owned_by": "scripted",
             "display_name": m, "created_at": "2025-01-01T00:00:00Z"} for m in model_ids]
    return {"object": "list", "data": data, "has_more": False,
            "first_id": model_ids[0] if model_ids else None,
            "last_id": model_ids[-1] if model_ids else None}
