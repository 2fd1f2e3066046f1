"""A modal list to pick one thing from: a session to resume, a model, a mode, a theme, a
checkpoint. Type to filter; Enter picks; Esc cancels."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from kimi_code.ui.command_host import Choice

__all__ = ["Choice", "PickerScreen"]


class PickerScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    PickerScreen { align: center middle; }
    PickerScreen > #dialog { width: 90%; max-width: 110; height: auto; max-height: 80%;
                             border: thick $primary; background: $surface; padding: 1 2; }
    PickerScreen #title { text-style: bold; margin-bottom: 1; }
    PickerScreen #filter { margin-bottom: 1; }
    PickerScreen OptionList { height: auto; max-height: 24; }
    PickerScreen #empty { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel"),
                Binding("down", "move(1)", show=False), Binding("up", "move(-1)", show=False)]

    def __init__(self, title: str, choices: list[Choice], *, current: str | None = None,
                 empty: str = "Nothing to pick from.") -> None:
        super().__init__()
        self.title_text, self.choices, self.current, self.empty = title, choices, current, empty
        self.shown: list[Choice] = list(choices)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, id="title")
            if not self.choices:
                yield Label(self.empty, id="empty")
                return
            yield Input(placeholder="type to filter", id="filter")
            yield OptionList(*self._options(), id="options")

    def _options(self) -> list[Option]:
        options = []
        for choice in self.shown:
            label = Text(("● " if choice.value == self.current else "  ") + choice.label,
                         style="bold" if choice.value == self.current else "")
            if choice.detail:
                label.append(f"  {choice.detail}", style="dim")
            options.append(Option(label, id=choice.value))
        return options

    def on_mount(self) -> None:
        if self.choices:
            self.query_one("#filter", Input).focus()
            values = [c.value for c in self.shown]
            option_list = self.query_one(OptionList)
            option_list.highlighted = values.index(self.current) if self.current in values else 0

    def on_input_changed(self, event: Input.Changed) -> None:
        needle = event.value.lower()
        self.shown = [c for c in self.choices if needle in f"{c.value} {c.label} {c.detail}".lower()]
        option_list = self.query_one(OptionList)
        option_list.clear_options()
        option_list.add_options(self._options())
        option_list.highlighted = 0 if self.shown else None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        option_list = self.query_one(OptionList)
        if option_list.highlighted is not None and self.shown:
            self.dismiss(self.shown[option_list.highlighted].value)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_move(self, delta: int) -> None:
        if self.choices and self.shown:
            option_list = self.query_one(OptionList)
            option_list.highlighted = ((option_list.highlighted or 0) + delta) % len(self.shown)

    def action_cancel(self) -> None:
        self.dismiss(None)
