"""The provider-neutral conversation model and the ChatProvider protocol.

Every provider (OpenAI chat-completions, Anthropic messages, the embedded engine) turns its wire
format into the stream events below; the agent loop only ever sees these types.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from kimi_code.llm.scrub import scrub

_SURROGATE = re.compile("[\ud800-\udfff]")


def sendable(text: str) -> str:
    """`text` with lone surrogates (undecodable bytes of file names or command output, decoded
    with surrogateescape) replaced by U+FFFD: a request must be valid UTF-8, and one such
    character in the history would fail every later request of the session."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """A tool call as the model produced it. `arguments` is the raw JSON text, unparsed, so that
    malformed JSON reaches the loop (which answers with an error result) instead of crashing."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ThinkingBlock:
    """One thinking block exactly as the model produced it, kept so that it can be sent back
    verbatim: Anthropic checks thinking blocks by their signature and rejects a request whose
    thinking was modified, merged or reordered (interleaved thinking yields several per message).

    `redacted` holds the opaque `data` of a redacted_thinking block (`thinking` is then empty).
    `text_offset` and `calls_before` say where the block stood in its message: after that many
    characters of Message.content and that many of Message.tool_calls.
    """

    thinking: str = ""
    signature: str = ""
    redacted: str = ""
    text_offset: int = 0
    calls_before: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"thinking": self.thinking, "signature": self.signature,
                "redacted": self.redacted, "text_offset": self.text_offset,
                "calls_before": self.calls_before}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ThinkingBlock:
        return cls(thinking=str(data.get("thinking", "")), signature=str(data.get("signature", "")),
                   redacted=str(data.get("redacted", "")),
                   text_offset=int(data.get("text_offset", 0)),
                   calls_before=int(data.get("calls_before", 0)))


@dataclass(frozen=True)
class Message:
    """One conversation turn.

    `thinking` is the whole reasoning text (shown, counted, echoed to OpenAI-style servers).
    `thinking_blocks`, when the provider gives them, are the same reasoning as separate signed
    blocks in stream order; Anthropic needs those back exactly. Messages stored before the field
    existed have none and fall back to `thinking` + `thinking_signature` as one block.
    """

    role: Role
    content: str = ""
    thinking: str = ""
    # Provider-specific opaque data that must be echoed back (e.g. Anthropic thinking signature).
    thinking_signature: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""  # role == "tool": which call this answers
    is_error: bool = False  # role == "tool": the result is an error
    thinking_blocks: tuple[ThinkingBlock, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "role": self.role,
            "content": self.content,
            "thinking": self.thinking,
            "thinking_signature": self.thinking_signature,
            "tool_calls": [
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in self.tool_calls
            ],
            "tool_call_id": self.tool_call_id,
            "is_error": self.is_error,
        }
        if self.thinking_blocks:  # absent otherwise: stored payloads keep their old shape
            data["thinking_blocks"] = [b.to_dict() for b in self.thinking_blocks]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        return cls(
            role=data["role"],
            content=data.get("content", ""),
            thinking=data.get("thinking", ""),
            thinking_signature=data.get("thinking_signature", ""),
            tool_calls=tuple(ToolCall(**c) for c in data.get("tool_calls", ())),
            tool_call_id=data.get("tool_call_id", ""),
            is_error=bool(data.get("is_error", False)),
            thinking_blocks=tuple(ThinkingBlock.from_dict(b)
                                  for b in data.get("thinking_blocks") or ()),
        )


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_tokens,
            "cache_creation_input_tokens": self.cache_write_tokens,
        }


@dataclass(frozen=True)
class ToolSpec:
    """A tool as declared to the model: name, description and JSON-schema parameters."""

    name: str
    description: str
    parameters: dict[str, Any]


# ---- stream events (provider -> loop) ------------------------------------------------------


@dataclass(frozen=True)
class TextChunk:
    text: str


@dataclass(frozen=True)
class ThinkingChunk:
    text: str
    signature: str = ""


@dataclass(frozen=True)
class ThinkingBlockDone:
    """A thinking block has ended; `block` is the whole of it, signature and position included.
    Its text was already streamed as ThinkingChunks (for display); this is what the assistant
    Message keeps in `thinking_blocks` so the block can be sent back exactly."""

    block: ThinkingBlock


@dataclass(frozen=True)
class ToolCallDone:
    """A tool call whose arguments have fully streamed. Providers emit it as soon as they know
    the call is complete (next call starts, or the stream ends), so the loop can start read-only
    tools while later calls still stream."""

    call: ToolCall


@dataclass(frozen=True)
class StreamEnd:
    """The last event of a successful stream. `stop_reason`: end_turn | tool_use | max_tokens."""

    usage: Usage
    stop_reason: str = "end_turn"


StreamEvent = TextChunk | ThinkingChunk | ThinkingBlockDone | ToolCallDone | StreamEnd


# ---- errors ----------------------------------------------------------------------------------


class ProviderError(Exception):
    """A failure talking to the model. `retryable` says whether the loop may try again;
    `retry_after` is the server's hint in seconds, when it gave one. The message is scrubbed of
    credentials here, once for every provider (issue 15: servers echo the Authorization header)."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(scrub(message))
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class AuthError(ProviderError):
    """Bad or missing credentials (401/403): never retried."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message, retryable=False, status=status)


class QuotaError(ProviderError):
    """Billing/quota exhausted (e.g. insufficient_quota): never retried."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message, retryable=False, status=status)


class ContextOverflowError(ProviderError):
    """The request did not fit the model's context window: the loop compacts and retries."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message, retryable=False, status=status)


@runtime_checkable
class ChatProvider(Protocol):
    """One model endpoint. `stream` yields TextChunk/ThinkingChunk/ThinkingBlockDone/ToolCallDone
    events and ends with exactly one StreamEnd; it raises ProviderError (never SDK exceptions) on failure.
    Providers do not retry a whole step themselves: the loop owns retries so that it can restart
    from the last consistent state."""

    model: str
    context_window: int

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        max_tokens: int | None = None,
    ) -> AsyncIterator[StreamEvent]: ...

    async def aclose(self) -> None: ...
