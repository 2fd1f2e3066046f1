"""SIGTERM to a serving process (launch.run_forever, the path `kimi-engine serve` takes).

In-flight streams end cleanly: within the grace period they finish normally (finish_reason and
[DONE]); past it they get an SSE error event (which the openai client raises) and [DONE]. The
listener closes at once, the process exits 0, and nothing prints a traceback. Before the fix
SIGTERM killed the process mid-stream (rc -15, streams cut without an end), and a request whose
step was still running when the loop closed crashed the scheduler thread with a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

CHILD = """
import sys
from kimi_engine.engine import Engine
from kimi_engine.launch import ServeOptions, build_server, run_forever

path, grace = sys.argv[1], float(sys.argv[2])
engine = Engine.from_pretrained(path, max_seq_len=1024)
word = engine.tokenizer.encode("a")[0]
# Never a stop id: every request runs to max_tokens, so streams are surely in flight at SIGTERM.
server = build_server(path, ServeOptions(model_name="tiny-kimi", cache_gb=0.02, max_seq_len=1024),
                      engine=engine, sample_hook=lambda req, logits: word)
server.read_timeout = 3600  # idle connections would outlive any test unless shutdown ends them
run_forever(server, "127.0.0.1", 0, grace=grace)
"""


@dataclass
class Stream:
    sock: socket.socket
    data: bytes = b""

    def read_raw(self) -> bytes:
        while chunk := self.sock.recv(1 << 16):
            self.data += chunk
        self.sock.close()
        return self.data

    def read_all(self) -> list[Any]:
        """Everything until the server closes, as SSE payloads (JSON objects, or "[DONE]")."""
        self.read_raw()
        events = [line[len(b"data: "):] for line in self.data.partition(b"\r\n\r\n")[2].split(b"\n\n") if line]
        return [e.decode() if e == b"[DONE]" else json.loads(e) for e in events]


class Child:
    def __init__(self, tiny_path: Path, grace: float) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tiny_path), str(grace)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if "serving" not in line:
            self.proc.kill()
            raise AssertionError(f"the server did not start: {line!r} {self.proc.communicate()[1][-2000:]}")
        self.port = int(line.rsplit(":", 1)[1].split("/")[0])

    def stream(self, max_tokens: int = 1000) -> Stream:
        """Start a streaming request; return once its first token has arrived."""
        body = json.dumps({"model": "tiny-kimi", "messages": [{"role": "user", "content": "hi"}], "stream": True,
                           "max_tokens": max_tokens, "temperature": 0}).encode()
        s = socket.create_connection(("127.0.0.1", self.port), timeout=120)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        stream = Stream(s)
        while stream.data.count(b"data:") < 3:
            stream.data += s.recv(4096)
        return stream

    def finish(self) -> tuple[int, str]:
        out, err = self.proc.communicate(timeout=120)
        return self.proc.returncode, err


@pytest.fixture()
def child_factory(tiny_path: Path) -> Iterator[Any]:
    children: list[Child] = []

    def make(grace: float) -> Child:
        children.append(Child(tiny_path, grace))
        return children[-1]

    yield make
    for c in children:
        if c.proc.poll() is None:
            c.proc.kill()
            c.proc.wait()


def _refused_or_503(port: int) -> None:
    """A request after SIGTERM: the listener is closed (refused or reset), or, if the connection
    beat the signal handler, a 503 saying so."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
            s.sendall(b"GET /health HTTP/1.1\r\n\r\n")
            data = s.recv(4096)
    except (ConnectionRefusedError, ConnectionResetError):  # reset: it sat in the closed listener's backlog
        return
    assert data.startswith(b"HTTP/1.1 503") and b"draining" in data


def test_sigterm_lets_in_flight_streams_finish(child_factory: Any) -> None:
    child = child_factory(grace=120)
    streams = [child.stream(max_tokens=400), child.stream(max_tokens=400)]
    child.proc.send_signal(signal.SIGTERM)
    _refused_or_503(child.port)
    for s in streams:
        events = s.read_all()
        assert events[-1] == "[DONE]" and events[-2]["choices"][0]["finish_reason"] == "length"
        text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-1] if e["choices"])
        assert text == "a" * 400  # every token, none lost to the shutdown
    rc, err = child.finish()
    assert rc == 0 and "Traceback" not in err and "shutting down" in err


def test_sigterm_past_the_grace_ends_streams_with_an_error_event(child_factory: Any) -> None:
    child = child_factory(grace=0)
    raw = child.stream()
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{child.port}/v1", api_key="x", max_retries=0)
    stream = client.chat.completions.create(model="tiny-kimi", messages=[{"role": "user", "content": "hi"}],
                                            max_tokens=1000, stream=True)
    next(iter(stream))
    child.proc.send_signal(signal.SIGTERM)
    with pytest.raises(openai.APIError, match="shutting down"):
        for _ in stream:
            pass
    events = raw.read_all()
    assert events[-1] == "[DONE]" and events[-2]["error"]["code"] == "shutting_down"
    assert set(events[-2]["error"]) == {"message", "type", "param", "code"}
    rc, err = child.finish()
    assert rc == 0 and "Traceback" not in err, err[-3000:]


def test_sigterm_does_not_wait_for_idle_connections(child_factory: Any) -> None:
    child = child_factory(grace=600)  # a grace no test would sit through: only in-flight work may use it
    idle = [socket.create_connection(("127.0.0.1", child.port), timeout=120) for _ in range(3)]
    idle[0].sendall(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")  # half sent
    _until_open(child.port, 3)
    late = socket.create_connection(("127.0.0.1", child.port), timeout=120)  # connected before the signal,
    _until_open(child.port, 4)
    child.proc.send_signal(signal.SIGTERM)
    body = json.dumps({"model": "tiny-kimi", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50}).encode()
    late.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    answer = Stream(late).read_raw()  # ... its request sent after it: answered, not dropped
    if answer.startswith(b"HTTP/1.1 200"):  # it landed before the signal handler ran: served in the grace
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["choices"][0]["finish_reason"] == "length"
    else:
        assert answer.startswith(b"HTTP/1.1 503") and b'"code": "shutting_down"' in answer
    for s in idle:
        try:
            assert s.recv(100) == b""  # closed by the server, not left to time out
        except ConnectionResetError:  # also closed by the server
            pass
        s.close()
    rc, err = child.finish()
    assert rc == 0 and "Traceback" not in err, err[-3000:]


def _until_open(port: int, n: int) -> None:
    """One /health round trip after opening `n` connections: the loop has accepted them by then."""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        s.sendall(b"GET /health HTTP/1.1\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
