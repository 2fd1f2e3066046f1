"""The assistant's answer as streaming Markdown, and its thinking (dim, collapsible).

Streaming appends only to the last Markdown block of this message (Textual's MarkdownStream
batches fragments that arrive faster than they can be drawn); nothing earlier in the transcript
is re-rendered per token. Code fences are highlighted with the active theme's syntax colours."""

from __future__ import annotations

from rich.text import Text
from textual.content import Content
from textual.highlight import highlight
from textual.widgets import Collapsible, Markdown, Static
from textual.widgets._markdown import MarkdownFence, MarkdownStream

from kimi_code.ui.themes import highlight_theme

THINKING_TAIL_LINES = 6


class KimiFence(MarkdownFence):
    """A code fence coloured by the theme's [syntax] table."""

    @classmethod
    def highlight(cls, code: str, language: str, ansi: bool = False, dark: bool = False) -> Content:
        if ansi:
            return super().highlight(code, language, ansi=ansi, dark=dark)
        return highlight(code, language=language or None, theme=highlight_theme())


class AssistantBlock(Markdown):
    """One assistant message. `append` while streaming, `finish` when the message is complete."""

    DEFAULT_CSS = """
    AssistantBlock { margin: 1 0 0 0; padding: 0 1; background: $background; }
    AssistantBlock > MarkdownBlock:last-child { margin-bottom: 0; }
    """
    BLOCKS = {**Markdown.BLOCKS, "fence": KimiFence, "code_block": KimiFence}

    def __init__(self, text: str = "") -> None:
        super().__init__(text)
        self._stream: MarkdownStream | None = None
        self._parts = [text]  # the whole message, for rebuild()
        self._early: list[str] = []  # fragments that arrived before the widget was mounted

    @property
    def text(self) -> str:
        return "".join(self._parts)

    async def append_text(self, fragment: str) -> None:
        self._parts.append(fragment)
        if not self.is_mounted:
            self._early.append(fragment)
            return
        if self._stream is None:
            self._stream = Markdown.get_stream(self)
        if self._early:
            fragment = "".join(self._early) + fragment
            self._early.clear()
        await self._stream.write(fragment)

    async def finish(self) -> None:
        """Flush and stop the stream (idempotent)."""
        if self._early and self.is_mounted:
            early, self._early = "".join(self._early), []
            await self.append(early)
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.stop()

    def rebuild(self) -> AssistantBlock:
        return AssistantBlock(self.text)


class ThinkingBlock(Collapsible):
    """The model's reasoning: dim; while it streams the last lines show, then it collapses."""

    DEFAULT_CSS = """
    ThinkingBlock { margin: 1 0 0 0; padding: 0; border: none; background: $background; }
    ThinkingBlock > Contents { padding: 0 0 0 2; }
    ThinkingBlock CollapsibleTitle { color: $text-muted; text-style: italic; }
    ThinkingBlock .thinking-text { color: $text-muted; text-style: italic; }
    """

    def __init__(self, text: str = "", *, done: bool = False) -> None:
        self.thinking = text
        self.done = done
        self._body = Static(self._visible_text(), classes="thinking-text")
        super().__init__(self._body, title=self._heading(), collapsed=done)

    def _heading(self) -> str:
        return "Thought (expand to read)" if self.done else "Thinking…"

    def _visible_text(self) -> Text:
        if self.done:
            return Text(self.thinking)
        # While streaming only the tail is drawn: the cost per update stays constant.
        lines = self.thinking[-4000:].splitlines()
        return Text("\n".join(lines[-THINKING_TAIL_LINES:]))

    def append_text(self, fragment: str) -> None:
        self.thinking += fragment
        self._body.update(self._visible_text())

    def finish(self) -> None:
        if self.done:
            return
        self.done = True
        self.title = self._heading()
        self._body.update(Text(self.thinking))
        self.collapsed = True

    def rebuild(self) -> ThinkingBlock:
        return ThinkingBlock(self.thinking, done=True)
