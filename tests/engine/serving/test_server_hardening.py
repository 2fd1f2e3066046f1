"""Hostile and unlucky requests against the engine server (tiny model, real HTTP on 127.0.0.1).

Every refusal must be OpenAI-style JSON `{"error": {"message", "type", "param", "code"}}` with the
right status (never a traceback, never an HTML page, never a dropped connection), and the server
must keep serving afterwards. Regressions for what an adversarial pass found: a NaN temperature
killed the scheduler thread for good (every later request got 503), a string `function` in
tool_choice, a non-list `tool_calls`, a 2**80 seed, deeply nested or huge-integer JSON and a
negative Content-Length were 500s, a chunked body read as empty, a stray CRLF after the body was
taken for a disconnect (no answer at all), logprobs/response_format were silently ignored.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import openai
import pytest

from .conftest import MODEL, Scripts

AUTH = b"Authorization: Bearer sekret\r\n"
HI = [{"role": "user", "content": "hi"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}]


@pytest.fixture()
def client(served: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=served[1].base_url, api_key="sekret", max_retries=0)


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes, read until the server closes; (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(1 << 16):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _post(port: int, body: bytes, extra: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    return _raw(port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n" + AUTH + extra +
                b"Content-Length: %d\r\n\r\n" % len(body) + body)


def _error(body: bytes) -> dict[str, Any]:
    """The OpenAI error object, checking its exact shape."""
    err = json.loads(body)["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    assert "Traceback" not in err["message"]
    return err


def _healthy(port: int) -> None:
    status, _, body = _raw(port, b"GET /health HTTP/1.1\r\n\r\n")
    assert (status, json.loads(body)) == (200, {"status": "ok"})


def _with(**fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": HI, "max_tokens": 2, **fields}


BAD_FIELDS = [
    (_with(messages="hi"), "messages"),
    (_with(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]),
     "messages"),
    (_with(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
    (_with(messages=[{"role": 3, "content": "x"}]), "messages[0].role"),
    (_with(messages=[{"role": "user", "name": 7, "content": "x"}]), "messages[0].name"),
    (_with(messages=[{"role": "assistant", "tool_calls": "x"}, *HI]), "messages[0].tool_calls"),
    (_with(messages=[{"role": "assistant", "tool_calls": ["x"]}, *HI]), "messages[0].tool_calls[0]"),
    (_with(messages=[{"role": "tool", "tool_call_id": {"a": 1}, "content": "x"}]), "messages[0].tool_call_id"),
    (_with(tools={"get_weather": {}}), "tools"),
    (_with(tools=[{"type": "function"}]), "tools[0]"),
    (_with(tools=[{"type": "function", "function": "get_weather"}]), "tools[0]"),
    (_with(tools=[{"type": "function", "function": {"name": "f", "parameters": "not a schema"}}]),
     "tools[0].function.parameters"),
    (_with(tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}]),
     "tools[0].function.parameters"),
    (_with(tools=TOOLS, tool_choice={"type": "function", "function": {"name": "no_such_tool"}}), "tool_choice"),
    (_with(tools=TOOLS, tool_choice={"type": "function", "function": "get_weather"}), "tool_choice"),
    (_with(tools=TOOLS, tool_choice=5), "tool_choice"),
    (_with(n=2), "n"),
    (_with(logprobs=True, top_logprobs=2), "logprobs"),
    (_with(response_format={"type": "json_object"}), "response_format"),
    (_with(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}), "response_format"),
    (_with(stop=[f"s{i}" for i in range(17)]), "stop"),
    (_with(stop=["x" * 100_000]), "stop"),
    (_with(stop=5), "stop"),
    (_with(max_tokens=0), "max_tokens"),
    (_with(max_tokens=-1), "max_tokens"),
    (_with(max_tokens=2.5), "max_tokens"),
    (_with(max_tokens=None, max_completion_tokens=0), "max_completion_tokens"),
    (_with(temperature=-0.5), "temperature"),
    (_with(temperature="hot"), "temperature"),
    (_with(top_p=2), "top_p"),
    (_with(top_k=-1), "top_k"),
    (_with(seed=2**80), "seed"),
    (_with(stream="yes"), "stream"),
    (_with(stream=True, stream_options="usage"), "stream_options"),
    (_with(thinking="on"), "thinking"),
    (_with(chat_template_kwargs=[1]), "chat_template_kwargs"),
    (_with(model=5), "model"),
]


@pytest.mark.parametrize("body, param", BAD_FIELDS, ids=[p for _, p in BAD_FIELDS])
def test_bad_fields_get_400_naming_the_field(client: openai.OpenAI, served: Any, body: dict, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.post("/chat/completions", body=body, cast_to=object)
    err = info.value.body
    assert set(err) == {"message", "type", "param", "code"} and err["type"] == "invalid_request_error"
    assert err["param"] == param, err
    _healthy(served[1].port)


@pytest.mark.parametrize("raw, fragment", [
    (b"", "empty"),
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}', "NaN"),
    (b'{"messages": [{"role": "user", "content": "x"}], "temperature": Infinity}', "Infinity"),
    (b'{"messages": [{"role": "user", "content": "x"}], "temperature": 1e999}', "finite"),
    (b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": ' + b"9" * 5000 + b"}", "digits"),
], ids=["empty", "broken", "array", "nan", "infinity", "1e999", "deep", "huge-int"])
def test_malformed_json_is_400_and_the_engine_survives(served: Any, raw: bytes, fragment: str) -> None:
    port = served[1].port
    status, headers, body = _post(port, raw, b"Content-Type: application/json\r\n")
    assert status == 400 and headers["content-type"] == "application/json"
    assert fragment in _error(body)["message"]
    _healthy(port)  # a NaN temperature used to reach torch.multinomial and kill the scheduler thread


def test_odd_but_valid_requests_are_served(client: openai.OpenAI, scripts: Scripts) -> None:
    parts = [{"type": "text", "text": "def main(): "}, {"type": "text", "text": "return 42"}]
    as_parts = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": parts}],
                                              max_tokens=5, temperature=0)
    as_text = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "def main(): return 42"}],
                                             max_tokens=5, temperature=0)
    assert as_parts.choices[0].message.content == as_text.choices[0].message.content
    # top_p 0 is a nucleus of only the most likely token: greedy, whatever the temperature.
    nucleus = client.chat.completions.create(model=MODEL, messages=HI, max_tokens=6, temperature=1.5, top_p=0, seed=1)
    greedy = client.chat.completions.create(model=MODEL, messages=HI, max_tokens=6, temperature=0)
    assert nucleus.choices[0].message.content == greedy.choices[0].message.content
    for extra in ({"temperature": 5, "seed": 2**63}, {"seed": -7, "temperature": 1}, {"extra_body": {"top_k": 10**9}, "temperature": 1},
                  {"stop": [f"zz{i}" for i in range(10)]}, {"response_format": {"type": "text"}, "logprobs": False}):
        r = client.chat.completions.create(model=MODEL, messages=HI, max_tokens=3, **extra)
        assert r.usage.completion_tokens <= 3
    # max_tokens beyond the context is capped by the room left, not refused.
    scripts.add("short", "fine")
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "[[short]]"}],
                                       max_tokens=10**12, temperature=0)
    assert (r.choices[0].message.content, r.choices[0].finish_reason) == ("fine", "stop")


def test_prompt_beyond_the_context_is_400(client: openai.OpenAI, served: Any) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "word " * 3000}], max_tokens=2)
    assert info.value.code == "context_length_exceeded" and "1024" in info.value.body["message"]
    _healthy(served[1].port)


def test_fifty_megabyte_body_is_413_through_the_openai_client(client: openai.OpenAI, served: Any) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "a" * (50 << 20)}])
    assert info.value.status_code == 413 and "exceeds the limit" in info.value.body["message"]
    _healthy(served[1].port)


def test_chunked_upload_is_read_and_bounded(served: Any) -> None:
    port = served[1].port
    body = json.dumps(_with(temperature=0, max_tokens=4)).encode()
    plain = _post(port, body)
    chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7))
    status, _, answer = _raw(port, b"POST /v1/chat/completions HTTP/1.1\r\n" + AUTH +
                             b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\nX-Trailer: 1\r\n\r\n")
    assert status == 200 and plain[0] == 200
    assert json.loads(answer)["choices"][0]["message"] == json.loads(plain[2])["choices"][0]["message"]
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:  # 50 MB in 1 MB chunks, no length
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\n" + AUTH + b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(50):
                s.sendall(b"100000\r\n" + b"a" * 0x100000 + b"\r\n")
        except OSError:
            pass  # the server answered 413 and stopped reading after a while
        data = b""
        while chunk := s.recv(1 << 16):
            data += chunk
    assert data.startswith(b"HTTP/1.1 413 ")
    assert "exceeds the limit" in _error(data.partition(b"\r\n\r\n")[2])["message"]
    for bad in (b"zz\r\n", b"5\r\nabcdeXY0\r\n\r\n"):
        status, _, answer = _raw(port, b"POST /v1/chat/completions HTTP/1.1\r\n" + AUTH +
                                 b"Transfer-Encoding: chunked\r\n\r\n" + bad)
        assert status == 400 and "chunked" in _error(answer)["message"]
    status, _, answer = _raw(port, b"POST /v1/chat/completions HTTP/1.1\r\n" + AUTH +
                             b"Transfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}")
    assert status == 501 and _error(answer)


@pytest.mark.parametrize("extra, status, fragment", [
    (b"Content-Type: text/plain\r\n", 415, "application/json"),
    (b"Content-Type: application/x-www-form-urlencoded\r\n", 415, "-H 'Content-Type: application/json'"),
    (b"Content-Length: -5\r\n", 400, "Content-Length"),
    (b"Content-Length: 1_0\r\n", 400, "Content-Length"),
    (b"Content-Length: 3\r\n", 400, "conflicting Content-Length"),
    (b"Transfer-Encoding: chunked\r\n", 400, "both"),
    (b"X-Huge: " + b"h" * 200_000 + b"\r\n", 431, "headers too large"),
    (b"no colon here\r\n", 400, "malformed header"),
], ids=["text-plain", "form", "negative-length", "underscore-length", "two-lengths", "length-and-chunked", "huge-header", "no-colon"])
def test_bad_http_framing(served: Any, extra: bytes, status: int, fragment: str) -> None:
    port = served[1].port
    body = json.dumps(_with()).encode()
    got, headers, answer = _post(port, body, extra)
    assert (got, headers["content-type"]) == (status, "application/json")
    assert fragment in _error(answer)["message"]
    _healthy(port)


def test_a_content_length_of_5000_digits_is_413(served: Any) -> None:
    # int() refuses more than 4300 digits: that ValueError used to drop the connection unanswered.
    status, _, body = _raw(served[1].port, b"POST /v1/chat/completions HTTP/1.1\r\n" + AUTH +
                           b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n")
    assert status == 413 and _error(body)["code"] == "body_too_large"
    _healthy(served[1].port)


def test_expect_continue_and_stray_bytes_after_the_body(served: Any) -> None:
    port = served[1].port
    body = json.dumps(_with(temperature=0)).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\n" + AUTH + b"Expect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"  # curl waits for this before the body
        s.sendall(body)
        data = b""
        while chunk := s.recv(1 << 16):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK")
    for stream in (False, True):  # a stray CRLF after the body used to be taken for a disconnect
        body = json.dumps(_with(temperature=0, stream=stream)).encode()
        status, _, answer = _post(body=body + b"\r\n", port=port)
        assert status == 200 and (b"[DONE]" in answer if stream else json.loads(answer)["choices"])


def test_methods_paths_and_auth(served: Any) -> None:
    port = served[1].port
    for method in (b"GET", b"PUT", b"DELETE", b"HEAD"):
        status, headers, body = _raw(port, method + b" /v1/chat/completions HTTP/1.1\r\n" + AUTH + b"\r\n")
        assert (status, headers["allow"]) == (405, "POST")
        if method == b"HEAD":
            assert body == b"" and int(headers["content-length"]) > 0  # a HEAD answer carries no body
        else:
            assert _error(body)["code"] == "method_not_allowed"
    status, headers, _ = _raw(port, b"POST /v1/models HTTP/1.1\r\n" + AUTH + b"Content-Length: 0\r\n\r\n")
    assert (status, headers["allow"]) == (405, "GET, HEAD")
    for path in (b"/", b"/v1/models/tiny-kimi", b"/v1/completions", b"/%00", b"/v1/chat/completions/../x"):
        status, headers, body = _raw(port, b"GET " + path + b" HTTP/1.1\r\n" + AUTH + b"\r\n")
        assert status == 404 and _error(body)["type"] == "not_found_error"
    for request in (b"HELLO\r\n\r\n", b"\x00\x01\xff\r\n\r\n", b"GET nope HTTP/1.1\r\n\r\n"):
        status, _, body = _raw(port, request)
        assert status == 400 and "request line" in _error(body)["message"]
    for auth in (b"", b"Authorization: Bearer wrong\r\n", b"Authorization: sekret\r\n"):
        for path in (b"/v1/models", b"/metrics"):
            status, _, body = _raw(port, b"GET " + path + b" HTTP/1.1\r\n" + auth + b"\r\n")
            assert status == 401 and _error(body)["code"] == "invalid_api_key"
        status, _, body = _post(port, json.dumps(_with()).encode(), b"")  # the right token still works
        assert status == 200
    status, _, body = _raw(port, b"HEAD /health HTTP/1.1\r\n\r\n")
    assert (status, body) == (200, b"")


def test_a_client_that_sends_nothing_gets_408(served: Any) -> None:
    server, thread = served
    before, server.read_timeout = server.read_timeout, 0.5
    try:
        with socket.create_connection(("127.0.0.1", thread.port), timeout=60) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")  # and stalls
            data = b""
            while chunk := s.recv(1 << 16):
                data += chunk
    finally:
        server.read_timeout = before
    assert data.startswith(b"HTTP/1.1 408 ")
    assert _error(data.partition(b"\r\n\r\n")[2])["code"] == "request_timeout"
    _healthy(thread.port)


def test_tool_choice_required_with_scripted_call_still_round_trips(client: openai.OpenAI, scripts: Scripts) -> None:
    # After all the refusals above, the happy path through the same server still works.
    scripts.add("hardened", '{"city": "Oslo"}<|tool_call_end|><|tool_calls_section_end|>')
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "[[hardened]] weather?"}], tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}}, temperature=0)
    call = r.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Oslo"})
