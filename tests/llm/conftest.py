"""Shared helpers: a scripted server per test and providers pointed at it through the real SDKs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import pytest

from kimi_code.llm.anthropic import AnthropicProvider
from kimi_code.llm.base import (
    ChatProvider,
    Message,
    StreamEnd,
    StreamEvent,
    TextChunk,
    ThinkingChunk,
    ToolCallDone,
    ToolSpec,
)
from kimi_code.llm.openai import OpenAIProvider
from tests.support.scripted_server import ScriptedServer

READ = ToolSpec("Read", "Read a file", {"type": "object", "properties": {
    "file_path": {"type": "string"}}, "required": ["file_path"]})
BASH = ToolSpec("Bash", "Run a command", {"type": "object", "properties": {
    "command": {"type": "string"}}, "required": ["command"]})


def make(api: str, server: ScriptedServer, **kwargs: Any) -> ChatProvider:
    """A provider of kind `api` ("openai" | "anthropic") talking to `server`."""
    if api == "openai":
        return OpenAIProvider(model="kimi-test", base_url=server.base_url_openai, api_key="sk-test",
                              **kwargs)
    return AnthropicProvider(model="kimi-test", base_url=server.base_url_anthropic,
                             api_key="sk-test", **kwargs)


async def collect(provider: ChatProvider, messages: Sequence[Message],
                  tools: Sequence[ToolSpec] = (READ, BASH)) -> list[StreamEvent]:
    return [event async for event in provider.stream(messages, tools)]


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextChunk))


def thinking_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, ThinkingChunk))


def calls_of(events: list[StreamEvent]) -> list[Any]:
    return [e.call for e in events if isinstance(e, ToolCallDone)]


def end_of(events: list[StreamEvent]) -> StreamEnd:
    assert isinstance(events[-1], StreamEnd), events[-1]
    assert sum(isinstance(e, StreamEnd) for e in events) == 1
    return events[-1]


@pytest.fixture
def scripted() -> Iterator[Callable[[list[dict[str, Any]]], ScriptedServer]]:
    """`scripted(script)` starts a server that is stopped after the test."""
    servers: list[ScriptedServer] = []

    def start(script: list[dict[str, Any]]) -> ScriptedServer:
        server = ScriptedServer(script).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
async def providers() -> AsyncIterator[Callable[..., ChatProvider]]:
    """`providers(api, server, **kwargs)` builds a provider that is closed after the test."""
    made: list[ChatProvider] = []

    def build(api: str, server: ScriptedServer, **kwargs: Any) -> ChatProvider:
        provider = make(api, server, **kwargs)
        made.append(provider)
        return provider

    yield build
    for provider in made:
        await provider.aclose()
