"""AnthropicProvider against the scripted server through the real anthropic SDK."""

from __future__ import annotations

import pytest

from kimi_code.llm.base import (
    ChatProvider,
    Message,
    ProviderError,
    StreamEnd,
    TextChunk,
    ThinkingChunk,
    ToolCall,
    ToolCallDone,
    Usage,
)
from tests.support.wire import default_signature

from .conftest import BASH, READ, calls_of, collect, end_of, text_of, thinking_of

USER = [Message("system", "You are terse."), Message("user", "hi")]


async def test_streams_text_with_usage_and_system_apart(scripted, providers) -> None:
    server = scripted([{"text": "Hello there, streaming world!",
                        "usage": {"input_tokens": 12, "output_tokens": 6,
                                  "cache_read_tokens": 100, "cache_write_tokens": 20}}])
    provider = providers("anthropic", server)
    assert isinstance(provider, ChatProvider)
    events = await collect(provider, USER)
    assert len([e for e in events if isinstance(e, TextChunk)]) >= 3
    assert text_of(events) == "Hello there, streaming world!"
    end = end_of(events)
    assert end.usage == Usage(input_tokens=12, output_tokens=6, cache_read_tokens=100,
                              cache_write_tokens=20)
    assert end.stop_reason == "end_turn"
    request = server.requests[-1]
    assert request["path"] == "/v1/messages"
    assert request["headers"]["x-api-key"] == "sk-test"
    assert request["headers"]["authorization"] == "Bearer sk-test"
    body = request["body"]
    assert body["stream"] is True and body["model"] == "kimi-test" and body["max_tokens"] > 0
    assert body["system"] == [{"type": "text", "text": "You are terse.",
                               "cache_control": {"type": "ephemeral"}}]
    assert body["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}]
    assert [t["name"] for t in body["tools"]] == ["Read", "Bash"]
    assert body["tools"][0]["input_schema"] == READ.parameters
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}


async def test_thinking_with_signature(scripted, providers) -> None:
    server = scripted([{"thinking": "Consider the options.", "text": "Done."}])
    events = await collect(providers("anthropic", server), USER)
    assert thinking_of(events) == "Consider the options."
    signatures = [e.signature for e in events if isinstance(e, ThinkingChunk) and e.signature]
    assert signatures == [default_signature("Consider the options.")]
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextChunk))
    assert max(i for i, e in enumerate(events) if isinstance(e, ThinkingChunk)) < first_text


async def test_multiple_tool_calls_and_raw_malformed_arguments(scripted, providers) -> None:
    server = scripted([{"text": "Two calls.", "tool_calls": [
        {"id": "toolu_1", "name": "Read", "arguments": {"file_path": "a.py"}},
        {"id": "toolu_2", "name": "Bash", "arguments": '{"command": "ls'},
        {"id": "toolu_3", "name": "Bash", "arguments": {}}]}])
    events = await collect(providers("anthropic", server), USER)
    assert calls_of(events) == [ToolCall("toolu_1", "Read", '{"file_path": "a.py"}'),
                                ToolCall("toolu_2", "Bash", '{"command": "ls'),
                                ToolCall("toolu_3", "Bash", "{}")]
    assert end_of(events).stop_reason == "tool_use"


async def test_call_done_at_block_stop_and_cut_mid_call(scripted, providers) -> None:
    # message_start, [block 0: start, 3 deltas, stop], block 1 start, 1 delta -> cut.
    server = scripted([{"tool_calls": [
        {"id": "toolu_1", "name": "Read", "arguments": {"file_path": "a.py"}},
        {"id": "toolu_2", "name": "Bash", "arguments": {"command": "make test"}}],
        "cut_after_chunks": 8}])
    seen = []
    with pytest.raises(ProviderError) as info:
        async for event in providers("anthropic", server).stream(USER, [READ, BASH]):
            seen.append(event)
    assert info.value.retryable and "stream ended early" in str(info.value)
    assert [e.call.id for e in seen if isinstance(e, ToolCallDone)] == ["toolu_1"]


async def test_missing_tool_use_id_is_generated(scripted, providers) -> None:
    server = scripted([{"tool_calls": [{"id": "", "name": "Read", "arguments": {"file_path": "x"}}]}])
    calls = calls_of(await collect(providers("anthropic", server), USER))
    assert calls[0].id.startswith("toolu_") and len(calls[0].id) > 8


async def test_max_tokens_and_temperature(scripted, providers) -> None:
    server = scripted([{"text": "trunc", "stop_reason": "max_tokens"}])
    provider = providers("anthropic", server, max_tokens=321, temperature=0.2)
    assert end_of(await collect(provider, USER)).stop_reason == "max_tokens"
    body = server.requests[-1]["body"]
    assert body["max_tokens"] == 321 and body["temperature"] == 0.2 and "thinking" not in body


