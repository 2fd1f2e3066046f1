"""A scripted OpenAI- and Anthropic-compatible model server on 127.0.0.1 (real HTTP, stdlib only).

Each model request (`POST .../chat/completions` or `POST .../messages`) consumes the next script
entry, in order, whichever API asked. Streaming (SSE, chunked) and non-streaming are both served;
`GET .../models` lists models and consumes nothing.

Script entry contract (other tests rely on it):

    {"text": "...", "thinking": "...",
     "tool_calls": [{"id": "call_1", "name": "Read", "arguments": {...} | "raw json text"}],
     "usage": {"input_tokens": 10, "output_tokens": 5,            # optional, estimated if absent
               "cache_read_tokens": 0, "cache_write_tokens": 0},
     "stop_reason": "end_turn" | "tool_use" | "max_tokens" | ...}  # default: tool_use if calls
    {"error": {"status": 429, "retry_after": 0.05, "message": "...", "code": "...",
               "type": "...", "headers": {...}}}
    {"cut_after_chunks": N, ...}  # stream N SSE events, then drop the connection (no [DONE])
    {"end_after_chunks": N, ...}  # stream N SSE events, then end the body cleanly (no finish)
    {"error": {...}, "error_after_chunks": N, ...}  # HTTP 200, N events, then an in-stream
                                  # error event (OpenAI `data: {"error":...}`, Anthropic
                                  # `event: error`), then the body ends
    {"delay_s": 0.2, ...}         # wait before answering
    {"chunk_delay_s": 0.01, ...}  # wait between SSE events
    {"text_chunks": 200, ...}     # split the text into this many deltas (default 3)
    {"repeat": K, ...}            # this entry answers the next K requests
    {"signature": "..."}          # Anthropic thinking signature (default: wire.default_signature)
    {"reasoning_field": "reasoning"}  # OpenAI delta field for thinking (default reasoning_content)
    {"blocks": [{"type": "thinking", "thinking": "...", "signature"?: "..."},
                {"type": "redacted_thinking", "data": "..."},
                {"type": "text", "text": "..."},
                {"type": "tool_use", "id"?: "...", "name": "...", "arguments": {...} | "..."}]}
                                  # Anthropic content blocks in this exact order (interleaved
                                  # thinking); replaces text/thinking/tool_calls. OpenAI gets the
                                  # thinking and text joined, and the calls, in the usual shape.
    {"pings": true}               # Anthropic: `event: ping` after message_start and every block
    {"event_names": false}        # SSE messages without their `event:` lines (data only)

A tool call without "id" gets a generated one; `"id": ""` or `None` sends none (OpenAI) or an
empty one (Anthropic). `"arguments"` as a string is sent verbatim, so it may be malformed JSON.
When the script is exhausted the server answers HTTP 500 with the message "script exhausted".

Attributes: `base_url_openai` ("http://127.0.0.1:PORT/v1"), `base_url_anthropic`
("http://127.0.0.1:PORT"), `requests` (every request received, as dicts `{"method", "path",
"headers" (lower-case names), "body" (parsed JSON or None)}`), `remaining` (requests the script
can still answer, repeats included), `port`. Methods: `add(*entries)` appends to the script while
running; `model_bodies()` lists the JSON bodies of the model requests so far.

Subprocess use: `python -m tests.support.scripted_server --script script.json --port-file PATH
[--port N] [--requests-log PATH]` writes the port to PATH once listening (atomically), appends
each request as a JSON line to the requests log, and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support import wire

EXHAUSTED = "script exhausted"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as both SDKs expect
    disable_nagle_algorithm = True  # small SSE writes must not wait for delayed ACKs
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # keep test output clean

    # ---- plumbing -------------------------------------------------------------------------

    def _send_json(self, status: int, body: dict[str, Any],
                   headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _read_body(self) -> tuple[bytes, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return raw, json.loads(raw) if raw else None
        except ValueError:
            return raw, None

    def _drop(self) -> None:
        """Cut the connection abruptly (no terminating chunk, no [DONE])."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ---- routes ---------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?", 1)[0].rstrip("/")
        self.server.owner._record("GET", self.path, self.headers, None)
        if path.endswith("/models"):
            self._send_json(200, wire.models_list(self.server.owner.model_ids))
        else:
            self._send_json(404, {"error": {"message": f"no route GET {path}", "type": "not_found"}})

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?", 1)[0].rstrip("/")
        raw, body = self._read_body()
        owner = self.server.owner
        owner._record("POST", self.path, self.headers, body)
        if path.endswith("/messages/count_tokens"):
            self._send_json(200, {"input_tokens": len(raw) // 4 + 1})
            return
        if path.endswith("/chat/completions"):
            api = "openai"
        elif path.endswith("/messages"):
            api = "anthropic"
        else:
            self._send_json(404, {"error": {"message": f"no route POST {path}", "type": "not_found"}})
            return
        if not isinstance(body, dict):
            self._send_json(400, {"error": {"message": "request body is not a JSON object",
                                            "type": "invalid_request_error"}})
            return
        taken = owner._take()
        if taken is None:
            err = {"status": 500, "message": EXHAUSTED, "type": "script_exhausted"}
            self._send_error(api, err)
            return
        entry, number = taken
        if entry.get("delay_s"):
            time.sleep(float(entry["delay_s"]))
        if "error" in entry and "error_after_chunks" not in entry:
            self._send_error(api, entry["error"])
            return
        self._answer(api, entry, number, body)

    def _send_error(self, api: str, err: dict[str, Any]) -> None:
        headers = {k: str(v) for k, v in (err.get("headers") or {}).items()}
        if err.get("retry_after") is not None:
            seconds = float(err["retry_after"])
            headers.setdefault("retry-after-ms", str(int(seconds * 1000)))
            headers.setdefault("retry-after", f"{seconds:g}")
        body = wire.openai_error(err) if api == "openai" else wire.anthropic_error(err)
        self._send_json(int(err.get("status", 500)), body, headers)

    def _answer(self, api: str, entry: dict[str, Any], number: int, body: dict[str, Any]) -> None:
        e = wire.normalize(entry, number, body)
        model = str(body.get("model") or "scripted-model")
        if not body.get("stream"):
            data = wire.openai_completion(e, model) if api == "openai" else wire.anthropic_message(e, model)
            payload = json.dumps(data).encode()
            cut = entry.get("cut_after_chunks")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if cut is not None:  # a truncated body, then the connection drops
                self.wfile.write(payload[: len(payload) // 2])
                self._drop()
                return
            self.wfile.write(payload)
            return
        events = wire.openai_events(e, model) if api == "openai" else wire.anthropic_events(e, model)
        if "error_after_chunks" in entry:  # a failure reported inside an HTTP 200 stream
            keep = int(entry["error_after_chunks"])
            events = events[:keep] + [wire.stream_error(api, entry.get("error") or {})]
        elif "end_after_chunks" in entry:  # the body ends cleanly, but the stream is incomplete
            events = events[: int(entry["end_after_chunks"])]
        if entry.get("event_names") is False:  # servers that send only `data:` lines
            events = [b"".join(line for line in event.splitlines(keepends=True)
                               if not line.startswith(b"event:")) for event in events]
        self._stream(events, entry.get("cut_after_chunks"), float(entry.get("chunk_delay_s") or 0))

    def _stream(self, events: list[bytes], cut: int | None, pause: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if cut is None and not pause:
            # Zero-latency mode: the events stay separate SSE messages (the client still sees a
            # stream of deltas) but travel in one write, which keeps 200-step benchmarks fast.
            frames = [b"%x\r\n%s\r\n" % (len(event), event) for event in events]
            self.wfile.write(b"".join(frames) + b"0\r\n\r\n")
            return
        for sent, event in enumerate(events):
            if cut is not None and sent >= int(cut):
                self._drop()
                return
            if pause and sent:
                time.sleep(pause)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        self.wfile.write(b"0\r\n\r\n")


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a swarm opening 64 connections at once would
    # see SYNs dropped and retried a second later, which is the test server's fault, not ours.
    request_queue_size = 1024
    daemon_threads = True
    block_on_close = False  # keep-alive clients must not make stop() hang
    owner: ScriptedServer

    def process_request(self, request: Any, client_address: Any) -> None:
        self.owner._track(request, True)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.owner._track(request, False)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up mid-stream are expected; stay quiet


class ScriptedServer:
    """The scripted server. Use as a context manager, or call start()/stop()."""

    def __init__(self, script: list[dict[str, Any]], *, host: str = "127.0.0.1", port: int = 0,
                 model_ids: list[str] | None = None, requests_log: Path | None = None) -> None:
        for i, entry in enumerate(script):
            if not isinstance(entry, dict):
                raise ValueError(f"script entry {i} must be a dict, got {type(entry).__name__}")
        self.model_ids = model_ids or ["scripted-model"]
        self.requests: list[dict[str, Any]] = []
        self._script = [dict(entry) for entry in script]
        self._left = [max(1, int(entry.get("repeat", 1))) for entry in self._script]
        self._answered = 0
        self._lock = threading.Lock()
        self._sockets: set[Any] = set()
        self._log = requests_log
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    # ---- public ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url_openai(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def base_url_anthropic(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def remaining(self) -> int:
        with self._lock:
            return sum(self._left)

    def add(self, *entries: dict[str, Any]) -> None:
        """Append entries to the script while the server runs."""
        with self._lock:
            for entry in entries:
                self._script.append(dict(entry))
                self._left.append(max(1, int(entry.get("repeat", 1))))

    def model_bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the model requests received so far, in order."""
        return [r["body"] for r in list(self.requests)
                if r["method"] == "POST" and isinstance(r["body"], dict)
                and r["path"].split("?")[0].rstrip("/").endswith(("/chat/completions", "/messages"))]

    def start(self) -> ScriptedServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="scripted-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:  # wake handler threads parked on keep-alive reads
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- used by the handler --------------------------------------------------------------

    def _take(self) -> tuple[dict[str, Any], int] | None:
        with self._lock:
            for i, left in enumerate(self._left):
                if left:
                    self._left[i] -= 1
                    self._answered += 1
                    return self._script[i], self._answered
            return None

    def _record(self, method: str, path: str, headers: Any, body: Any) -> None:
        record = {"method": method, "path": path,
                  "headers": {k.lower(): v for k, v in headers.items()}, "body": body}
        with self._lock:
            self.requests.append(record)
            if self._log is not None:
                with self._log.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record) + "\n")

    def _track(self, sock: Any, add: bool) -> None:
        with self._lock:
            (self._sockets.add if add else self._sockets.discard)(sock)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Scripted OpenAI/Anthropic-compatible server")
    parser.add_argument("--script", type=Path, required=True, help="JSON file: a list of entries")
    parser.add_argument("--port-file", type=Path, required=True, help="where to write the port")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--requests-log", type=Path, default=None, help="JSONL of requests")
    args = parser.parse_args(argv)
    script = json.loads(args.script.read_text(encoding="utf-8"))
    if not isinstance(script, list):
        parser.error(f"{args.script}: expected a JSON list of script entries")
    server = ScriptedServer(script, port=args.port, requests_log=args.requests_log).start()
    tmp = args.port_file.with_name(args.port_file.name + ".tmp")
    tmp.write_text(str(server.port), encoding="utf-8")
    tmp.replace(args.port_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
