"""Turning a stored session into something to read: a Rich transcript (`sessions show`), a
Markdown document and JSON lines (`sessions export`)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.text import Text

from kimi_code.llm.base import Message
from kimi_code.session.replay import StoredEvent
from kimi_code.session.store import SessionInfo

RESULT_LINES = 6  # tool results in `show` are cut to this many lines
THINKING_LINES = 12
ARGS_CHARS = 160
_SURROGATE = re.compile("[\ud800-\udfff]")


def relative_time(ts: float, now: float | None = None) -> str:
    """'just now', '5m ago', '3h ago', '2d ago', or the date for anything older than a week."""
    delta = (time.time() if now is None else now) - ts
    if delta < 45:
        return "just now"
    for unit, seconds in (("m", 60), ("h", 3600), ("d", 86400)):
        limit = {"m": 3600, "h": 86400, "d": 7 * 86400}[unit]
        if delta < limit:
            return f"{max(1, int(delta // seconds))}{unit} ago"
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def _clip_lines(text: str, limit: int) -> str:
    lines = text.splitlines()
    if len(lines) <= limit:
        return text.rstrip()
    return "\n".join(lines[:limit]) + f"\n… ({len(lines) - limit} more lines)"


def _one_line(text: str, limit: int = ARGS_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _call_summary(name: str, arguments: str) -> str:
    """`Bash(pytest -q)` style: the most telling argument, else the compact JSON."""
    try:
        args = json.loads(arguments) if arguments else {}
    except ValueError:
        return f"{name}({_one_line(arguments)})  [malformed arguments]"
    if isinstance(args, dict):
        for key in ("command", "file_path", "pattern", "path", "description", "name", "prompt"):
            if isinstance(args.get(key), str):
                return f"{name}({_one_line(args[key])})"
    return f"{name}({_one_line(json.dumps(args, ensure_ascii=False))})"


def printable(text: str) -> str:
    """Text any UTF-8 terminal or file accepts (lone surrogates from binary tool output -> �)."""
    return _SURROGATE.sub("\ufffd", text)


def json_line(obj: Any) -> str:
    """One JSON line; escaped to ASCII only when it holds characters UTF-8 cannot carry."""
    text = json.dumps(obj, ensure_ascii=False)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(obj, ensure_ascii=True)


def _message_of(event: StoredEvent) -> Message | None:
    try:
        message = Message.from_dict(event.payload)
    except (KeyError, TypeError, ValueError):
        return None
    calls = tuple(replace(c, arguments=printable(c.arguments)) for c in message.tool_calls)
    return replace(message, content=printable(message.content),
                   thinking=printable(message.thinking), tool_calls=calls)


def print_transcript(console: Console, info: SessionInfo, events: Iterable[StoredEvent],
                     usage: dict[str, int]) -> None:
    """The readable conversation: user, assistant, thinking (dimmed), abbreviated tools."""
    console.print(Text(f"Session {info.id}", style="bold"))
    header = [f"workspace {info.workspace}", f"model {info.model or '?'}",
              f"created {iso(info.created)}", f"updated {relative_time(info.updated)}"]
    if info.title:
        header.insert(0, f"title {info.title}")
    header.append(f"tokens in {usage['input_tokens']} / out {usage['output_tokens']}")
    console.print(Text("  ·  ".join(header), style="dim"))
    for event in events:
        console.print()
        if event.kind == "message" and (message := _message_of(event)) is not None:
            _print_message(console, message)
        elif event.kind in ("compaction", "rewind"):
            summary = printable(str(event.payload.get("summary", ""))).strip()
            console.print(Text(f"── {_boundary(event)} ──", style="yellow"))
            if summary:
                console.print(Text(_clip_lines(summary, THINKING_LINES), style="dim"))


def _boundary(event: StoredEvent) -> str:
    if event.kind == "compaction":
        return "conversation compacted"
    to_seq = event.payload.get("to_seq")
    return f"conversation rewound to event {to_seq}" if isinstance(to_seq, int) else \
        "conversation rewound"


def _print_message(console: Console, message: Message) -> None:
    if message.role == "user":
        console.print(Text("> ", style="bold cyan") + Text(message.content.rstrip()))
    elif message.role == "assistant":
        if message.thinking.strip():
            console.print(Text(_clip_lines(message.thinking.strip(), THINKING_LINES),
                               style="dim italic"))
        if message.content.strip():
            console.print(Text(message.content.rstrip()))
        for call in message.tool_calls:
            console.print(Text("⏺ ", style="magenta") + Text(_call_summary(call.name, call.arguments),
                                                             style="bold"))
    elif message.role == "tool":
        style = "red" if message.is_error else "dim"
        body = _clip_lines(message.content, RESULT_LINES) or "(no output)"
        console.print(Text("  ⎿ ", style=style) + Text(body.replace("\n", "\n    "), style=style))
    else:
        console.print(Text(f"[{message.role}] ", style="dim") + Text(message.content.rstrip(),
                                                                      style="dim"))


# ---- export ------------------------------------------------------------------------------


def info_dict(info: SessionInfo, usage: dict[str, int] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": info.id, "title": info.title, "workspace": info.workspace, "model": info.model,
        "created": iso(info.created), "updated": iso(info.updated), "parent_id": info.parent_id,
        "messages": info.message_count,
    }
    if usage is not None:
        data["usage"] = usage
    return data


def jsonl_lines(info: SessionInfo, events: Iterable[StoredEvent],
                usage: dict[str, int]) -> Iterator[str]:
    """A {"type": "session"} header line, then one {"type": "event"} line per event."""
    yield json_line({"type": "session", **info_dict(info, usage)})
    for event in events:
        yield json_line({"type": "event", "seq": event.seq, "ts": event.ts, "kind": event.kind,
                         "payload": event.payload})


def _fence(text: str, lang: str = "") -> str:
    """A code fence longer than any backtick run inside, so content cannot break out."""
    longest, run = 0, 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def markdown(info: SessionInfo, events: Iterable[StoredEvent], usage: dict[str, int]) -> str:
    """The whole conversation as Markdown (tool results in full, inside fences)."""
    out = [f"# {info.title or 'Session ' + info.id}", ""]
    for key, value in info_dict(info, usage).items():
        if value not in (None, ""):
            shown = ", ".join(f"{k} {v}" for k, v in value.items()) if isinstance(value, dict) else value
            out.append(f"- **{key}**: {shown}")
    for event in events:
        if event.kind in ("compaction", "rewind"):
            out += ["", f"---\n*{_boundary(event).capitalize()}.*"]
            if summary := printable(str(event.payload.get("summary", ""))).strip():
                out += ["", "> " + summary.replace("\n", "\n> ")]
            continue
        message = _message_of(event) if event.kind == "message" else None
        if message is not None:
            out += ["", *_markdown_message(message)]
    return "\n".join(out) + "\n"


def _markdown_message(message: Message) -> list[str]:
    if message.role == "tool":
        label = "Tool error" if message.is_error else "Tool result"
        return [f"**{label}** (`{message.tool_call_id}`):", "", _fence(message.content)]
    out = [f"## {message.role.capitalize()}", ""]
    if message.thinking.strip():
        out += ["<details><summary>Thinking</summary>", "", message.thinking.strip(), "",
                "</details>", ""]
    if message.content.strip():
        out += [message.content.rstrip(), ""]
    for call in message.tool_calls:
        out += [f"**Tool call** `{call.name}` (`{call.id}`):", "", _fence(call.arguments, "json"), ""]
    return out[:-1] if out[-1] == "" else out
