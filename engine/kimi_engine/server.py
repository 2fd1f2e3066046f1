"""OpenAI-compatible HTTP server over the continuous-batching scheduler (asyncio streams, stdlib only).

Endpoints: GET /health, GET /metrics (scheduler + prefix-cache counters), GET /v1/models,
POST /v1/chat/completions (SSE streaming and not). One request per connection
(`Connection: close`), so a closed socket always means the client went away: a watcher task sees
the EOF and cancels the request, which frees its batch slot and blocks before the next step.
Errors are OpenAI-style JSON (400/401/404/405/413/429/500/503); tracebacks never reach the client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import asdict
from typing import Any

from .engine import Engine
from .openai_api import APIError, Assembler, ChatRequest, parse_request, sse, usage
from .scheduler import QueueFullError, Request, RequestTooLargeError, Scheduler

log = logging.getLogger("kimi_engine.server")
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
           413: "Payload Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
           503: "Service Unavailable"}


class EngineServer:
    """Serves `engine`'s tokenizer/template with generation through `scheduler`."""

    def __init__(self, engine: Engine, scheduler: Scheduler, model_name: str, *, api_key: str | None = None,
                 max_body: int = 16 << 20, default_temperature: float = 0.6) -> None:
        self.engine, self.scheduler, self.model_name = engine, scheduler, model_name
        self.api_key, self.max_body, self.default_temperature = api_key, max_body, default_temperature
        self.server: asyncio.base_events.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 8000) -> int:
        """Listen; returns the bound port (pass 0 for any free port)."""
        self.server = await asyncio.start_server(self._handle, host, port, limit=1 << 16)
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path, headers, body = await self._read_request(reader)
            await self._route(method, path, headers, body, reader, writer)
        except APIError as e:
            await _send_json(writer, e.status, e.body(), _retry_header(e))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:  # a bug: log it here, answer a plain 500 there
            log.exception("request failed")
            await _send_json(writer, 500, APIError(500, "internal server error", "server_error").body())
        finally:
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise APIError(413, "request headers too large") from None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            raise APIError(400, "malformed request line")
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise APIError(400, "bad Content-Length") from None
        if length > self.max_body:
            raise APIError(413, f"request body of {length} bytes exceeds the limit of {self.max_body}")
        body = await reader.readexactly(length) if length else b""
        return parts[0], parts[1].split("?")[0], headers, body

    async def _route(self, method: str, path: str, headers: dict[str, str], body: bytes,
                     reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if path == "/health":
            ok = self.scheduler.alive
            status = 200 if ok else 503
            await _send_json(writer, status, {"status": "ok" if ok else "unavailable"})
            return
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            raise APIError(401, "missing or wrong bearer token", "authentication_error", code="invalid_api_key")
        routes = {"/v1/models": "GET", "/metrics": "GET", "/v1/chat/completions": "POST"}
        if path not in routes:
            raise APIError(404, f"no route {path}; try /v1/chat/completions", "not_found_error")
        if method != routes[path]:
            raise APIError(405, f"{path} takes {routes[path]}")
        if path == "/v1/models":
            await _send_json(writer, 200, {"object": "list", "data": [
                {"id": self.model_name, "object": "model", "created": 0, "owned_by": "kimi-engine",
                 "max_model_len": self.engine.max_seq_len}]})
        elif path == "/metrics":
            await _send_json(writer, 200, self.metrics())
        else:
            await self._chat(body, reader, writer)

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

    async def _chat(self, body: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.scheduler.alive:
            raise APIError(503, "the engine is not running", "server_error")
        try:
            payload = json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise APIError(400, f"request body is not valid JSON: {e}") from None
        req = parse_request(payload, self.default_temperature)
        if payload.get("model") not in (None, self.model_name):
            raise APIError(404, f"model {payload.get('model')!r} does not exist; this server serves "
                                f"{self.model_name!r}", code="model_not_found", param="model")
        prompt = self._prompt(req)
        room = self.engine.max_seq_len - len(prompt)
        if room < 1:
            raise APIError(400, f"the prompt has {len(prompt)} tokens; the context holds {self.engine.max_seq_len}",
                           code="context_length_exceeded", param="messages")
        budget = min(req.max_tokens or room, room)
        loop, queue = asyncio.get_running_loop(), asyncio.Queue[tuple[int | None, str | None]]()

        def emit(token: int | None, finish: str | None) -> None:  # scheduler thread
            loop.call_soon_threadsafe(queue.put_nowait, (token, finish))

        job = Request(prompt, req.params, budget, emit)
        try:
            self.scheduler.submit(job)
        except QueueFullError as e:
            raise APIError(429, str(e), "rate_limit_error", code="queue_full") from None
        except RequestTooLargeError as e:
            raise APIError(400, str(e), code="context_length_exceeded") from None
        asm = Assembler(self.engine.tokenizer, req, self.model_name)
        watcher = asyncio.ensure_future(reader.read(1))  # EOF (b"") = the client went away
        try:
            await self._respond(req, job, asm, queue, watcher, writer)
        finally:
            watcher.cancel()
            self.scheduler.cancel(job)  # no-op when it already finished

    async def _respond(self, req: ChatRequest, job: Request, asm: Assembler, queue: asyncio.Queue,
                       watcher: asyncio.Future, writer: asyncio.StreamWriter) -> None:
        if req.stream:
            writer.write(_head(200, "text/event-stream", extra="Cache-Control: no-cache\r\n"))
            writer.write(sse(asm.chunk({"role": "assistant", "content": ""})))
        finish = "stop"
        while True:
            get = asyncio.ensure_future(queue.get())
            await asyncio.wait({get, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if not get.done():
                get.cancel()
                return  # disconnected: the finally in _chat cancels the job
            token, reason = get.result()
            if token is None:
                finish = reason or "stop"
                break
            deltas = asm.push(token)
            if req.stream:
                for d in deltas:
                    writer.write(sse(asm.chunk(d)))
                await writer.drain()
            if asm.stopped:
                self.scheduler.cancel(job)
                break
        if finish == "error":
            raise APIError(503, "the engine failed while generating", "server_error")
        tail = asm.finish()
        finish = asm.finish_reason(finish)
        use = usage(len(job.prompt), asm.completion_tokens, job.cached_tokens)
        if not req.stream:
            await _send_json(writer, 200, asm.completion(finish, use))
            return
        for d in tail:
            writer.write(sse(asm.chunk(d)))
        final = asm.chunk({}, finish)
        writer.write(sse(final))
        if req.include_usage:
            writer.write(sse({**final, "choices": [], "usage": use}))
        writer.write(sse("[DONE]"))
        await writer.drain()


def _retry_header(e: APIError) -> str:
    return "Retry-After: 1\r\n" if e.status == 429 else ""


def _head(status: int, ctype: str, length: int | None = None, extra: str = "") -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None else ""
    return (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: {ctype}\r\n{size}"
            f"Connection: close\r\n{extra}\r\n").encode()


async def _send_json(writer: asyncio.StreamWriter, status: int, obj: dict[str, Any], extra: str = "") -> None:
    data = json.dumps(obj).encode()
    try:
        writer.write(_head(status, "application/json", len(data), extra) + data)
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

    def stop(self) -> None:
        async def close() -> None:
            if self.server.server is not None:
                self.server.server.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.server.scheduler.shutdown()
