"""The official `openai` client against the engine server on 127.0.0.1 (tiny random model)."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from typing import Any

import openai
import pytest
from kimi_engine.sampling import SamplingParams

from .conftest import MODEL, Scripts, start

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


@pytest.fixture()
def client(served: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=served[1].base_url, api_key="sekret", max_retries=0)


def test_models_and_health(client: openai.OpenAI, served: Any) -> None:
    assert [m.id for m in client.models.list().data] == [MODEL]
    with urllib.request.urlopen(f"http://127.0.0.1:{served[1].port}/health") as r:
        assert json.loads(r.read()) == {"status": "ok"}


def test_greedy_matches_engine_and_stream_matches_non_stream(client: openai.OpenAI, engine: Any) -> None:
    messages = [{"role": "user", "content": "def main(): return 42"}]
    # The reference: the engine's own one-request generate loop over a preallocated cache.
    expected = list(engine.generate_ids(engine.encode_chat(messages), SamplingParams(max_tokens=12)))
    r = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=12, temperature=0)
    assert r.usage.completion_tokens == len(expected)
    assert r.usage.prompt_tokens == len(engine.encode_chat(messages))
    assert r.choices[0].finish_reason in ("length", "stop")
    text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=12, temperature=0, stream=True) if c.choices)
    assert text == r.choices[0].message.content
    events = list(engine.chat(messages, sampling=SamplingParams(max_tokens=12)))
    assert r.choices[0].message.content == events[-1].message.content


def test_tool_call_round_trip(client: openai.OpenAI, scripts: Scripts) -> None:
    scripts.add("weather", '<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0'
                           '<|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|><|tool_calls_section_end|>')
    messages: list[dict[str, Any]] = [{"role": "user", "content": "[[weather]] weather in Paris?"}]
    r = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, temperature=0)
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls"
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "functions.get_weather:0", "get_weather", {"city": "Paris"})
    stream = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, temperature=0, stream=True)
    chunks = [c for c in stream if c.choices]
    streamed = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert [tc.function.name for tc in streamed] == ["get_weather"] and chunks[-1].choices[0].finish_reason == "tool_calls"
    scripts.add("sunny", "It is sunny.")
    messages += [r.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "sunny [[sunny]]"}]
    r2 = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, temperature=0)
    assert r2.choices[0].message.content == "It is sunny." and r2.choices[0].finish_reason == "stop"


def test_thinking_becomes_reasoning_content(client: openai.OpenAI, scripts: Scripts) -> None:
    scripts.add("think", "let me see</think>The answer is 42")
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "[[think]] q"}],
                                       temperature=0, extra_body={"thinking": True})
    msg = r.choices[0].message
    assert msg.model_extra["reasoning_content"] == "let me see" and msg.content == "The answer is 42"


def test_stop_string_cuts_output(client: openai.OpenAI, scripts: Scripts) -> None:
    scripts.add("stop", "one two STOP three four")
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "[[stop]]"}],
                                       temperature=0, stop=["STOP"])
    assert r.choices[0].message.content == "one two " and r.choices[0].finish_reason == "stop"


def test_tool_choice_forces_the_named_function(client: openai.OpenAI, engine: Any) -> None:
    # Random weights will not write valid JSON arguments, but the call itself is forced by the
    # prompt: the name is right and the (possibly malformed) arguments come back as they are.
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], tools=TOOLS,
                                       tool_choice={"type": "function", "function": {"name": "get_weather"}},
                                       max_tokens=6, temperature=0)
    assert r.choices[0].message.tool_calls[0].function.name == "get_weather"


@pytest.mark.parametrize("body, status, fragment", [
    ({"model": MODEL, "messages": []}, 400, "messages"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "temperature": -1}, 400, "temperature"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "max_tokens": "lots"}, 400, "max_tokens"),
    ({"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}, 400, "role"),
    ({"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}, 404, "gpt-9"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "x"}], "tool_choice": "required"}, 400, "tools"),
])
def test_bad_requests_get_openai_errors(client: openai.OpenAI, body: dict, status: int, fragment: str) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.post("/chat/completions", body=body, cast_to=object)
    assert info.value.status_code == status
    assert fragment in info.value.body["message"] and "Traceback" not in str(info.value.body)


def _raw(port: int, request: bytes) -> tuple[int, dict]:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_auth_route_json_and_size_errors(served: Any) -> None:
    port = served[1].port
    status, body = _raw(port, b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    auth = b"Authorization: Bearer sekret\r\n"
    assert _raw(port, b"GET /v1/nothing HTTP/1.1\r\n" + auth + b"\r\n")[0] == 404
    bad = b"{not json"
    status, body = _raw(port, b"POST /v1/chat/completions HTTP/1.1\r\n" + auth +
                        b"Content-Length: %d\r\n\r\n" % len(bad) + bad)
    assert status == 400 and "not valid JSON" in body["error"]["message"]
    status, body = _raw(port, b"POST /v1/chat/completions HTTP/1.1\r\n" + auth + b"Content-Length: 999999999\r\n\r\n")
    assert status == 413


def test_queue_full_is_429_and_dead_engine_is_503(engine: Any, tiny_path: Any) -> None:
    server, thread = start(engine, tiny_path, max_queue=0)
    try:
        c = openai.OpenAI(base_url=thread.base_url, api_key="x", max_retries=0)
        with pytest.raises(openai.RateLimitError):
            c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}], max_tokens=2)
        server.scheduler.shutdown()
        with pytest.raises(openai.InternalServerError) as info:
            c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}], max_tokens=2)
        assert info.value.status_code == 503
    finally:
        thread.stop()


def test_disconnect_frees_the_slot(served: Any, scripts: Scripts) -> None:
    server, thread = served
    scripts.add("forever", "a " * 1000)
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "[[forever]]"}],
                       "max_tokens": 800, "temperature": 0, "stream": True}).encode()
    with socket.create_connection(("127.0.0.1", thread.port)) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nAuthorization: Bearer sekret\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        assert b"200 OK" in s.recv(4096)
        cancelled = server.scheduler.stats.cancelled
    # Socket closed: the watcher sees EOF and cancels; wait (bounded) for the scheduler to reap it.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (server.scheduler.running or server.scheduler.stats.cancelled == cancelled):
        time.sleep(0.05)
    metrics = server.metrics()
    assert metrics["running"] == 0 and server.scheduler.stats.cancelled == cancelled + 1
    assert metrics["blocks"]["available"] == metrics["blocks"]["total"]
