"""The conversation held by one agent: history, token accounting and the pinned ledger.

Token accounting trusts the provider: after each step we know exactly how many input tokens the
prefix cost (`usage.input_tokens`) plus what the model wrote; only messages appended since are
estimated (chars / 4). That is what decides when to compact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kimi_code.llm.base import Message, Usage

CHARS_PER_TOKEN = 4


def estimate_tokens(message: Message) -> int:
    size = len(message.content) + len(message.thinking)
    size += sum(len(c.name) + len(c.arguments) + 16 for c in message.tool_calls)
    return size // CHARS_PER_TOKEN + 4


@dataclass
class Context:
    """History (without the system prompt) plus what we know about its size."""

    system_prompt: str
    context_window: int
    messages: list[Message] = field(default_factory=list)
    ledger: list[str] = field(default_factory=list)
    total_usage: Usage = field(default_factory=Usage)
    # Tokens of the whole request at the last step (input + output), and how many messages
    # that figure covered.
    _known_tokens: int = 0
    _known_count: int = 0

    def add(self, message: Message) -> None:
        self.messages.append(message)

    def system_text(self) -> str:
        if not self.ledger:
            return self.system_prompt
        items = "\n".join(f"- {item}" for item in self.ledger)
        return (
            f"{self.system_prompt}\n\n# Pinned ledger\nConstraints and decisions the user stated "
            f"earlier in this session. They always apply, even though the conversation that "
            f"established them was summarised:\n{items}"
        )

    def wire_messages(self) -> list[Message]:
        """What is sent to the provider: system prompt first, then the history."""
        return [Message(role="system", content=self.system_text()), *self.messages]

    def record_usage(self, usage: Usage) -> None:
        """Called after a step whose assistant message has already been added."""
        self.total_usage = self.total_usage + usage
        if usage.input_tokens or usage.output_tokens:
            self._known_tokens = (usage.input_tokens + usage.cache_read_tokens
                                  + usage.cache_write_tokens + usage.output_tokens)
            self._known_count = len(self.messages)

    def used_tokens(self) -> int:
        """Best estimate of the next request's size in tokens."""
        if self._known_count > len(self.messages):  # history shrank (compaction, rewind)
            self._known_tokens, self._known_count = 0, 0
        if not self._known_tokens:
            base = (len(self.system_text()) // CHARS_PER_TOKEN)
            return base + sum(estimate_tokens(m) for m in self.messages)
        return self._known_tokens + sum(estimate_tokens(m) for m in self.messages[self._known_count:])

    def used_fraction(self) -> float:
        return self.used_tokens() / max(1, self.context_window)

    def replace_history(self, messages: list[Message], ledger: list[str]) -> None:
        self.messages = list(messages)
        self.ledger = list(ledger)
        self._known_tokens, self._known_count = 0, 0

    def dangling_tool_calls(self) -> list[str]:
        """Ids of tool calls in the last assistant message that have no result yet."""
        for index in range(len(self.messages) - 1, -1, -1):
            message = self.messages[index]
            if message.role == "assistant":
                answered = {m.tool_call_id for m in self.messages[index + 1:] if m.role == "tool"}
                return [c.id for c in message.tool_calls if c.id not in answered]
        return []
