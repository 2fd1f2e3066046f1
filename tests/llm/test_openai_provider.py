"""OpenAIProvider against the scripted server through the real openai SDK."""

from __future__ import annotations

import json

import pytest

from kimi_code.llm.base import (
    ChatProvider,
    Message,
    ProviderError,
    TextChunk,
    ThinkingChunk,
    ToolCall,
    ToolCallDone,
    Usage,
)
from kimi_code.llm.openai import OpenAIProvider

from .conftest import READ, calls_of, collect, end_of, text_of, thinking_of

USER = [Message("system", "You are terse."), Message("user", "hi")]


async def test_streams_text_in_chunks_with_usage(scripted, providers) -> None:
    server = scripted([{"text": "Hello there, streaming world!",
                        "usage": {"input_tokens": 10, "output_tokens": 5}}])
    provider = providers("openai", server)
    assert isinstance(provider, ChatProvider)
    events = await collect(provider, USER)
    assert len([e for e in events if isinstance(e, TextChunk)]) >= 3  # really streamed
    assert text_of(events) == "Hello there, streaming world!"
    end = end_of(events)
    assert end.usage == Usage(input_tokens=10, output_tokens=5)
    assert end.stop_reason == "end_turn"
    body = server.requests[-1]["body"]
    assert server.requests[-1]["path"] == "/v1/chat/completions"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "system", "content": "You are terse."},
                                {"role": "user", "content": "hi"}]
    assert body["tools"][0] == {"type": "function", "function": {
        "name": "Read", "description": "Read a file", "parameters": READ.parameters}}
    assert server.requests[-1]["headers"]["authorization"] == "Bearer sk-test"


async def test_reasoning_content_becomes_thinking_before_text(scripted, providers) -> None:
    server = scripted([{"thinking": "Let me think about it.", "text": "Answer."}])
    events = await collect(providers("openai", server), USER)
    assert thinking_of(events) == "Let me think about it."
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextChunk))
    last_thinking = max(i for i, e in enumerate(events) if isinstance(e, ThinkingChunk))
    assert last_thinking < first_text
    assert text_of(events) == "Answer."


async def test_reasoning_field_variant(scripted, providers) -> None:
    server = scripted([{"thinking": "via reasoning", "text": "ok",
                        "reasoning_field": "reasoning"}])
    events = await collect(providers("openai", server), USER)
    assert thinking_of(events) == "via reasoning"


async def test_multiple_tool_calls_each_done_when_complete(scripted, providers) -> None:
    server = scripted([{"text": "Reading both.", "tool_calls": [
        {"id": "call_a", "name": "Read", "arguments": {"file_path": "a.py"}},
        {"id": "call_b", "name": "Bash", "arguments": {"command": "ls -la"}}]}])
    events = await collect(providers("openai", server), USER)
    calls = calls_of(events)
    assert calls == [ToolCall("call_a", "Read", '{"file_path": "a.py"}'),
                     ToolCall("call_b", "Bash", '{"command": "ls -la"}')]
    # The first call is announced as soon as the second one starts streaming, i.e. before the
    # second call's completion and before the end of the stream.
    kinds = [type(e).__name__ for e in events]
    assert kinds[-3:] == ["ToolCallDone", "ToolCallDone", "StreamEnd"]
    assert end_of(events).stop_reason == "tool_use"


async def test_first_call_done_before_second_finishes_streaming(scripted, providers) -> None:
    # Cut the stream in the middle of the second call's arguments: the first call was already
    # complete and announced, the half-streamed second one never is.
    server = scripted([{"tool_calls": [
        {"id": "call_a", "name": "Read", "arguments": {"file_path": "a.py"}},
        {"id": "call_b", "name": "Bash", "arguments": {"command": "make test"}}],
        "cut_after_chunks": 7}])
    seen = []
    with pytest.raises(ProviderError) as info:
        async for event in providers("openai", server).stream(USER, [READ]):
            seen.append(event)
    assert info.value.retryable
    assert [e.call.id for e in seen if isinstance(e, ToolCallDone)] == ["call_a"]


