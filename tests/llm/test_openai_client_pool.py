"""Many concurrent streams through one OpenAIProvider spread over a few small client pools, and
every lease is returned (also when a stream fails)."""

from __future__ import annotations

import asyncio

import pytest

from kimi_code.llm import client_pool
from kimi_code.llm.base import Message, ProviderError, StreamEnd
from kimi_code.llm.openai import OpenAIProvider
from tests.support.scripted_server import ScriptedServer


async def _drain(provider: OpenAIProvider) -> list:
    return [e async for e in provider.stream([Message(role="user", content="hi")], [])]


async def test_concurrent_streams_use_several_clients_and_release_leases() -> None:
    with ScriptedServer([{"repeat": 24, "text": "ok", "delay_s": 0.2}]) as server:
        provider = OpenAIProvider(model="m", base_url=server.base_url_openai, api_key="k")
        results = await asyncio.gather(*(_drain(provider) for _ in range(24)))
        assert all(isinstance(r[-1], StreamEnd) for r in results)
        assert 3 <= len(provider.pool.clients) <= client_pool.MAX_CLIENTS
        assert provider.pool.in_flight == [0] * len(provider.pool.clients)
        # every client shares the one TLS context instead of loading the CA bundle again
        contexts = {id(c._client._transport._pool._ssl_context) for c in provider.pool.clients}
        assert contexts == {id(client_pool.shared_ssl_context())}
        await provider.aclose()


async def test_failed_stream_returns_its_lease() -> None:
    with ScriptedServer([{"error": {"status": 400, "message": "bad"}}]) as server:
        provider = OpenAIProvider(model="m", base_url=server.base_url_openai, api_key="k")
        with pytest.raises(ProviderError):
            await _drain(provider)
        assert provider.pool.in_flight == [0]
        await provider.aclose()
