"""The prompt editor: multi-line (Enter sends; Shift+Enter, Ctrl+J or Alt+Enter add a line),
history on Up/Down, `/` and `@` completion, and long pastes collapsed to a chip that is expanded
again when the prompt is sent."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.widgets import TextArea

from kimi_code.ui.history import InputHistory
from kimi_code.ui.mentions import mention_at
from kimi_code.ui.widgets.completion_menu import CompletionMenu

PASTE_CHIP_CHARS = 800
PASTE_CHIP_LINES = 12
NEWLINE_KEYS = ("shift+enter", "ctrl+j", "alt+enter", "ctrl+enter")
_CHIP = re.compile(r"\[Pasted text #(\d+) \+\d+ lines\]")

Source = Callable[[str], list[tuple[str, str]]]


class PromptInput(TextArea):
    DEFAULT_CSS = """
    PromptInput {
        height: auto;
        min-height: 3;
        max-height: 12;
        margin: 0 1;
        border: round $primary 60%;
        background: $background;
    }
    PromptInput:focus { border: round $primary; }
    PromptInput.-busy { border: round $accent; }
    """

    @dataclass
    class Submitted(Message):
        """The user pressed Enter: `text` with paste chips expanded."""

        text: str

    def __init__(self, history: InputHistory, menu: CompletionMenu, *,
                 slash_source: Source, file_source: Source, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus",
                         id=id, classes=classes)
        self.prompt_history = history
        self.menu = menu
        self.slash_source, self.file_source = slash_source, file_source
        self.pastes: dict[int, str] = {}

    # ---- keys ------------------------------------------------------------------------------

    async def _on_key(self, event: events.Key) -> None:
        handler = self._key_handler(event.key)
        if handler is not None:
            event.stop()
            event.prevent_default()
            handler()
            return
        await super()._on_key(event)

    def _insert_newline(self) -> None:
        self.insert("\n")

    def _key_handler(self, key: str) -> Callable[[], None] | None:
        menu_open = self.menu.visible
        if key == "enter":
            if menu_open and self.menu.kind == "slash":
                return self._accept_and_submit  # Enter on a command runs it
            return self.accept_completion if menu_open else self.submit
        if key in NEWLINE_KEYS:
            return self._insert_newline
        if key == "tab" and menu_open:
            return self.accept_completion
        if key == "escape" and menu_open:
            return self.menu.hide
        if key == "up":
            if menu_open:
                return lambda: self.menu.move(-1)
            if self.cursor_location[0] == 0:
                return self.history_previous
        if key == "down":
            if menu_open:
                return lambda: self.menu.move(1)
            if self.cursor_location[0] == self.document.line_count - 1:
                return self.history_next
        return None

    def _accept_and_submit(self) -> None:
        self.accept_completion()
        self.submit()

    def submit(self) -> None:
        text = self.expanded_text()
        if not text.strip():
            return
        self.prompt_history.add(self.text)
        self.clear()
        self.pastes.clear()
        self.menu.hide()
        self.post_message(self.Submitted(text))

    def expanded_text(self) -> str:
        return _CHIP.sub(lambda m: self.pastes.get(int(m.group(1)), m.group(0)), self.text)

    def history_previous(self) -> None:
        entry = self.prompt_history.previous(self.text)
        if entry is not None:
            self._show(entry)

    def history_next(self) -> None:
        entry = self.prompt_history.next()
        if entry is not None:
            self._show(entry)

    def _show(self, text: str) -> None:
        self.load_text(text)
        self.move_cursor(self.document.end)

    # ---- paste -----------------------------------------------------------------------------

    async def _on_paste(self, event: events.Paste) -> None:
        text = event.text
        lines = text.count("\n") + 1
        if len(text) < PASTE_CHIP_CHARS and lines < PASTE_CHIP_LINES:
            await super()._on_paste(event)
            return
        event.stop()
        event.prevent_default()
        number = len(self.pastes) + 1
        self.pastes[number] = text
        self.insert(f"[Pasted text #{number} +{lines} lines]")

    # ---- completion ------------------------------------------------------------------------

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self.update_completion()

    def update_completion(self) -> None:
        row, column = self.cursor_location
        line = self.document.get_line(row)
        before = line[:column]
        if row == 0 and self.document.line_count == 1 and re.fullmatch(r"/[\w-]*", before):
            self.menu.show("slash", self.slash_source(before))
            return
        query = mention_at(before)
        if query is not None:
            self.menu.show("file", self.file_source(query))
            return
        self.menu.hide()

    def accept_completion(self) -> None:
        value = self.menu.selected()
        kind = self.menu.kind
        self.menu.hide()
        if value is None:
            return
        row, column = self.cursor_location
        before = self.document.get_line(row)[:column]
        if kind == "slash":
            start = 0
            replacement = value + " "
        else:
            start = before.rfind("@") + 1
            replacement = value + " "
        self.replace(replacement, (row, start), (row, column))
        self.menu.hide()
