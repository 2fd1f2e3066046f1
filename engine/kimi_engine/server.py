"""OpenAI-compatible HTTP server over the continuous-batching scheduler (asyncio streams, stdlib only).

Endpoints: GET /health, GET /metrics (scheduler + prefix-cache counters), GET /v1/models,
POST /v1/chat/completions (SSE streaming and not). One request per connection
(`Connection: close`), so a closed socket always means the client went away: a watcher task sees
the EOF and cancels the request, which frees its batch slot and blocks before the next step.
Errors are OpenAI-style JSON (`{"error": {"message", "type", "param", "code"}}`) with the HTTP
status; tracebacks never reach the client, and an error after a stream has started arrives as an
SSE `error` event (what the openai client raises on) followed by `[DONE]`.

Shutdown (`shutdown(grace)`, SIGTERM/SIGINT under launch.run_forever): stop listening, answer new
requests on open connections with 503, let in-flight requests finish for `grace` seconds, then
end the rest cleanly (503 JSON, or an SSE error event on a stream) and free their slots.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import asdict
from typing import Any

from kimi_engine.engine import Engine
from kimi_engine.httpio import HTTPRequest, ReadAborted, linger, read_request
from kimi_engine.openai_api import APIError, Assembler, ChatRequest, parse_request, sse, usage
from kimi_engine.scheduler import QueueFullError, Request, RequestTooLargeError, Scheduler

log = logging.getLogger("kimi_engine.server")
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
           408: "Request Timeout", 413: "Payload Too Large", 415: "Unsupported Media Type",
           429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
           501: "Not Implemented", 503: "Service Unavailable"}
ROUTES = {"/v1/models": "GET", "/metrics": "GET", "/health": "GET", "/v1/chat/completions": "POST"}
SHUTTING_DOWN = "the server is shutting down; retry on another instance or after it restarts"


class EngineServer:
    """Serves `engine`'s tokenizer/template with generation through `scheduler`.

    `read_timeout`: seconds a client has to send a whole request (slow or idle clients get 408)."""

    def __init__(self, engine: Engine, scheduler: Scheduler, model_name: str, *, api_key: str | None = None,
                 max_body: int = 16 << 20, default_temperature: float = 0.6, read_timeout: float = 30.0) -> None:
        self.engine, self.scheduler, self.model_name = engine, scheduler, model_name
        self.api_key, self.max_body, self.default_temperature = api_key, max_body, default_temperature
        self.read_timeout = read_timeout
        self.server: asyncio.base_events.Server | None = None
        self.draining = False
        self._tasks: set[asyncio.Task] = set()  # connection handlers in flight
        self._reading: set[asyncio.Task] = set()  # ... of which still waiting for their request
        self._closing: asyncio.Event | None = None  # set when in-flight generations must end now

    async def start(self, host: str = "127.0.0.1", port: int = 8000) -> int:
        """Listen; returns the bound port (pass 0 for any free port)."""
        self._closing = asyncio.Event()
        self.server = await asyncio.start_server(self._handle, host, port, limit=1 << 16)
        return self.server.sockets[0].getsockname()[1]

    @property
    def open_connections(self) -> int:
        return sum(not t.done() for t in self._tasks)

    async def shutdown(self, grace: float = 30.0) -> None:
        """Stop listening; give in-flight requests `grace` seconds, then end them cleanly."""
        self.draining = True
        if self.server is not None:
            self.server.close()
        # A request still arriving gets a moment to land (and a 503 saying why); idle connections
        # hold no work and are closed rather than waited for.
        reading = {t for t in self._reading if not t.done()}
        if reading and grace > 0:
            await asyncio.wait(reading, timeout=min(grace, 1.0))
        for task in self._reading:
            task.cancel()
        pending = {t for t in self._tasks if not t.done()}
        if pending and grace > 0:
            _, pending = await asyncio.wait(pending, timeout=grace)
        if pending:
            assert self._closing is not None
            self._closing.set()  # generations end with a 503 / SSE error; readers get nothing
            _, pending = await asyncio.wait(pending, timeout=5)
        for task in pending:  # stuck writing to a client that stopped reading
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve_one(reader, writer)
        except asyncio.CancelledError:  # shutdown ended this connection; asyncio would log a
            pass  # cancelled connection task as an error with a traceback
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._reading.add(task)
        try:
            request = await read_request(reader, writer, self.max_body, self.read_timeout)
        except ReadAborted:
            return
        except APIError as e:  # the body may be unread: answer, then let the client finish sending
            await _send_json(writer, e.status, e.body(), _extra_headers(e))
            await linger(reader, writer)
            return
        except Exception:  # a reader bug: still an answer, never a dropped connection
            log.exception("reading a request failed")
            await _send_json(writer, 400, APIError(400, "malformed HTTP request").body())
            await linger(reader, writer)
            return
        finally:
            self._reading.discard(task)
        try:
            await self._route(request, reader, writer)
        except APIError as e:
            await _send_json(writer, e.status, e.body(), _extra_headers(e), head_only=request.method == "HEAD")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:  # a bug: log it here, answer a plain 500 there
            log.exception("request failed")
            await _send_json(writer, 500, APIError(500, "internal server error", "server_error").body())

    async def _route(self, request: HTTPRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        path, method = request.path, request.method
        if path not in ROUTES:
            shown = path if len(path) <= 200 else path[:200] + "..."
            raise APIError(404, f"no route {shown}; try /v1/chat/completions or /v1/models", "not_found_error",
                           code="not_found")
        allowed = ROUTES[path]
        if method != allowed and not (method == "HEAD" and allowed == "GET"):
            raise MethodNotAllowed(path, allowed)
        head_only = method == "HEAD"
        if path == "/health":
            ok = self.scheduler.alive and not self.draining
            state = "ok" if ok else ("draining" if self.draining else "unavailable")
            await _send_json(writer, 200 if ok else 503, {"status": state}, head_only=head_only)
            return
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            raise APIError(401, "missing or wrong bearer token (send 'Authorization: Bearer <key>')",
                           "authentication_error", code="invalid_api_key")
        if path == "/v1/models":
            await _send_json(writer, 200, {"object": "list", "data": [
                {"id": self.model_name, "object": "model", "created": 0, "owned_by": "kimi-engine",
                 "max_model_len": self.engine.max_seq_len}]}, head_only=head_only)
        elif path == "/metrics":
            await _send_json(writer, 200, self.metrics(), head_only=head_only)
        else:
            _check_json_type(request.headers)
            await self._chat(request.body, reader, writer)

    def metrics(self) -> dict[str, Any]:
        s = self.scheduler
        return {"scheduler": asdict(s.stats), "prefix_cache": asdict(s.cache.stats),
                "running": len(s.running), "waiting": len(s.waiting),
                "blocks": {"total": s.cache.num_blocks, "available": s.cache.available,
                           "block_size": s.cache.block_size}}

    def _prompt(self, req: ChatRequest) -> list[int]:
        try:
            ids = self.engine.encode_chat(req.messages, req.tools, thinking=req.thinking)
        except (ValueError, KeyError, TypeError) as e:
            raise APIError(400, f"cannot render the conversation: {e}", param="messages") from None
        tok = self.engine.tokenizer
        for text, special in req.forced:
            ids += [tok.special_id(text)] if special else tok.encode(text)
        return ids

    def _admit(self, body: bytes) -> tuple[ChatRequest, list[int], int]:
        """Parse and validate a chat body -> (request, prompt ids, token budget); APIError otherwise."""
        if self.draining:
            raise APIError(503, SHUTTING_DOWN, "server_error", code="shutting_down")
        if not self.scheduler.alive:
            raise APIError(503, "the engine is not running", "server_error")
        req = parse_request(_load_json(body), self.default_temperature, self.model_name)
        prompt = self._prompt(req)
        room = self.engine.max_seq_len - len(prompt)
        if room < 1:
            raise APIError(400, f"the prompt has {len(prompt)} tokens; the context holds {self.engine.max_seq_len}",
                           code="context_length_exceeded", param="messages")
        return req, prompt, min(req.max_tokens or room, room)

    async def _chat(self, body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Parsing and tokenising a 16 MB body takes a while: off the event loop (tiktoken drops the GIL).
        req, prompt, budget = await asyncio.get_running_loop().run_in_executor(None, self._admit, body)
        loop, queue = asyncio.get_running_loop(), asyncio.Queue[tuple[int | None, str | None]]()

        def emit(token: int | None, finish: str | None) -> None:  # scheduler thread
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (token, finish))
            except RuntimeError:  # the loop closed (shutdown) while a step for this request ran
                pass

        job = Request(prompt, req.params, budget, emit)
        try:
            self.scheduler.submit(job)
        except QueueFullError as e:
            raise APIError(429, str(e), "rate_limit_error", code="queue_full") from None
        except RequestTooLargeError as e:
            raise APIError(400, str(e), code="context_length_exceeded") from None
        asm = Assembler(self.engine.tokenizer, req, self.model_name)
        watcher = asyncio.ensure_future(_wait_eof(reader))
        try:
            if req.stream:
                await self._stream(req, job, asm, queue, watcher, writer)
            else:
                finish = await self._generate(job, asm, queue, watcher, None)
                if finish is not None:
                    asm.finish()  # flushes held-back text and a tool call still open into the message
                    use = usage(len(job.prompt), asm.completion_tokens, job.cached_tokens)
                    await _send_json(writer, 200, asm.completion(asm.finish_reason(finish), use))
        finally:
            watcher.cancel()
            self.scheduler.cancel(job)  # no-op when it already finished

    async def _generate(self, job: Request, asm: Assembler, queue: asyncio.Queue, watcher: asyncio.Future,
                        on_deltas: Any) -> str | None:
        """Feed generated tokens to `asm` (and `on_deltas`) until the job finishes; the finish
        reason, or None when the client went away. Raises APIError(503) when the engine failed or
        the server is shutting down."""
        assert self._closing is not None
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            while True:
                get = asyncio.ensure_future(queue.get())
                await asyncio.wait({get, watcher, closing}, return_when=asyncio.FIRST_COMPLETED)
                if not get.done():
                    get.cancel()
                    if closing.done():
                        raise APIError(503, SHUTTING_DOWN, "server_error", code="shutting_down")
                    return None  # disconnected: the finally in _chat cancels the job
                token, reason = get.result()
                if token is None:
                    if reason == "error":
                        raise APIError(503, "the engine failed while generating", "server_error")
                    return reason or "stop"
                deltas = asm.push(token)
                if on_deltas is not None:
                    await on_deltas(deltas)
                if asm.stopped:
                    self.scheduler.cancel(job)
                    return "stop"
        finally:
            closing.cancel()

    async def _stream(self, req: ChatRequest, job: Request, asm: Assembler, queue: asyncio.Queue,
                      watcher: asyncio.Future, writer: asyncio.StreamWriter) -> None:
        writer.write(_head(200, "text/event-stream", extra="Cache-Control: no-cache\r\n"))
        writer.write(sse(asm.chunk({"role": "assistant", "content": ""})))

        async def send(deltas: list[dict[str, Any]]) -> None:
            for d in deltas:
                writer.write(sse(asm.chunk(d)))
            await writer.drain()

        try:
            finish = await self._generate(job, asm, queue, watcher, send)
        except APIError as e:  # the 200 head is out: the error goes in the stream
            writer.write(sse(e.body()) + sse("[DONE]"))
            await writer.drain()
            return
        if finish is None:
            return
        for d in asm.finish():
            writer.write(sse(asm.chunk(d)))
        final = asm.chunk({}, asm.finish_reason(finish))
        writer.write(sse(final))
        if req.include_usage:
            use = usage(len(job.prompt), asm.completion_tokens, job.cached_tokens)
            writer.write(sse({**final, "choices": [], "usage": use}))
        writer.write(sse("[DONE]"))
        await writer.drain()


class MethodNotAllowed(APIError):
    def __init__(self, path: str, allowed: str) -> None:
        super().__init__(405, f"{path} takes {allowed}", code="method_not_allowed")
        self.allowed = allowed


async def _wait_eof(reader: asyncio.StreamReader) -> None:
    """Returns when the client closed its side. Bytes after the request (a stray CRLF, a
    pipelined request) are read and ignored: only EOF or a reset means the client went away."""
    try:
        while await reader.read(1 << 12):
            pass
    except (ConnectionError, OSError):
        pass


def _load_json(body: bytes) -> Any:
    if not body.strip():
        raise APIError(400, "the request body is empty; send a JSON object with 'model' and 'messages'")

    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        return json.loads(body, parse_constant=refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise APIError(400, f"request body is not valid JSON: {e}") from None
    except RecursionError:
        raise APIError(400, "request body is not valid JSON: nested too deeply") from None
    except ValueError as e:  # NaN/Infinity, integers of more than 4300 digits
        reason = "a number has too many digits" if "digits" in str(e) else str(e)
        raise APIError(400, f"request body is not valid JSON: {reason}") from None


def _check_json_type(headers: dict[str, str]) -> None:
    """No Content-Type is taken as JSON; a declared other type is refused (curl -d sends a form type)."""
    ctype = headers.get("content-type")
    if ctype is None:
        return
    media = ctype.split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise APIError(415, f"Content-Type must be application/json, got {ctype[:60]!r} "
                            "(with curl: -H 'Content-Type: application/json')", code="unsupported_media_type")


def _extra_headers(e: APIError) -> str:
    if e.status == 429:
        return "Retry-After: 1\r\n"
    if isinstance(e, MethodNotAllowed):
        return f"Allow: {e.allowed}{', HEAD' if e.allowed == 'GET' else ''}\r\n"
    return ""


def _head(status: int, ctype: str, length: int | None = None, extra: str = "") -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None else ""
    return (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: {ctype}\r\n{size}"
            f"Connection: close\r\n{extra}\r\n").encode()


async def _send_json(writer: asyncio.StreamWriter, status: int, obj: dict[str, Any], extra: str = "",
                     head_only: bool = False) -> None:
    data = json.dumps(obj).encode()
    try:
        writer.write(_head(status, "application/json", len(data), extra) + (b"" if head_only else data))
        await writer.drain()
    except ConnectionError:
        pass


class ServerThread:
    """Runs an EngineServer's event loop on a background thread (in-process use and tests)."""

    def __init__(self, server: EngineServer, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server, self.host = server, host
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(port, started), daemon=True, name="kimi-http")
        self._thread.start()
        started.wait(30)
        if not hasattr(self, "port"):
            raise RuntimeError(f"the engine server could not listen on {host}:{port}")

    def _run(self, port: int, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.port = self.loop.run_until_complete(self.server.start(self.host, port))
        finally:
            started.set()
        self.loop.run_forever()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def stop(self, grace: float = 0.0) -> None:
        """Shut the server down (in-flight requests get `grace` seconds), then the scheduler."""
        asyncio.run_coroutine_threadsafe(self.server.shutdown(grace), self.loop).result(grace + 30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.server.scheduler.shutdown()