async def test_thinking_budget_enables_thinking(scripted, providers) -> None:
    server = scripted([{"text": "ok"}])
    provider = providers("anthropic", server, thinking_budget=2048, temperature=0.2,
                         max_tokens=8000)
    await collect(provider, USER)
    body = server.requests[-1]["body"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert "temperature" not in body  # extended thinking only runs at the default temperature


async def test_stream_without_message_stop_is_not_a_success() -> None:
    from kimi_code.llm.anthropic import _StreamState

    with pytest.raises(ProviderError, match="stream ended early") as info:
        _StreamState().end()
    assert info.value.retryable


async def test_history_round_trip_sent_in_wire_format(scripted, providers) -> None:
    server = scripted([{"text": "done"}])
    history = [
        Message("system", "sys"),
        Message("user", "fix it"),
        Message("assistant", "Looking.", thinking="Read a.py first.", thinking_signature="sig-1",
                tool_calls=(ToolCall("toolu_1", "Read", '{"file_path": "a.py"}'),
                            ToolCall("toolu_2", "Bash", '{"command": "pytest'))),
        Message("tool", "print('a')", tool_call_id="toolu_1"),
        Message("tool", "Error: invalid JSON", tool_call_id="toolu_2", is_error=True),
        Message("user", "also check b.py"),
        Message("assistant", "", thinking="unsigned thoughts from another provider"),
        Message("assistant", "Will do."),
        Message("system", "Reminder: be brief."),
        Message("user", "thanks"),
    ]
    await collect(providers("anthropic", server, prompt_caching=False), history, tools=[])
    body = server.requests[-1]["body"]
    assert body["system"] == [{"type": "text", "text": "sys"}]
    assert "tools" not in body
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "fix it"}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Read a.py first.", "signature": "sig-1"},
            {"type": "text", "text": "Looking."},
            {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "a.py"}},
            {"type": "tool_use", "id": "toolu_2", "name": "Bash",
             "input": {"invalid_json": '{"command": "pytest'}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": False,
             "content": "print('a')"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
             "content": "Error: invalid JSON"},
            {"type": "text", "text": "also check b.py"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Will do."}]},
        {"role": "user", "content": [
            {"type": "text", "text": "<system>\nReminder: be brief.\n</system>"},
            {"type": "text", "text": "thanks"}]},
    ]


async def test_signature_from_stream_echoes_back(scripted, providers) -> None:
    # What a loop would do: keep the streamed thinking and signature on the Message and send it
    # back in the next step; the server must receive the same signature it issued.
    server = scripted([{"thinking": "plan", "tool_calls": [
        {"id": "toolu_9", "name": "Read", "arguments": {"file_path": "a"}}]}, {"text": "ok"}])
    provider = providers("anthropic", server)
    events = await collect(provider, USER)
    signature = next(e.signature for e in events if isinstance(e, ThinkingChunk) and e.signature)
    assistant = Message("assistant", text_of(events), thinking=thinking_of(events),
                        thinking_signature=signature, tool_calls=tuple(calls_of(events)))
    await collect(provider, [*USER, assistant, Message("tool", "content", tool_call_id="toolu_9")])
    sent = server.requests[-1]["body"]["messages"]
    assert sent[1]["content"][0] == {"type": "thinking", "thinking": "plan",
                                     "signature": default_signature("plan")}
    assert sent[2]["content"][0]["tool_use_id"] == "toolu_9"


async def test_non_streaming_path_yields_same_events(scripted, providers) -> None:
    entry = {"thinking": "hm", "text": "Hi.", "tool_calls": [
        {"id": "toolu_1", "name": "Read", "arguments": {"file_path": "a"}}],
        "usage": {"input_tokens": 7, "output_tokens": 3}}
    server = scripted([entry, entry])
    streamed = await collect(providers("anthropic", server), USER)
    plain = await collect(providers("anthropic", server, streaming=False), USER)
    assert "stream" not in server.requests[-1]["body"] or not server.requests[-1]["body"]["stream"]
    for events in (streamed, plain):
        assert thinking_of(events) == "hm" and text_of(events) == "Hi."
        assert [e.signature for e in events if isinstance(e, ThinkingChunk) and e.signature] == [
            default_signature("hm")]
        assert calls_of(events) == [ToolCall("toolu_1", "Read", '{"file_path": "a"}')]
        assert end_of(events).usage == Usage(7, 3)
        assert end_of(events).stop_reason == "tool_use"


async def test_abandoned_stream_frees_the_connection(scripted, providers) -> None:
    server = scripted([{"text": "long answer " * 20, "text_chunks": 20}, {"text": "next"}])
    provider = providers("anthropic", server)
    stream = provider.stream(USER, [])
    assert isinstance(await stream.__anext__(), TextChunk)
    await stream.aclose()
    assert text_of(await collect(provider, USER)) == "next"


@pytest.mark.parametrize(("raw", "expected"), [
    ("end_turn", "end_turn"), ("stop_sequence", "end_turn"), ("max_tokens", "max_tokens"),
    ("model_context_window_exceeded", "max_tokens"), ("refusal", "end_turn"),
    ("pause_turn", "end_turn"), ("something_new", "end_turn")])
async def test_stop_reasons(scripted, providers, raw, expected) -> None:
    server = scripted([{"text": "x", "stop_reason": raw}])
    assert end_of(await collect(providers("anthropic", server), USER)).stop_reason == expected


def test_usage_split_between_message_start_and_delta() -> None:
    # The API reports input and cache tokens at message_start and, in older versions, only the
    # output count in message_delta: neither may wipe out the other.
    from kimi_code.llm.anthropic import _StreamState

    state = _StreamState()
    state.feed("message_start", {"type": "message_start", "message": {"usage": {
        "input_tokens": 5, "output_tokens": 1, "cache_read_input_tokens": 700,
        "cache_creation_input_tokens": 30}}})
    state.feed("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                 "usage": {"output_tokens": 42}})
    state.feed("message_stop", {"type": "message_stop"})
    assert state.end() == StreamEnd(Usage(5, 42, 700, 30), "end_turn")
