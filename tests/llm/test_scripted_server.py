"""The scripted server's own contract (other test suites are written against it)."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import openai
import pytest

from kimi_code.llm.base import Message
from tests.support.scripted_server import ScriptedServer

from .conftest import collect, make, text_of

ROOT = Path(__file__).resolve().parents[2]


def post(conn: http.client.HTTPConnection, path: str, body: dict) -> tuple[int, bytes]:
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def test_exhausted_script_answers_500_json(scripted) -> None:
    server = scripted([{"text": "only one"}])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    status, _ = post(conn, "/v1/chat/completions", {"model": "m", "messages": []})
    assert status == 200 and server.remaining == 0
    status, data = post(conn, "/v1/chat/completions", {"model": "m", "messages": []})
    assert status == 500 and json.loads(data)["error"]["message"] == "script exhausted"
    status, data = post(conn, "/v1/messages", {"model": "m", "messages": [], "max_tokens": 1})
    assert status == 500 and json.loads(data)["error"]["message"] == "script exhausted"


def test_keep_alive_streams_on_one_connection(scripted) -> None:
    server = scripted([{"text": "first answer"}, {"text": "second answer"}])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    bodies, sockets = [], []
    for _ in range(2):
        bodies.append(post(conn, "/v1/chat/completions",
                           {"model": "m", "messages": [], "stream": True}))
        sockets.append(conn.sock)
    assert sockets[0] is not None and sockets[0] is sockets[1]  # the connection was kept alive
    assert [status for status, _ in bodies] == [200, 200]
    for (_, raw), expected in zip(bodies, ["first answer", "second answer"], strict=True):
        events = [line[6:] for line in raw.decode().splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or ""
                       for e in events[:-1] if json.loads(e)["choices"])
        assert text == expected


def test_repeat_remaining_add_and_request_log(scripted) -> None:
    server = scripted([{"text": "r", "repeat": 3}, {"text": "last"}])
    assert server.remaining == 4
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for _ in range(3):
        assert post(conn, "/v1/chat/completions", {"model": "m", "messages": [], "n": 1})[0] == 200
    assert server.remaining == 1
    server.add({"text": "extra"})
    assert server.remaining == 2
    record = server.requests[0]
    assert record["method"] == "POST" and record["path"] == "/v1/chat/completions"
    assert record["body"] == {"model": "m", "messages": [], "n": 1}
    assert record["headers"]["content-type"] == "application/json"
    assert len(server.model_bodies()) == 3


def test_non_streaming_openai_message(scripted) -> None:
    server = scripted([{"text": "plain", "thinking": "t", "tool_calls": [
        {"id": "c1", "name": "Read", "arguments": {"file_path": "a"}}]}])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    status, data = post(conn, "/v1/chat/completions", {"model": "m", "messages": []})
    choice = json.loads(data)["choices"][0]
    assert status == 200 and choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "plain" and choice["message"]["reasoning_content"] == "t"
    assert choice["message"]["tool_calls"][0]["function"]["arguments"] == '{"file_path": "a"}'


def test_bad_requests(scripted) -> None:
    server = scripted([{"text": "unused"}])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/v1/chat/completions", body=b"{not json")
    response = conn.getresponse()
    assert response.status == 400 and b"not a JSON object" in response.read()
    assert post(conn, "/v1/embeddings", {})[0] == 404
    assert server.remaining == 1  # neither consumed the script
    with pytest.raises(ValueError, match="entry 0 must be a dict"):
        ScriptedServer(["text"])  # type: ignore[list-item]


async def test_models_endpoint_for_both_sdks(scripted) -> None:
    server = scripted([])
    oa = openai.AsyncOpenAI(base_url=server.base_url_openai, api_key="k", max_retries=0)
    an = anthropic.AsyncAnthropic(base_url=server.base_url_anthropic, api_key="k", max_retries=0)
    try:
        assert [m.id async for m in oa.models.list()] == ["scripted-model"]
        assert [m.id async for m in an.models.list()] == ["scripted-model"]
    finally:
        await oa.close()
        await an.close()
    assert server.remaining == 0 and len(server.requests) == 2


async def test_chunk_delay_and_delay_still_answer(scripted) -> None:
    server = scripted([{"text": "slowly streamed", "delay_s": 0.05, "chunk_delay_s": 0.01}])
    provider = make("anthropic", server)
    try:
        assert text_of(await collect(provider, [Message("user", "hi")])) == "slowly streamed"
    finally:
        await provider.aclose()


async def test_subprocess_mode(tmp_path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": "from another process"}]))
    port_file, log = tmp_path / "port", tmp_path / "requests.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.scripted_server", "--script", str(script),
         "--port-file", str(port_file), "--requests-log", str(log)], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists():
            assert proc.poll() is None, "server exited early"
            assert time.monotonic() < deadline, "server never wrote its port"
            time.sleep(0.02)
        port = int(port_file.read_text())

        class Remote:
            base_url_openai = f"http://127.0.0.1:{port}/v1"

        provider = make("openai", Remote())
        try:
            events = await collect(provider, [Message("user", "hello")])
        finally:
            await provider.aclose()
        assert text_of(events) == "from another process"
        records = [json.loads(line) for line in log.read_text().splitlines()]
        assert records[0]["body"]["messages"] == [{"role": "user", "content": "hello"}]
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
