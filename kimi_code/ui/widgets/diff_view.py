"""A unified diff, coloured with the active theme's [diff] palette."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from kimi_code.ui.render import diff_text


class DiffView(Widget):
    """Renders `diff` (unified format); re-colours itself when the theme changes."""

    DEFAULT_CSS = """
    DiffView { height: auto; padding: 0 1; background: $surface; }
    """

    def __init__(self, diff: str, *, max_lines: int = 400) -> None:
        super().__init__()
        self.diff = diff
        self.max_lines = max_lines

    def render(self) -> Text:
        palette = getattr(self.app, "diff_palette", None)
        return diff_text(self.diff, palette, max_lines=self.max_lines)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.refresh(layout=True)
