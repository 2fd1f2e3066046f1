"""Streaming parser: generated text -> reasoning, content and OpenAI-style tool calls.

Works on text (special tokens appear as their marker text), chunked arbitrarily: a marker split
across chunks is held back until it is complete or proven not to be a marker, so feeding a
generation token by token, or character by character, gives the same result as feeding it whole.

Grammar (Kimi K2):  [<think> reasoning </think>] content
                    [<|tool_calls_section_begin|> (<|tool_call_begin|> ID <|tool_call_argument_begin|>
                     ARGS <|tool_call_end|>)* <|tool_calls_section_end|>]   with ID = functions.NAME:IDX
Tool-call arguments are validated: they must be a JSON object; otherwise the call carries `error`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
SECTION_BEGIN, SECTION_END = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"
CALL_BEGIN, ARG_BEGIN, CALL_END = "<|tool_call_begin|>", "<|tool_call_argument_begin|>", "<|tool_call_end|>"
END_OF_TURN = ("<|im_end|>", "[EOS]")

State = Literal["content", "reasoning", "section", "call_id", "call_args", "done"]
_MARKERS: dict[str, tuple[str, ...]] = {
    "content": (THINK_OPEN, SECTION_BEGIN, CALL_BEGIN, *END_OF_TURN),
    "reasoning": (THINK_CLOSE, SECTION_BEGIN, *END_OF_TURN),
    "section": (CALL_BEGIN, SECTION_END, *END_OF_TURN),
    "call_id": (ARG_BEGIN, CALL_END, *END_OF_TURN),
    "call_args": (CALL_END, *END_OF_TURN),
}


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call. `arguments` is the raw JSON text; `error` is set when it is not a JSON object."""

    index: int
    id: str
    name: str
    arguments: str
    error: str | None = None

    def to_openai(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class Delta:
    """One piece of output: kind "reasoning" / "content" with text, or "tool_call" with a call."""

    kind: Literal["reasoning", "content", "tool_call"]
    text: str = ""
    tool_call: ToolCall | None = None


@dataclass
class ParsedMessage:
    reasoning: str = ""
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)


def validate_arguments(raw: str) -> str | None:
    """None if `raw` is a JSON object, else a message saying what is wrong."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        return f"arguments are not valid JSON: {e.msg} at position {e.pos}"
    if not isinstance(value, dict):
        return f"arguments must be a JSON object, got {type(value).__name__}"
    return None


def split_call_id(call_id: str) -> str:
    """`functions.get_weather:0` -> `get_weather` (tolerates a missing prefix or index)."""
    name = call_id.strip()
    name = name.removeprefix("functions.")
    return name.rsplit(":", 1)[0] if ":" in name else name


class StreamParser:
    """Feed text chunks, get Deltas. `thinking=True` when the prompt already opened `<think>`."""

    def __init__(self, thinking: bool = False) -> None:
        self.state: State = "reasoning" if thinking else "content"
        self._buf = ""
        self._call_id = ""
        self._call_args = ""
        self._calls = 0
        self.message = ParsedMessage()

    @property
    def done(self) -> bool:
        """True once an end-of-turn marker was seen; later text is ignored."""
        return self.state == "done"

    def feed(self, text: str) -> list[Delta]:
        if self.state == "done":
            return []
        self._buf += text
        out: list[Delta] = []
        while self.state != "done":
            markers = _MARKERS[self.state]
            hit = min(((self._buf.find(m), m) for m in markers if m in self._buf), default=None)
            if hit is None:
                keep = _partial_marker_len(self._buf, markers)
                self._emit(self._buf[: len(self._buf) - keep], out)
                self._buf = self._buf[len(self._buf) - keep :]
                break
            pos, marker = hit
            self._emit(self._buf[:pos], out)
            self._buf = self._buf[pos + len(marker) :]
            self._transition(marker, out)
        return out

    def finish(self) -> list[Delta]:
        """End of stream: flush held-back text; an unterminated tool call is reported as an error."""
        out: list[Delta] = []
        if self.state in ("content", "reasoning"):
            self._emit(self._buf, out)
        elif self.state in ("call_id", "call_args"):
            self._emit(self._buf, out)
            self._close_call(out, error="tool call was cut off before <|tool_call_end|>")
        self._buf = ""
        self.state = "done"
        return out

    def _emit(self, text: str, out: list[Delta]) -> None:
        if not text:
            return
        if self.state == "content":
            self.message.content += text
            out.append(Delta("content", text))
        elif self.state == "reasoning":
            self.message.reasoning += text
            out.append(Delta("reasoning", text))
        elif self.state == "call_id":
            self._call_id += text
        elif self.state == "call_args":
            self._call_args += text
        # "section": whitespace between calls is not part of any output

    def _transition(self, marker: str, out: list[Delta]) -> None:
        if marker in END_OF_TURN:
            if self.state in ("call_id", "call_args"):
                self._close_call(out, error="tool call was cut off before <|tool_call_end|>")
            self.state = "done"
        elif marker == THINK_OPEN:
            self.state = "reasoning"
        elif marker == THINK_CLOSE:
            self.state = "content"
        elif marker == SECTION_BEGIN:
            self.state = "section"
        elif marker == SECTION_END:
            self.state = "content"
        elif marker == CALL_BEGIN:
            self.state, self._call_id, self._call_args = "call_id", "", ""
        elif marker == ARG_BEGIN:
            self.state = "call_args"
        elif marker == CALL_END:
            self._close_call(out, error=None if self.state == "call_args" else "tool call has no arguments")
            self.state = "section"

    def _close_call(self, out: list[Delta], error: str | None) -> None:
        call_id = self._call_id.strip()
        args = self._call_args.strip()
        if error is None:
            error = validate_arguments(args)
        if not call_id and error is None:
            error = "tool call has no id"
        call = ToolCall(self._calls, call_id, split_call_id(call_id), args, error)
        self._calls += 1
        self.message.tool_calls.append(call)
        out.append(Delta("tool_call", tool_call=call))


def _partial_marker_len(buf: str, markers: tuple[str, ...]) -> int:
    """Length of the longest suffix of buf that is a proper prefix of some marker."""
    best = 0
    for m in markers:
        for n in range(min(len(m) - 1, len(buf)), best, -1):
            if buf.endswith(m[:n]):
                best = n
                break
    return best


def parse(text: str, thinking: bool = False) -> ParsedMessage:
    """Parse a complete generation in one go."""
    parser = StreamParser(thinking)
    parser.feed(text)
    parser.finish()
    return parser.message
