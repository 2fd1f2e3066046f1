"""TodoWrite: the list lives in ctx.state, one item in progress at most."""

from __future__ import annotations

import pytest

from kimi_code.tools.base import ToolContext, ToolError


async def test_stores_and_renders(run_tool, ctx: ToolContext) -> None:
    todos = [
        {"content": "Write the parser", "status": "completed"},
        {"content": "Run the tests", "status": "in_progress", "activeForm": "Running the tests"},
        {"content": "Update the docs", "status": "pending"},
    ]
    result = await run_tool("TodoWrite", todos=todos)
    assert result.content == (
        "Todo list updated (1/3 completed):\n"
        "[x] Write the parser\n[>] Run the tests\n[ ] Update the docs"
    )
    assert ctx.state["todos"] == [{**t, "activeForm": t.get("activeForm")} for t in todos]
    assert result.display["todos"] == ctx.state["todos"]


async def test_replaces_whole_list(run_tool, ctx: ToolContext) -> None:
    await run_tool("TodoWrite", todos=[{"content": "a", "status": "pending"}])
    await run_tool("TodoWrite", todos=[{"content": "b", "status": "completed"}])
    assert [t["content"] for t in ctx.state["todos"]] == ["b"]
    cleared = await run_tool("TodoWrite", todos=[])
    assert ctx.state["todos"] == [] and "(todo list is empty)" in cleared.content


async def test_two_in_progress_refused(run_tool, ctx: ToolContext) -> None:
    await run_tool("TodoWrite", todos=[{"content": "keep", "status": "pending"}])
    with pytest.raises(ToolError, match="2 todos are in_progress.*at most one"):
        await run_tool("TodoWrite", todos=[{"content": "a", "status": "in_progress"},
                                           {"content": "b", "status": "in_progress"}])
    assert [t["content"] for t in ctx.state["todos"]] == ["keep"]  # unchanged on error
