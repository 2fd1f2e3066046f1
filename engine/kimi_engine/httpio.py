"""Reading one HTTP/1.1 request off an asyncio stream, defensively (stdlib only).

Everything a hostile or unlucky client can send ends in an APIError with the right status, never
in an exception the server did not expect: a malformed request line or header (400), conflicting
or negative Content-Length (400), a body over the limit (413, announced or chunked), headers over
the stream limit (431), a client that sends nothing or trickles bytes (408 after `timeout`),
Transfer-Encoding other than chunked (501). `Expect: 100-continue` is answered before the body is
read, so clients that wait for it (curl with large bodies) do not stall.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from kimi_engine.openai_api import APIError


@dataclass
class HTTPRequest:
    method: str
    path: str  # without the query string
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes


class ReadAborted(Exception):
    """The client closed the connection before a whole request arrived: nothing to answer."""


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_body: int,
                       timeout: float) -> HTTPRequest:
    """One request (head and body) within `timeout` seconds; raises APIError or ReadAborted."""
    try:
        async with asyncio.timeout(timeout):
            return await _read(reader, writer, max_body)
    except TimeoutError:
        raise APIError(408, f"the request did not arrive within {timeout:g}s", code="request_timeout") from None
    except (asyncio.IncompleteReadError, ConnectionError):
        raise ReadAborted from None


async def _read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_body: int) -> HTTPRequest:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise APIError(431, "request headers too large") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
        raise APIError(400, "malformed request line; expected e.g. 'POST /v1/chat/completions HTTP/1.1'")
    headers = _headers(lines[1:])
    chunked = _chunked(headers)
    length = None if chunked else _content_length(headers)
    if length is not None and length > max_body:
        raise APIError(413, f"request body of {length} bytes exceeds the limit of {max_body}", code="body_too_large")
    if headers.get("expect", "").lower() == "100-continue" and (chunked or length):
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if chunked:
        body = await _read_chunked(reader, max_body)
    else:
        body = await reader.readexactly(length) if length else b""
    return HTTPRequest(parts[0], parts[1].split("?")[0], headers, body)


def _headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    lengths: set[str] = set()
    for line in lines:
        if not line:
            continue
        name, colon, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if not colon or not name or " " in name:
            raise APIError(400, f"malformed header line {line[:60]!r}")
        if name == "content-length":
            lengths.add(value)
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if len(lengths) > 1:
        raise APIError(400, "conflicting Content-Length headers")
    if lengths:
        headers["content-length"] = lengths.pop()
    return headers


def _chunked(headers: dict[str, str]) -> bool:
    encoding = headers.get("transfer-encoding")
    if encoding is None:
        return False
    if encoding.lower() != "chunked":
        raise APIError(501, f"Transfer-Encoding {encoding!r} is not supported (only chunked)")
    if "content-length" in headers:  # a request-smuggling shape: refuse rather than pick one
        raise APIError(400, "a request may not carry both Content-Length and Transfer-Encoding")
    return True


def _content_length(headers: dict[str, str]) -> int:
    value = headers.get("content-length", "0")
    if not (value.isascii() and value.isdigit()):  # also refuses "-5", "+5", "1_000", " 5 5"
        raise APIError(400, f"bad Content-Length {value[:40]!r}")
    if len(value) > 18:  # beyond any limit, and int() refuses strings of more than 4300 digits
        raise APIError(413, f"request body of {value[:20]}... bytes exceeds the limit", code="body_too_large")
    return int(value)


async def _read_chunked(reader: asyncio.StreamReader, max_body: int) -> bytes:
    """A chunked body: `size-in-hex[;ext]\\r\\n data \\r\\n` ... `0\\r\\n` trailers `\\r\\n`."""
    body = bytearray()
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError:
            raise APIError(400, "malformed chunked body (chunk size line too long)") from None
        size_text = line.split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise APIError(400, f"malformed chunked body (chunk size {size_text[:20]!r})") from None
        if size < 0:
            raise APIError(400, "malformed chunked body (negative chunk size)")
        if size == 0:
            break
        if len(body) + size > max_body:
            raise APIError(413, f"chunked request body exceeds the limit of {max_body} bytes", code="body_too_large")
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise APIError(400, "malformed chunked body (chunk not followed by CRLF)")
    while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailer fields: read and ignored
        pass
    return bytes(body)


async def linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seconds: float = 5.0) -> None:
    """After answering a request whose body was not read (413, 431, 400 ...): half-close and
    discard what the client is still sending for a while. Closing with unread data makes the
    kernel send a reset, and a client still uploading would see 'connection reset' instead of
    our answer."""
    try:
        await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(seconds):
            while await reader.read(1 << 16):
                pass
    except (TimeoutError, ConnectionError, OSError):
        pass