async def test_malformed_arguments_pass_through_raw(scripted, providers) -> None:
    server = scripted([{"tool_calls": [{"id": "c1", "name": "Read",
                                        "arguments": '{"file_path": "a.py"'}]}])
    calls = calls_of(await collect(providers("openai", server), USER))
    assert calls == [ToolCall("c1", "Read", '{"file_path": "a.py"')]


async def test_missing_tool_call_ids_are_generated(scripted, providers) -> None:
    server = scripted([{"tool_calls": [{"id": None, "name": "Read", "arguments": {"file_path": "x"}},
                                       {"id": "", "name": "Read", "arguments": {"file_path": "y"}}]}])
    calls = calls_of(await collect(providers("openai", server), USER))
    assert [json.loads(c.arguments) for c in calls] == [{"file_path": "x"}, {"file_path": "y"}]
    assert all(c.id.startswith("call_") for c in calls)
    assert calls[0].id != calls[1].id


async def test_cached_tokens_reported_apart(scripted, providers) -> None:
    server = scripted([{"text": "ok", "usage": {"input_tokens": 30, "output_tokens": 2,
                                                "cache_read_tokens": 70}}])
    end = end_of(await collect(providers("openai", server), USER))
    assert end.usage == Usage(input_tokens=30, output_tokens=2, cache_read_tokens=70)


async def test_max_tokens_stop_reason_and_request_options(scripted, providers) -> None:
    server = scripted([{"text": "trunc", "stop_reason": "max_tokens"}])
    provider = providers("openai", server, temperature=0.3, max_tokens=99)
    end = end_of(await collect(provider, USER))
    assert end.stop_reason == "max_tokens"
    body = server.requests[-1]["body"]
    assert body["max_tokens"] == 99 and body["temperature"] == 0.3 and body["model"] == "kimi-test"


async def test_cut_stream_raises_retryable_error(scripted, providers) -> None:
    server = scripted([{"text": "this will be cut off midway", "cut_after_chunks": 2}])
    seen = []
    with pytest.raises(ProviderError) as info:
        async for event in providers("openai", server).stream(USER, []):
            seen.append(event)
    assert info.value.retryable
    assert "stream ended early" in str(info.value)
    assert seen and not any(type(e).__name__ == "StreamEnd" for e in seen)


async def test_stream_without_finish_reason_is_not_a_success() -> None:
    # A server that closes the stream cleanly but without finish_reason (no [DONE] either).
    from kimi_code.llm.openai import _StreamState

    state = _StreamState()
    with pytest.raises(ProviderError, match="stream ended early") as info:
        state.end()
    assert info.value.retryable


