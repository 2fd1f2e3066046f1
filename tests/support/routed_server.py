"""A scripted server whose answers depend on the conversation, not on arrival order.

Subagents run concurrently, so the order in which their requests reach a shared script is not
deterministic. `RoutedServer` keeps everything else of `ScriptedServer` (real HTTP, SSE, both
APIs, faults, delays) but picks the entry from `routes`: the first route whose marker occurs in
the conversation's first user message, indexed by the number of assistant messages already in
the request (the step). A route's last entry answers every later step. An entry with
`"fail_first": N` answers its first N requests with its "error" and later ones without it (a
transient fault: 429, 500).
"""

from __future__ import annotations

import threading
from typing import Any

from tests.support.scripted_server import ScriptedServer


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def conversation_key(body: Any) -> tuple[str, int]:
    """(first user message text, number of assistant messages) of a model request body."""
    messages = body.get("messages", []) if isinstance(body, dict) else []
    first = next((_text(m.get("content")) for m in messages if m.get("role") == "user"), "")
    steps = sum(1 for m in messages if m.get("role") == "assistant")
    return first, steps


class RoutedServer(ScriptedServer):
    def __init__(self, routes: dict[str, list[dict[str, Any]]], **kwargs: Any) -> None:
        super().__init__([], **kwargs)
        self.routes = routes
        self._local = threading.local()
        self.unrouted = 0
        self._hits: dict[tuple[str, int], int] = {}

    def _record(self, method: str, path: str, headers: Any, body: Any) -> None:
        super()._record(method, path, headers, body)
        self._local.body = body  # the handler calls _take next, on this same thread

    def _take(self) -> tuple[dict[str, Any], int] | None:
        first, step = conversation_key(getattr(self._local, "body", None))
        with self._lock:
            self._answered += 1
            number = self._answered
            for marker, entries in self.routes.items():
                if marker in first:
                    index = min(step, len(entries) - 1)
                    entry = entries[index]
                    if "fail_first" in entry:
                        hits = self._hits[(marker, index)] = self._hits.get((marker, index), 0) + 1
                        if hits > int(entry["fail_first"]):
                            entry = {k: v for k, v in entry.items() if k not in ("error", "fail_first")}
                    return entry, number
            self.unrouted += 1
        return None  # answered as "script exhausted" (HTTP 500)
