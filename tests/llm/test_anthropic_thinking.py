"""Interleaved and redacted Anthropic thinking: every block keeps its signature and its place,
through the stream, the agent loop, the session store and back onto the wire, exactly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kimi_code.agent.loop import Agent, AgentOptions
from kimi_code.agent.retry import RetryPolicy
from kimi_code.llm import sse
from kimi_code.llm.base import (
    Message,
    ProviderError,
    ThinkingBlock,
    ThinkingBlockDone,
    ToolCall,
    ToolCallDone,
)
from kimi_code.session.store import SessionStore
from kimi_code.tools.base import ToolContext
from kimi_code.tools.registry import ToolRegistry
from tests.support.wire import default_signature

from .conftest import READ, calls_of, collect, end_of, text_of, thinking_of

USER = [Message("user", "compare a.txt and b.txt")]
INTERLEAVED = [
    {"type": "thinking", "thinking": "First read a."},
    {"type": "tool_use", "id": "toolu_a", "name": "Read", "arguments": {"file_path": "a.txt"}},
    {"type": "thinking", "thinking": "Then b, to compare."},
    {"type": "tool_use", "id": "toolu_b", "name": "Read", "arguments": {"file_path": "b.txt"}},
]
# What the API must receive back for that message, block for block.
INTERLEAVED_WIRE = [
    {"type": "thinking", "thinking": "First read a.",
     "signature": default_signature("First read a.")},
    {"type": "tool_use", "id": "toolu_a", "name": "Read", "input": {"file_path": "a.txt"}},
    {"type": "thinking", "thinking": "Then b, to compare.",
     "signature": default_signature("Then b, to compare.")},
    {"type": "tool_use", "id": "toolu_b", "name": "Read", "input": {"file_path": "b.txt"}},
]


def blocks_of(events: list) -> list[ThinkingBlock]:
    return [e.block for e in events if isinstance(e, ThinkingBlockDone)]


def assistant_from(events: list) -> Message:
    """The assistant message as the loop builds it from a stream."""
    return Message("assistant", text_of(events), thinking=thinking_of(events),
                   tool_calls=tuple(calls_of(events)), thinking_blocks=tuple(blocks_of(events)))


@pytest.mark.parametrize("mode", ["stream", "no event names", "not streamed"])
async def test_interleaved_blocks_keep_signatures_and_positions(scripted, providers,
                                                                mode) -> None:
    # Pings between blocks are skipped; a server that names no events is read by payload type.
    server = scripted([{"blocks": INTERLEAVED, "pings": True,
                        "event_names": mode != "no event names"}])
    provider = providers("anthropic", server, streaming=mode != "not streamed")
    events = await collect(provider, USER, [READ])
    assert blocks_of(events) == [
        ThinkingBlock("First read a.", default_signature("First read a."), calls_before=0),
        ThinkingBlock("Then b, to compare.", default_signature("Then b, to compare."),
                      calls_before=1)]
    kinds = [type(e).__name__ for e in events if not type(e).__name__ == "ThinkingChunk"]
    assert kinds == ["ThinkingBlockDone", "ToolCallDone", "ThinkingBlockDone", "ToolCallDone",
                     "StreamEnd"]
    assert end_of(events).stop_reason == "tool_use"


async def test_interleaved_blocks_go_back_exactly(scripted, providers) -> None:
    server = scripted([{"blocks": INTERLEAVED}, {"text": "same"}])
    provider = providers("anthropic", server, prompt_caching=False)
    events = await collect(provider, USER, [READ])
    history = [*USER, assistant_from(events), Message("tool", "A", tool_call_id="toolu_a"),
               Message("tool", "B", tool_call_id="toolu_b")]
    await collect(provider, history, [READ])
    assert server.requests[-1]["body"]["messages"][1] == {"role": "assistant",
                                                          "content": INTERLEAVED_WIRE}


async def test_text_and_redacted_thinking_between_blocks(scripted, providers) -> None:
    blocks = [{"type": "redacted_thinking", "data": "EnCrYpTeD=="},
              {"type": "thinking", "thinking": "Plan.", "signature": "sig-plan"},
              {"type": "text", "text": "Let me look. "},
              {"type": "thinking", "thinking": "Look at a.", "signature": "sig-a"},
              {"type": "text", "text": "Reading a."},
              {"type": "tool_use", "id": "toolu_1", "name": "Read",
               "arguments": {"file_path": "a"}}]
    server = scripted([{"blocks": blocks}, {"text": "ok"}])
    provider = providers("anthropic", server, prompt_caching=False)
    events = await collect(provider, USER, [READ])
    assert text_of(events) == "Let me look. Reading a." and thinking_of(events) == "Plan.Look at a."
    assert blocks_of(events)[0] == ThinkingBlock(redacted="EnCrYpTeD==")
    assert blocks_of(events)[2] == ThinkingBlock("Look at a.", "sig-a", text_offset=13)
    history = [*USER, assistant_from(events), Message("tool", "x", tool_call_id="toolu_1")]
    await collect(provider, history, [READ])
    assert server.requests[-1]["body"]["messages"][1]["content"] == [
        {"type": "redacted_thinking", "data": "EnCrYpTeD=="},
        {"type": "thinking", "thinking": "Plan.", "signature": "sig-plan"},
        {"type": "text", "text": "Let me look. "},
        {"type": "thinking", "thinking": "Look at a.", "signature": "sig-a"},
        {"type": "text", "text": "Reading a."},
        {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "a"}}]


async def test_cut_inside_second_thinking_block(scripted, providers) -> None:
    # message_start, thinking (start, 3 deltas, signature, stop), tool_use (start, 3 deltas,
    # stop), second thinking start + 1 delta -> cut: only the complete blocks were announced.
    server = scripted([{"blocks": INTERLEAVED, "cut_after_chunks": 14}])
    seen = []
    with pytest.raises(ProviderError, match="stream ended early") as info:
        async for event in providers("anthropic", server).stream(USER, [READ]):
            seen.append(event)
    assert info.value.retryable
    assert [b.thinking for b in blocks_of(seen)] == ["First read a."]
    assert [e.call.id for e in seen if isinstance(e, ToolCallDone)] == ["toolu_a"]


async def test_agent_loop_and_session_store_keep_the_blocks(scripted, providers, tmp_path,
                                                            monkeypatch) -> None:
    """The real loop runs the two Reads, the message survives SQLite, and both the loop's next
    step and a resumed session send the interleaved blocks back unchanged."""
    monkeypatch.setenv("KIMI_CODE_HOME", str(tmp_path / "home"))
    (tmp_path / "a.txt").write_text("alpha\n")
    (tmp_path / "b.txt").write_text("beta\n")
    server = scripted([{"blocks": INTERLEAVED}, {"text": "They differ."}, {"text": "resumed"}])
    provider = providers("anthropic", server, prompt_caching=False)
    agent = Agent(provider, ToolRegistry.builtin(["Read"]), ToolContext(workspace=tmp_path),
                  AgentOptions(permission_mode="yolo", retry=RetryPolicy(max_attempts=1)))
    result = await agent.run_turn("compare a.txt and b.txt")
    assert result.text == "They differ."
    sent = server.requests[1]["body"]["messages"]
    assert sent[1] == {"role": "assistant", "content": INTERLEAVED_WIRE}
    results = sent[2]["content"]
    assert [r["tool_use_id"] for r in results] == ["toolu_a", "toolu_b"]
    assert "alpha" in results[0]["content"] and "beta" in results[1]["content"]

    with SessionStore() as store:
        sid = store.create(tmp_path, "kimi-test")
        for message in agent.context.messages:
            store.append_message(sid, message)
        restored = store.messages(sid)
    assert restored == agent.context.messages
    await collect(provider, [*restored, Message("user", "again")], [READ])
    assert server.requests[-1]["body"]["messages"][1]["content"] == INTERLEAVED_WIRE


async def test_sessions_stored_before_thinking_blocks_still_load(scripted, providers, tmp_path,
                                                                 monkeypatch) -> None:
    monkeypatch.setenv("KIMI_CODE_HOME", str(tmp_path / "home"))
    legacy = {"role": "assistant", "content": "Reading.", "thinking": "old plan",
              "thinking_signature": "sig-old", "tool_call_id": "", "is_error": False,
              "tool_calls": [{"id": "toolu_1", "name": "Read", "arguments": '{"file_path": "a"}'}]}
    with SessionStore() as store:
        sid = store.create(tmp_path, "kimi-test")
        store.append_message(sid, USER[0])
        store.append(sid, "message", legacy)  # exactly what older versions wrote
        store.append_message(sid, Message("tool", "alpha", tool_call_id="toolu_1"))
        restored = store.messages(sid)
    assert restored[1].thinking_blocks == () and restored[1].thinking_signature == "sig-old"
    assert "thinking_blocks" not in restored[1].to_dict()  # old shape kept when unused
    server = scripted([{"text": "ok"}])
    await collect(providers("anthropic", server, prompt_caching=False), restored, [READ])
    assert server.requests[-1]["body"]["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "old plan", "signature": "sig-old"},
        {"type": "text", "text": "Reading."},
        {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "a"}}]


def test_message_round_trips_through_dict() -> None:
    message = Message("assistant", "hi", thinking="ab", thinking_signature="s2",
                      tool_calls=(ToolCall("t", "Read", "{}"),),
                      thinking_blocks=(ThinkingBlock("a", "s1"),
                                       ThinkingBlock(redacted="xx", text_offset=2, calls_before=1),
                                       ThinkingBlock("b", "s2", text_offset=2, calls_before=1)))
    assert Message.from_dict(message.to_dict()) == message


async def test_sse_named_events_fall_back_and_drop_partial_messages() -> None:
    async def lines(*items: str) -> AsyncIterator[str]:
        for item in items:
            yield item

    got = [e async for e in sse.named_events(lines(
        "event: ping", "data: {}", "", ": comment", "", "data: {\"type\": \"x\"}", "",
        "event:message_stop", "data:{}", "", "event: error", "data: {\"half\""))]
    assert got == [("ping", "{}"), ("", '{"type": "x"}'), ("message_stop", "{}")]
