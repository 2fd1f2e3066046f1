"""TodoWrite: the agent's task list for the session, replaced whole on each call."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from kimi_code.llm.base import ToolSpec
from kimi_code.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult

TODOS_KEY = "todos"
_MARKS = {"completed": "[x]", "in_progress": "[>]", "pending": "[ ]"}


class TodoItem(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    content: str = Field(min_length=1, description="The task, in imperative form (\"Run the tests\").")
    status: Literal["pending", "in_progress", "completed"]
    activeForm: str | None = Field(  # noqa: N815 - Claude-compatible field name
        default=None, description="Present-continuous form shown while in progress (\"Running the tests\")."
    )


class TodoWriteArgs(ToolArgs):
    todos: list[TodoItem] = Field(description="The complete, updated todo list.")


def render_todos(todos: list[TodoItem]) -> str:
    """A compact checklist, one line per item."""
    if not todos:
        return "(todo list is empty)"
    return "\n".join(f"{_MARKS[t.status]} {t.content}" for t in todos)


class TodoWriteTool(Tool[TodoWriteArgs]):
    name: ClassVar[str] = "TodoWrite"
    Args: ClassVar[type[ToolArgs]] = TodoWriteArgs
    # Touches only session state, never files: allowed in read-only mode and safe to run freely.
    concurrent_safe: ClassVar[bool] = True
    mutates_workspace: ClassVar[bool] = False  # the todo list is session state, not files

    @classmethod
    def _build_spec(cls) -> ToolSpec:
        """Inline the item schema: some OpenAI-compatible servers do not resolve `$ref`."""
        spec = super()._build_spec()
        params = dict(spec.parameters)
        defs = params.pop("$defs", {})
        item = dict(defs.get("TodoItem", {}))
        item.pop("title", None)
        for prop in item.get("properties", {}).values():
            prop.pop("title", None)
        todos = dict(params["properties"]["todos"], items=item)
        params["properties"] = {**params["properties"], "todos": todos}
        return replace(spec, parameters=params)

    def permission_subject(self, args: TodoWriteArgs, ctx: ToolContext | None = None) -> str:
        return ""

    def summary(self, args: TodoWriteArgs, ctx: ToolContext | None = None) -> str:
        done = sum(t.status == "completed" for t in args.todos)
        return f"{done}/{len(args.todos)} done"

    async def run(self, args: TodoWriteArgs, ctx: ToolContext) -> ToolResult:
        active = [t.content for t in args.todos if t.status == "in_progress"]
        if len(active) > 1:
            raise ToolError(
                f"{len(active)} todos are in_progress ({'; '.join(active)}); at most one may be. "
                "Mark the others pending or completed and call TodoWrite again."
            )
        ctx.state[TODOS_KEY] = [t.model_dump() for t in args.todos]
        done = sum(t.status == "completed" for t in args.todos)
        content = f"Todo list updated ({done}/{len(args.todos)} completed):\n{render_todos(args.todos)}"
        return ToolResult(content, display={"todos": ctx.state[TODOS_KEY]})
