"""Provider streaming cost against the zero-latency scripted server (prints figures, no asserts).

1. CPU per streamed chunk: our providers vs. iterating the same stream with the SDK's typed
   (pydantic) stream objects, side by side, with the ratio.
2. CPU per step with a long history (200 messages, 12 tools): our OpenAI provider, which sends
   its prebuilt JSON as extra_body, vs. the SDK's typed call with the same messages.
3. Wall time per model step (one request with text and a tool call) over N sequential steps.
4. Anthropic stream before/after: the provider's raw-SSE dict path (now) vs. its previous typed
   pydantic-event path (benchmarks/anthropic_typed_baseline.py), on a text stream and on an
   interleaved thinking + tool_use stream, runs alternated. The server runs in its own process
   here, so these CPU figures are the client's alone.

CPU time is process time; in sections 1-2 it includes the in-process server thread for both
columns alike.
Run: .venv/bin/python -m benchmarks.llm_stream [--chunks 1000] [--steps 200] [--only anthropic]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anthropic
import openai

from benchmarks.anthropic_typed_baseline import TypedAnthropicProvider
from kimi_code.llm.anthropic import AnthropicProvider
from kimi_code.llm.base import Message, ToolCall, ToolSpec
from kimi_code.llm.openai import OpenAIProvider, to_openai_messages, to_openai_tools
from tests.support import wire
from tests.support.scripted_server import ScriptedServer

USER = [Message("user", "hi")]
WIRE_USER = [{"role": "user", "content": "hi"}]
READ = ToolSpec("Read", "Read a file", {"type": "object", "properties": {}})


async def cpu_ms(fn: Callable[[], Awaitable[None]], runs: int = 7) -> float:
    samples = []
    for _ in range(runs):
        start = time.process_time()
        await fn()
        samples.append(time.process_time() - start)
    return statistics.median(samples) * 1e3


async def per_chunk(chunks: int) -> None:
    entry = {"text": "tok " * chunks, "text_chunks": chunks, "repeat": 1000}
    with ScriptedServer([entry]) as server:
        ours_o = OpenAIProvider(model="m", base_url=server.base_url_openai)
        ours_a = AnthropicProvider(model="m", base_url=server.base_url_anthropic)
        sdk_o = openai.AsyncOpenAI(base_url=server.base_url_openai, api_key="x", max_retries=0)
        sdk_a = anthropic.AsyncAnthropic(base_url=server.base_url_anthropic, api_key="x",
                                         max_retries=0)

        async def drain(provider) -> None:
            async for _ in provider.stream(USER, []):
                pass

        async def typed_openai() -> None:
            async for _ in await sdk_o.chat.completions.create(model="m", messages=WIRE_USER,
                                                                stream=True):
                pass

        async def typed_anthropic() -> None:
            async for _ in await sdk_a.messages.create(model="m", max_tokens=10,
                                                       messages=WIRE_USER, stream=True):
                pass

        print(f"CPU per {chunks}-chunk stream (median of 7), us per chunk:")
        for name, ours, typed in (("openai", lambda: drain(ours_o), typed_openai),
                                  ("anthropic", lambda: drain(ours_a), typed_anthropic)):
            await ours()
            await typed()  # warm both paths
            a, b = await cpu_ms(ours), await cpu_ms(typed)
            print(f"  {name:9s} provider {a * 1e3 / chunks:6.1f}   SDK typed stream "
                  f"{b * 1e3 / chunks:6.1f}   ratio {b / a:4.2f}x")
        for closable in (ours_o, ours_a, sdk_o, sdk_a):
            await closable.aclose() if hasattr(closable, "aclose") else await closable.close()


def long_history(turns: int = 100) -> list[Message]:
    history = [Message("system", "You are a coding agent. " * 80), Message("user", "Fix it.")]
    for i in range(turns):
        call = ToolCall(f"call_{i}", "Read", '{"file_path": "src/module.py"}')
        history.append(Message("assistant", "Reading.", thinking="Plan. " * 40, tool_calls=(call,)))
        history.append(Message("tool", "line of code\n" * 250, tool_call_id=f"call_{i}"))
    return history


async def per_history_step() -> None:
    history = long_history()
    tools = [ToolSpec(f"Tool{i}", "Does things. " * 25, {"type": "object", "properties": {
        "path": {"type": "string", "description": "A path. " * 10}}}) for i in range(12)]
    with ScriptedServer([{"text": "ok", "repeat": 1000}]) as server:
        ours = OpenAIProvider(model="m", base_url=server.base_url_openai)
        sdk = openai.AsyncOpenAI(base_url=server.base_url_openai, api_key="x", max_retries=0)

        async def provider_step() -> None:
            async for _ in ours.stream(history, tools):
                pass

        async def typed_step() -> None:
            async for _ in await sdk.chat.completions.create(
                    model="m", messages=to_openai_messages(history), tools=to_openai_tools(tools),
                    stream=True, stream_options={"include_usage": True}):
                pass

        await provider_step()
        await typed_step()
        a, b = await cpu_ms(provider_step), await cpu_ms(typed_step)
        print(f"CPU per step with a {len(history)}-message history (median of 7):")
        print(f"  openai    provider {a:6.1f} ms   SDK typed call {b:6.1f} ms   ratio {b / a:4.2f}x")
        await ours.aclose()
        await sdk.close()


async def per_step(steps: int) -> None:
    entry = {"text": "I will read the file, then run the tests.", "repeat": steps + 10,
             "tool_calls": [{"id": "c1", "name": "Read", "arguments": {"file_path": "calc.py"}}]}
    print(f"Wall time per step over {steps} sequential steps (text + one tool call):")
    for name in ("openai", "anthropic"):
        with ScriptedServer([entry]) as server:
            provider = (OpenAIProvider(model="m", base_url=server.base_url_openai)
                        if name == "openai" else
                        AnthropicProvider(model="m", base_url=server.base_url_anthropic))
            times = []
            for _ in range(steps + 5):
                start = time.perf_counter()
                async for _ in provider.stream(USER, [READ]):
                    pass
                times.append(time.perf_counter() - start)
            await provider.aclose()
            times = sorted(times[5:])
            print(f"  {name:9s} median {statistics.median(times) * 1e3:5.2f} ms   "
                  f"p90 {times[int(len(times) * 0.9)] * 1e3:5.2f} ms")


@contextmanager
def server_process(script: list[dict]) -> Iterator[str]:
    """The scripted server in its own process; yields its Anthropic base URL."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        script_file, port_file = Path(tmp) / "script.json", Path(tmp) / "port"
        script_file.write_text(json.dumps(script))
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.scripted_server", "--script", str(script_file),
             "--port-file", str(port_file)], cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
        try:
            deadline = time.monotonic() + 30
            while not port_file.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the scripted server did not start")
                time.sleep(0.02)
            yield f"http://127.0.0.1:{int(port_file.read_text())}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


