"""Server-Sent Events on top of the SDKs' raw streaming responses.

Both providers let the official SDK build, authenticate and send requests and raise its typed HTTP
errors, but read the event stream as plain JSON dicts: building a pydantic model per chunk costs
several times more CPU (benchmarks/llm_stream.py), which adds up when dozens of subagents stream
at once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from kimi_code.llm.base import ProviderError


async def data_events(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The `data` of each complete SSE message. A message cut off before its blank line is
    dropped, as the SSE spec says, so a broken connection never yields half a JSON object."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
        # `event:`, `id:`, `retry:` and `:` comments carry nothing the providers need: every
        # payload names its own type.


async def named_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    """(event name, data) of each complete SSE message; the name is "" when the message has no
    `event:` field. Messages without data (keep-alive comments) are skipped; a message cut off
    before its blank line is dropped, as in `data_events`."""
    name = ""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield name, "\n".join(data)
                data = []
            name = ""
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
        elif line.startswith("event:"):
            value = line[6:]
            name = value[1:] if value.startswith(" ") else value


def decode(data: str, label: str) -> dict[str, Any]:
    """One event payload as a dict; anything else is a (retryable) protocol error."""
    try:
        value = json.loads(data)
    except ValueError:
        raise ProviderError(f"{label}: malformed stream event: {data[:200]!r}",
                            retryable=True) from None
    if not isinstance(value, dict):
        raise ProviderError(f"{label}: unexpected stream event: {data[:200]!r}", retryable=True)
    return value
