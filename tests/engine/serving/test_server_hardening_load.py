"""Disconnects and overload against the engine server (tiny model, real HTTP, the real scheduler).

A client that goes away (mid-stream, while queued, or by closing the official client's stream)
must give back its batch slot and its cache blocks; 100 clients against a small queue get 200 or
429 with Retry-After, never a hang; /health and /v1/models keep answering under that load.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from .conftest import MODEL, Scripts, start


def _until(cond: Callable[[], bool], what: str, timeout: float = 60.0, detail: Callable[[], Any] | None = None) -> None:
    """Wait (bounded) for the scheduler thread to get there; the bound catches hangs, not speed."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (f": {detail()}" if detail else ""))
        time.sleep(0.01)


def _open(port: int, body: dict[str, Any], key: bytes = b"sekret") -> socket.socket:
    data = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nAuthorization: Bearer " + key +
              b"\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
    return s


def _assert_idle(server: Any) -> None:
    m = server.metrics()
    assert (m["running"], m["waiting"]) == (0, 0)
    assert m["blocks"]["available"] == m["blocks"]["total"]  # every block back in the pool


def test_disconnects_free_the_slot_and_the_blocks(served: Any, scripts: Scripts) -> None:
    server, thread = served
    scripts.add("endless", "a " * 2000)
    stream = {"model": MODEL, "messages": [{"role": "user", "content": "[[endless]]"}], "max_tokens": 900,
              "temperature": 0, "stream": True}
    cancelled = server.scheduler.stats.cancelled
    s = _open(thread.port, stream)
    data = b""
    while data.count(b"data:") < 6:  # a few tokens in: it is running and holds blocks
        data += s.recv(4096)
    m = server.metrics()
    assert m["running"] == 1 and m["blocks"]["available"] < m["blocks"]["total"]
    s.close()
    _until(lambda: not server.scheduler.running, "the disconnected stream to be reaped")
    _assert_idle(server)
    assert server.scheduler.stats.cancelled == cancelled + 1

    # The official client closing its stream early is a disconnect too.
    client = openai.OpenAI(base_url=thread.base_url, api_key="sekret", max_retries=0)
    with client.chat.completions.create(**stream) as chunks:
        for n, _ in enumerate(chunks):
            if n == 5:
                break
    _until(lambda: not server.scheduler.running, "the closed client stream to be reaped")
    _assert_idle(server)
    assert server.scheduler.stats.cancelled == cancelled + 2
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=3)
    assert r.usage.completion_tokens >= 1  # and it keeps serving


class Gate:
    """Sample hook: the scripted ids, but a `[[gated]]` request holds the scheduler thread until
    `opened` is set, so the batch and the queue stay exactly as full as the test made them."""

    def __init__(self, scripts: Scripts) -> None:
        self.scripts, self.opened = scripts, threading.Event()
        scripts.add("gated", "a " * 2000)

    def __call__(self, req: Any, logits: Any) -> int | None:
        token = self.scripts(req, logits)
        if req.__dict__.get("_script") is self.scripts.by_tag["gated"]:
            self.opened.wait(120)
        return token


@pytest.fixture()
def crowded(engine: Any, tiny_path: Any, scripts: Scripts) -> Iterator[tuple[Any, Any, Gate]]:
    gate = Gate(scripts)
    server, thread = start(engine, tiny_path, gate, max_batch=2, max_queue=4)
    try:
        yield server, thread, gate
    finally:
        gate.opened.set()
        thread.stop()


class SideLoad:
    """Hits /health and /v1/models in a loop on its own thread; records every status."""

    def __init__(self, port: int) -> None:
        self.port, self.seen, self._stop = port, Counter[tuple[str, int]](), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for path in ("/health", "/v1/models"):
                with socket.create_connection(("127.0.0.1", self.port), timeout=60) as s:
                    s.sendall(f"GET {path} HTTP/1.1\r\n\r\n".encode())
                    head = s.recv(1 << 16)
                self.seen[path, int(head.split()[1])] += 1

    def stop(self) -> Counter[tuple[str, int]]:
        self._stop.set()
        self._thread.join(60)
        assert not self._thread.is_alive()
        return self.seen


def _hundred_clients(base_url: str) -> list[tuple[int, str | None]]:
    """100 concurrent chat requests through the official client: (status, Retry-After) each."""
    client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=120)
    out: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hello"}],
                                           max_tokens=4, temperature=0)
            result: tuple[int, str | None] = (200, None)
        except openai.RateLimitError as e:
            assert e.code == "queue_full" and "retry later" in e.body["message"]
            result = (429, e.response.headers.get("retry-after"))
        with lock:
            out.append(result)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not any(t.is_alive() for t in threads), "a client hung"
    return out


def test_hundred_clients_against_a_small_queue(crowded: Any) -> None:
    server, thread, gate = crowded
    gated = {"model": MODEL, "messages": [{"role": "user", "content": "[[gated]]"}], "max_tokens": 900}
    blockers = [_open(thread.port, gated, key=b"x")]
    _until(lambda: len(server.scheduler.running) == 1, "the first request to run (and hold the scheduler)")
    blockers += [_open(thread.port, gated, key=b"x") for _ in range(4)]
    _until(lambda: len(server.scheduler.waiting) == 4, "the queue to fill", detail=server.metrics)
    side = SideLoad(thread.port)
    full = _hundred_clients(thread.base_url)
    assert full == [(429, "1")] * 100  # the queue is full: every one is told when to retry

    cancelled = server.scheduler.stats.cancelled
    for s in blockers:  # one running, four queued: all five give their places back
        s.close()
    gate.opened.set()
    _until(lambda: not server.scheduler.running and not server.scheduler.waiting, "the blockers to be reaped")
    _assert_idle(server)
    assert server.scheduler.stats.cancelled == cancelled + 5

    mixed = _hundred_clients(thread.base_url)
    statuses = Counter(status for status, _ in mixed)
    assert set(statuses) <= {200, 429} and statuses[200] >= 1
    assert all(retry == "1" for status, retry in mixed if status == 429)
    seen = side.stop()
    assert set(seen) <= {("/health", 200), ("/v1/models", 200)} and len(seen) == 2, seen
    _until(lambda: not server.scheduler.running, "the last requests to finish")
    _assert_idle(server)


def test_an_engine_failure_mid_stream_is_an_error_event_then_503(engine: Any, tiny_path: Any, scripts: Scripts,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    scripts.add("boom", "a " * 50)

    def hook(req: Any, logits: Any) -> int | None:
        if len(req.output) == 3 and req.__dict__.get("_script") is scripts.by_tag["boom"]:
            raise RuntimeError("simulated device failure")
        return scripts(req, logits)

    server, thread = start(engine, tiny_path, hook)
    try:
        client = openai.OpenAI(base_url=thread.base_url, api_key="x", max_retries=0)
        stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "[[boom]]"}],
                                                max_tokens=20, stream=True)
        with pytest.raises(openai.APIError, match="the engine failed while generating"):
            for _ in stream:
                pass  # the 200 head is out: the failure arrives as an SSE error event
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=2)
        assert info.value.status_code == 503 and "not running" in info.value.body["message"]
        with socket.create_connection(("127.0.0.1", thread.port), timeout=60) as s:
            s.sendall(b"GET /health HTTP/1.1\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 503")
        assert "simulated device failure" in caplog.text  # the operator sees why
    finally:
        thread.stop()
