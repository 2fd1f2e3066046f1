"""The agent loop in process, with a provider written as a Python script of stream events:
cancellation, early start of read-only tools, steering, compaction and the pinned ledger."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from kimi_code.agent.loop import Agent, AgentOptions
from kimi_code.agent.retry import RetryPolicy
from kimi_code.events import CompactionDone, Event, ToolCallStarted
from kimi_code.llm.base import (
    Message,
    StreamEnd,
    TextChunk,
    ToolCall,
    ToolCallDone,
    ToolSpec,
    Usage,
)
from kimi_code.tools.base import Tool, ToolArgs, ToolContext, ToolResult
from kimi_code.tools.registry import ToolRegistry


class ScriptProvider:
    """Each request pops a list of (event | ("sleep", s)) from `steps`; records requests."""

    model = "script"

    def __init__(self, steps: list[list[Any]], context_window: int = 100_000) -> None:
        self.steps, self.context_window = steps, context_window
        self.requests: list[list[Message]] = []

    async def stream(self, messages: Sequence[Message], tools: Sequence[ToolSpec], *,
                     max_tokens: int | None = None) -> AsyncIterator[Any]:
        self.requests.append(list(messages))
        for item in self.steps.pop(0):
            if isinstance(item, tuple) and item[0] == "sleep":
                await asyncio.sleep(item[1])
            else:
                yield item

    async def aclose(self) -> None:
        pass


class SlowArgs(ToolArgs):
    name: str


class SlowLookup(Tool[SlowArgs]):
    """A read-only tool that records when it started and finished."""

    name = "Lookup"
    Args = SlowArgs
    concurrent_safe = True
    mutates_workspace = False
    log: list[tuple[str, str]] = []

    async def run(self, args: SlowArgs, ctx: ToolContext) -> ToolResult:
        self.log.append(("start", args.name))
        await asyncio.sleep(0.2)
        self.log.append(("end", args.name))
        return ToolResult(f"found {args.name}")


class Blocker(Tool[SlowArgs]):
    name = "Block"
    Args = SlowArgs
    mutates_workspace = True

    async def run(self, args: SlowArgs, ctx: ToolContext) -> ToolResult:
        await asyncio.sleep(30)
        return ToolResult("unreachable")


def call(id_: str, tool: str, **args: Any) -> ToolCallDone:
    return ToolCallDone(ToolCall(id_, tool, json.dumps(args)))


def end(inp: int = 10, out: int = 5) -> StreamEnd:
    return StreamEnd(Usage(inp, out), "tool_use")


def make_agent(tmp_path: Path, provider: ScriptProvider, events: list[Event], **options: Any) -> Agent:
    registry = ToolRegistry([SlowLookup(), Blocker()])
    opts = AgentOptions(system_prompt="sys", permission_mode="yolo",
                        retry=RetryPolicy(max_attempts=2, base_delay_s=0.0), **options)
    return Agent(provider, registry, ToolContext(workspace=tmp_path), opts, on_event=events.append)


async def test_read_only_calls_start_while_stream_continues_and_run_concurrently(tmp_path: Path) -> None:
    SlowLookup.log.clear()
    provider = ScriptProvider([
        [call("a", "Lookup", name="a"), ("sleep", 0.1), call("b", "Lookup", name="b"), end()],
        [TextChunk("done"), StreamEnd(Usage(1, 1))],
    ])
    events: list[Event] = []
    agent = make_agent(tmp_path, provider, events)
    result = await agent.run_turn("go")
    assert result.stop_reason == "end_turn" and result.text == "done"
    # "a" started before "b" was even streamed, and both overlapped.
    assert SlowLookup.log[:2] == [("start", "a"), ("start", "b")]
    tool_messages = [m for m in agent.context.messages if m.role == "tool"]
    assert [m.tool_call_id for m in tool_messages] == ["a", "b"]  # call order kept


async def test_cancel_mid_tool_leaves_consistent_history(tmp_path: Path) -> None:
    provider = ScriptProvider([[TextChunk("working"), call("x", "Block", name="x"),
                                call("y", "Lookup", name="y"), end()]])
    events: list[Event] = []
    agent = make_agent(tmp_path, provider, events)
    task = asyncio.create_task(agent.run_turn("go"))
    while not any(isinstance(e, ToolCallStarted) for e in events):
        await asyncio.sleep(0.01)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    roles = [m.role for m in agent.context.messages]
    assert roles == ["user", "assistant", "tool", "tool"]
    assert all("Interrupted" in m.content for m in agent.context.messages[2:])
    assert agent.context.dangling_tool_calls() == []


async def test_cancel_mid_stream_keeps_partial_text(tmp_path: Path) -> None:
    provider = ScriptProvider([[TextChunk("partial "), ("sleep", 10), TextChunk("never")]])
    agent = make_agent(tmp_path, provider, [])
    task = asyncio.create_task(agent.run_turn("go"))
    await asyncio.sleep(0.1)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    assert agent.context.messages[-1] == Message(role="assistant", content="partial ")


async def test_steering_message_joins_the_running_turn(tmp_path: Path) -> None:
    provider = ScriptProvider([
        [call("a", "Lookup", name="a"), end()],
        [TextChunk("ok, using tabs"), StreamEnd(Usage(1, 1))],
    ])
    events: list[Event] = []
    agent = make_agent(tmp_path, provider, events)
    task = asyncio.create_task(agent.run_turn("format it"))
    while not any(isinstance(e, ToolCallStarted) for e in events):  # the tool takes 0.2 s
        await asyncio.sleep(0.01)
    agent.steer("use tabs, not spaces")
    await task
    second_request = provider.requests[1]
    assert second_request[-1] == Message(role="user", content="use tabs, not spaces")


async def test_compaction_keeps_ledger_across_two_compactions(tmp_path: Path) -> None:
    big = "x" * 2000
    provider = ScriptProvider([
        [call("a", "Lookup", name=big), StreamEnd(Usage(900, 10), "tool_use")],
        # compaction 1
        [TextChunk("<summary>Looked up a.</summary><ledger>\n- never touch tests/\n</ledger>"),
         StreamEnd(Usage(50, 20))],
        [call("b", "Lookup", name=big), StreamEnd(Usage(900, 10), "tool_use")],
        # compaction 2: the model forgets the old item; the ledger must still hold it
        [TextChunk("<summary>Looked up b.</summary><ledger>\n- use httpx\n</ledger>"),
         StreamEnd(Usage(50, 20))],
        [TextChunk("finished"), StreamEnd(Usage(100, 5))],
    ], context_window=1024)
    events: list[Event] = []
    agent = make_agent(tmp_path, provider, events, compact_at=0.8)
    result = await agent.run_turn("please look things up; never touch tests/")
    assert result.text == "finished"
    compactions = [e for e in events if isinstance(e, CompactionDone)]
    assert len(compactions) == 2
    assert agent.context.ledger == ["never touch tests/", "use httpx"]
    final_system = provider.requests[-1][0].content
    assert "never touch tests/" in final_system and "use httpx" in final_system
    # The compaction request itself never carried tool definitions mid-batch.
    assert all(m.role != "tool" or m.tool_call_id for m in provider.requests[-1])


class Touch(Tool[SlowArgs]):
    """A mutating tool that finishes at once."""

    name = "Touch"
    Args = SlowArgs
    mutates_workspace = True

    async def run(self, args: SlowArgs, ctx: ToolContext) -> ToolResult:
        return ToolResult("touched")


async def test_mutating_tools_invalidate_shared_file_listings(tmp_path: Path) -> None:
    from kimi_code.tools import globmatch

    provider = ScriptProvider([
        [call("a", "Lookup", name="a"), end()],
        [call("b", "Touch", name="b"), end()],
        [TextChunk("done"), StreamEnd(Usage(1, 1))],
    ])
    registry = ToolRegistry([SlowLookup(), Touch()])
    opts = AgentOptions(system_prompt="sys", permission_mode="yolo")
    agent = Agent(provider, registry, ToolContext(workspace=tmp_path), opts, on_event=[].append)
    before = globmatch._changes
    await agent.run_turn("go")
    # only the Touch call counts: a Glob after it never joins a listing begun before it
    assert globmatch._changes == before + 1


class Undecodable(Tool[SlowArgs]):
    """Output naming a file whose name is not UTF-8 (decoded with surrogateescape)."""

    name = "Undecodable"
    Args = SlowArgs
    concurrent_safe = True
    mutates_workspace = False

    async def run(self, args: SlowArgs, ctx: ToolContext) -> ToolResult:
        return ToolResult(b"caf\xe9.txt".decode("utf-8", "surrogateescape"))


async def test_lone_surrogates_never_reach_a_request(tmp_path: Path) -> None:
    provider = ScriptProvider([
        [call("a", "Undecodable", name="a"), end()],
        [TextChunk("done"), StreamEnd(Usage(1, 1))],
    ])
    registry = ToolRegistry([Undecodable()])
    opts = AgentOptions(system_prompt="sys", permission_mode="yolo")
    agent = Agent(provider, registry, ToolContext(workspace=tmp_path), opts, on_event=[].append)
    await agent.run_turn("look at " + b"\xff".decode("utf-8", "surrogateescape"))
    for message in provider.requests[-1]:
        (message.content or "").encode("utf-8")  # raises on a lone surrogate
    assert provider.requests[-1][-1].content == "caf\ufffd.txt"
