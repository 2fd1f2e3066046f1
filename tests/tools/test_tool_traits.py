"""What each tool declares about itself (concurrent_safe, mutates_workspace, delegates_writes)
and what the executor makes of it: the permission asked, and whether a finished call counts as
a change to the workspace (the agent checkpoints after those)."""

from __future__ import annotations

import json
from pathlib import Path

from kimi_code.agent.executor import ToolExecutor
from kimi_code.llm.base import ToolCall
from kimi_code.safety.permissions import Decision, PermissionPolicy
from kimi_code.tools.base import ToolContext
from kimi_code.tools.registry import READ_ONLY_TOOLSET, ToolRegistry

WRITERS = {"Write", "Edit", "Bash"}
SPAWNERS = {"Agent", "AgentSwarm"}


def test_every_builtin_tool_says_what_it_does() -> None:
    registry = ToolRegistry.builtin()
    for name in registry.names():
        tool = registry.get(name)
        assert tool is not None
        if name in WRITERS:
            assert tool.mutates_workspace and not tool.concurrent_safe
            assert tool.asks_as_write()
        elif name in SPAWNERS:
            assert tool.concurrent_safe and tool.mutates_workspace and tool.delegates_writes
            assert not tool.asks_as_write()
        else:
            assert tool.concurrent_safe and not tool.mutates_workspace, name
    assert set(READ_ONLY_TOOLSET) <= set(registry.names()) - WRITERS - SPAWNERS


def call(name: str, **args: object) -> ToolCall:
    return ToolCall(f"call_{name}", name, json.dumps(args))


def test_read_only_mode_refuses_writers_but_lets_subagents_spawn(tmp_path: Path) -> None:
    executor = ToolExecutor(ToolRegistry.builtin(), ToolContext(workspace=tmp_path),
                            PermissionPolicy.from_strings("read-only"), None, lambda e: None)
    assert executor.prepare(call("Write", file_path="a.txt", content="x")).decision \
        is Decision.DENY
    assert executor.prepare(call("Read", file_path="a.txt")).decision is Decision.ALLOW
    # the children inherit the read-only policy, so the spawn itself is not refused
    spawn = executor.prepare(call("Agent", description="look", prompt="look around"))
    assert spawn.decision is Decision.ALLOW and spawn.runs_freely


async def test_a_call_counts_as_a_change_only_when_it_can_have_changed_files(
        tmp_path: Path) -> None:
    executor = ToolExecutor(ToolRegistry.builtin(), ToolContext(workspace=tmp_path),
                            PermissionPolicy.from_strings("yolo"), None, lambda e: None)
    (tmp_path / "a.txt").write_text("one\n")
    read = executor.prepare(call("Read", file_path="a.txt"))
    await executor.execute(read)
    write = executor.prepare(call("Write", file_path="b.txt", content="two\n"))
    await executor.execute(write)
    refused = executor.prepare(call("Write", file_path="../outside.txt", content="x"))
    await executor.execute(refused)
    # no swarm in this context: the spawn fails before any subagent ran, so nothing changed
    spawn = executor.prepare(call("Agent", description="d", prompt="p", subagent_type="coder"))
    message, _ = await executor.execute(spawn)
    assert message.is_error and "not available" in message.content
    assert (read.mutated, write.mutated, refused.mutated, spawn.mutated) == \
        (False, True, False, False)
    assert (tmp_path / "b.txt").read_text() == "two\n"