async def test_history_round_trip_sent_in_wire_format(scripted, providers) -> None:
    server = scripted([{"text": "done"}])
    history = [
        Message("system", "sys"),
        Message("user", "fix it"),
        Message("assistant", "Looking.", thinking="I should read a.py first.",
                tool_calls=(ToolCall("call_1", "Read", '{"file_path": "a.py"}'),
                            ToolCall("call_2", "Bash", '{"command": "pytest"}'))),
        Message("tool", "print('a')", tool_call_id="call_1"),
        Message("tool", "exit 1", tool_call_id="call_2", is_error=True),
        Message("assistant", "", thinking="Now edit.",
                tool_calls=(ToolCall("call_3", "Read", '{bad json'),)),
        Message("tool", "Error: invalid JSON", tool_call_id="call_3", is_error=True),
        Message("user", "go on"),
    ]
    await collect(providers("openai", server), history)
    sent = server.requests[-1]["body"]["messages"]
    assert sent == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "fix it"},
        {"role": "assistant", "content": "Looking.", "reasoning_content": "I should read a.py first.",
         "tool_calls": [
             {"id": "call_1", "type": "function",
              "function": {"name": "Read", "arguments": '{"file_path": "a.py"}'}},
             {"id": "call_2", "type": "function",
              "function": {"name": "Bash", "arguments": '{"command": "pytest"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "print('a')"},
        {"role": "tool", "tool_call_id": "call_2", "content": "exit 1"},
        {"role": "assistant", "content": None, "reasoning_content": "Now edit.",
         "tool_calls": [{"id": "call_3", "type": "function",
                         "function": {"name": "Read", "arguments": "{bad json"}}]},
        {"role": "tool", "tool_call_id": "call_3", "content": "Error: invalid JSON"},
        {"role": "user", "content": "go on"},
    ]


async def test_reasoning_not_echoed_when_disabled(scripted, providers) -> None:
    server = scripted([{"text": "ok"}])
    history = [Message("user", "q"), Message("assistant", "a", thinking="t"), Message("user", "q2")]
    await collect(providers("openai", server, echo_reasoning=False), history, tools=[])
    sent = server.requests[-1]["body"]
    assert sent["messages"][1] == {"role": "assistant", "content": "a"}
    assert "tools" not in sent


async def test_non_streaming_path_yields_same_events(scripted, providers) -> None:
    entry = {"thinking": "hm", "text": "Hi.", "tool_calls": [
        {"id": "c1", "name": "Read", "arguments": {"file_path": "a"}}],
        "usage": {"input_tokens": 7, "output_tokens": 3}}
    server = scripted([entry, entry])
    streamed = await collect(providers("openai", server), USER)
    plain = await collect(providers("openai", server, streaming=False), USER)
    assert server.requests[-1]["body"].get("stream") in (None, False)
    for events in (streamed, plain):
        assert thinking_of(events) == "hm" and text_of(events) == "Hi."
        assert calls_of(events) == [ToolCall("c1", "Read", '{"file_path": "a"}')]
        assert end_of(events).usage == Usage(7, 3)
        assert end_of(events).stop_reason == "tool_use"


async def test_many_sequential_requests_reuse_the_client(scripted, providers) -> None:
    server = scripted([{"text": "x", "repeat": 20}])
    provider = providers("openai", server)
    for _ in range(20):
        assert text_of(await collect(provider, USER)) == "x"
    assert server.remaining == 0


def test_provider_module_satisfies_protocol() -> None:
    provider = OpenAIProvider(model="m", base_url="http://127.0.0.1:9/v1", context_window=4096)
    assert isinstance(provider, ChatProvider)
    assert provider.model == "m" and provider.context_window == 4096


async def test_abandoned_stream_frees_the_connection(scripted, providers) -> None:
    # The loop may stop reading (Ctrl-C); the next step must still work on the same provider.
    server = scripted([{"text": "long answer " * 20, "text_chunks": 20}, {"text": "next"}])
    provider = providers("openai", server)
    stream = provider.stream(USER, [])
    assert isinstance(await stream.__anext__(), TextChunk)
    await stream.aclose()
    assert text_of(await collect(provider, USER)) == "next"


def test_chunk_decoding_of_nonstandard_servers() -> None:
    from kimi_code.llm.openai import _StreamState

    state = _StreamState()
    events = []
    # No `index` on tool-call deltas: a new id starts a call, deltas without id continue it.
    events += state.feed({"choices": [{"delta": {"tool_calls": [
        {"id": "a", "function": {"name": "Read", "arguments": '{"file_path"'}}]}}]})
    events += state.feed({"choices": [{"delta": {"tool_calls": [
        {"function": {"arguments": ': "x"}'}}]}}]})
    events += state.feed({"choices": [{"delta": {"tool_calls": [
        {"id": "b", "function": {"name": "Bash", "arguments": "{}"}}]}}]})
    assert [e.call for e in events] == [ToolCall("a", "Read", '{"file_path": "x"}')]
    # Moonshot puts usage (with cached_tokens on top) inside the finishing choice, and some
    # servers answer "stop" after tool calls.
    events = state.feed({"choices": [{"delta": {}, "finish_reason": "stop", "usage": {
        "prompt_tokens": 100, "completion_tokens": 9, "cached_tokens": 60}}]})
    assert [e.call for e in events] == [ToolCall("b", "Bash", "{}")]
    end = state.end()
    assert end.usage == Usage(input_tokens=40, output_tokens=9, cache_read_tokens=60)
    assert end.stop_reason == "tool_use"
