"""The small transcript blocks: the user's prompt, notices (retries, compaction, errors), the
todo list. Each can `rebuild()` itself, which is how the transcript drops old widgets and brings
them back on demand."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from kimi_code.ui.render import visible
from kimi_code.ui.shell_context import split as split_shell_context


class UserBlock(Static):
    """A prompt the user sent (or a steering message injected into a running turn)."""

    DEFAULT_CSS = """
    UserBlock {
        background: $boost;
        border-left: thick $primary;
        padding: 0 1;
        margin: 1 0 0 0;
        color: $foreground;
    }
    UserBlock.-steer { border-left: thick $accent; }
    """

    def __init__(self, text: str, *, steer: bool = False) -> None:
        self.text = text
        self.steer = steer
        super().__init__(self._render_text(), classes="-steer" if steer else "")

    def _render_text(self) -> Text:
        """The typed message; `!command` outputs sent with it shrink to one line each."""
        contexts, typed = split_shell_context(self.text)
        text = Text(("↳ " if self.steer else "› ") + visible(typed))
        for context in contexts:
            lines = context.line_count
            text.append(f"\n  + output of !{visible(context.command, keep_newlines=False)[:80]}"
                        f" ({lines} line{'s' if lines != 1 else ''}, exit {context.exit_code})",
                        style="dim")
        return text

    def rebuild(self) -> UserBlock:
        return UserBlock(self.text, steer=self.steer)


class NoticeBlock(Static):
    """Something the user should see that is not conversation: level info | warning | error."""

    DEFAULT_CSS = """
    NoticeBlock { color: $text-muted; padding: 0 1; margin: 1 0 0 0; }
    NoticeBlock.-warning { color: $warning; }
    NoticeBlock.-error { color: $error; text-style: bold; }
    NoticeBlock.-success { color: $success; }
    """

    def __init__(self, message: str, level: str = "info") -> None:
        self.message, self.level = message, level
        icon = {"warning": "⚠ ", "error": "✗ ", "success": "✓ "}.get(level, "· ")
        super().__init__(Text(icon + message), classes=f"-{level}")

    def rebuild(self) -> NoticeBlock:
        return NoticeBlock(self.message, self.level)


class TodoBlock(Static):
    """The agent's todo list (TodoWrite), updated in place while it is the latest block."""

    DEFAULT_CSS = """
    TodoBlock { padding: 0 1; margin: 1 0 0 2; color: $foreground; }
    """
    MARKS = {"completed": "☑", "in_progress": "◐", "pending": "☐"}

    def __init__(self, todos: tuple[dict[str, str], ...]) -> None:
        self.todos = todos
        super().__init__(self._render_todos())

    def _render_todos(self) -> Text:
        text = Text("Todos\n", style="bold")
        for item in self.todos:
            status = item.get("status", "pending")
            style = "dim strike" if status == "completed" else ("bold" if status == "in_progress" else "")
            text.append(f"{self.MARKS.get(status, '☐')} {visible(item.get('content', ''))}\n", style)
        return text

    def set_todos(self, todos: tuple[dict[str, str], ...]) -> None:
        self.todos = todos
        self.update(self._render_todos())

    def rebuild(self) -> TodoBlock:
        return TodoBlock(self.todos)