async def cpu_pair(a: Callable[[], Awaitable[None]], b: Callable[[], Awaitable[None]],
                   runs: int = 9) -> tuple[float, float]:
    """Median CPU ms of a and b, their runs alternated so machine load hits both alike."""
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for fn, out in ((a, samples[0]), (b, samples[1])):
            start = time.process_time()
            await fn()
            out.append(time.process_time() - start)
    return statistics.median(samples[0]) * 1e3, statistics.median(samples[1]) * 1e3


def interleaved_entry(pairs: int) -> dict:
    blocks = []
    for i in range(pairs):
        blocks.append({"type": "thinking", "thinking": f"Step {i}: check the next file. " * 3})
        blocks.append({"type": "tool_use", "id": f"toolu_{i}", "name": "Read",
                       "arguments": {"file_path": f"src/module_{i}.py", "limit": 200}})
    return {"blocks": blocks}


def drainer(provider: AnthropicProvider) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        async for _ in provider.stream(USER, [READ]):
            pass
    return run


def transport_only(provider: AnthropicProvider) -> Callable[[], Awaitable[None]]:
    """The same request with its body bytes read and thrown away: the HTTP stack's own cost."""
    args = provider._create_args(provider.request(USER, [READ], None))

    async def run() -> None:
        async with provider.pool.lease() as client, \
                client.messages.with_streaming_response.create(**args, stream=True) as response:
            async for _ in response.iter_bytes():
                pass
    return run


async def anthropic_before_after(chunks: int) -> None:
    shapes = {"text": {"text": "tok " * chunks, "text_chunks": chunks},
              "thinking+tools": interleaved_entry(max(1, chunks // 11))}
    print("Anthropic stream CPU per SSE event, client only (median of 9, alternated); "
          "'HTTP only' reads the same body and parses nothing:")
    for name, entry in shapes.items():
        events = len(wire.anthropic_events(wire.normalize(entry, 1, {}), "m"))
        with server_process([{**entry, "repeat": 1000}]) as base_url:
            now = AnthropicProvider(model="m", base_url=base_url)
            before = TypedAnthropicProvider(model="m", base_url=base_url)
            for fn in (drainer(now), drainer(before), transport_only(now)):
                await fn()  # warm every path
            after_ms, before_ms = await cpu_pair(drainer(now), drainer(before))
            floor_ms = (await cpu_pair(transport_only(now), transport_only(now), runs=5))[0]
            us = [ms * 1e3 / events for ms in (before_ms, after_ms, floor_ms)]
            print(f"  {name:15s} {events:5d} events   before (typed events) {us[0]:5.1f} us   "
                  f"after (raw SSE) {us[1]:5.1f} us   ratio {before_ms / after_ms:4.2f}x   "
                  f"HTTP only {us[2]:5.1f} us   above HTTP: {us[0] - us[2]:4.1f} -> "
                  f"{us[1] - us[2]:4.1f} us ({(us[0] - us[2]) / max(us[1] - us[2], 1e-9):3.1f}x)")
            await now.aclose()
            await before.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--only", choices=["anthropic"], default=None,
                        help="run only the Anthropic before/after section")
    args = parser.parse_args()
    if args.only is None:
        asyncio.run(per_chunk(args.chunks))
        asyncio.run(per_history_step())
        asyncio.run(per_step(args.steps))
    asyncio.run(anthropic_before_after(args.chunks))


if __name__ == "__main__":
    main()
