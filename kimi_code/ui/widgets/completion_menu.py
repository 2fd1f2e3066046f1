"""The completion menu above the input: slash commands and `@` file mentions."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option


class CompletionMenu(OptionList, can_focus=False):
    """Shown while a `/command` or `@path` is being typed; the input drives it."""

    DEFAULT_CSS = """
    CompletionMenu {
        display: none;
        height: auto;
        max-height: 10;
        margin: 0 1;
        border: round $primary;
        background: $surface;
    }
    CompletionMenu.-visible { display: block; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.kind = ""  # "slash" | "file"
        self.values: list[str] = []

    @property
    def visible(self) -> bool:
        return self.has_class("-visible")

    @visible.setter
    def visible(self, value: bool | str) -> None:  # Widget.visible is read-write: so is this
        self.set_class(value is True or value == "visible", "-visible")

    def show(self, kind: str, items: list[tuple[str, str]]) -> None:
        """Show `items` as (value to insert, description); hides itself when empty."""
        if not items:
            self.hide()
            return
        self.kind = kind
        self.values = [value for value, _ in items]
        self.clear_options()
        options = []
        for value, description in items:
            label = Text(value, style="bold")
            if description:
                label.append(f"  {description}", style="dim")
            options.append(Option(label))
        self.add_options(options)
        self.highlighted = 0
        self.add_class("-visible")

    def hide(self) -> None:
        self.remove_class("-visible")
        self.values = []

    def move(self, delta: int) -> None:
        if self.values:
            self.highlighted = ((self.highlighted or 0) + delta) % len(self.values)

    def selected(self) -> str | None:
        if not self.visible or not self.values:
            return None
        return self.values[self.highlighted or 0]
