"""Transcript streaming: append N streamed tokens to a transcript that already holds 2,000
messages, with the real Transcript widget (windowed history, MarkdownStream on the last block)
versus a naive baseline that re-renders the whole conversation as one Markdown document on
every chunk. Also: keystroke latency while streaming, and memory for the 2,000-message session.

Prints figures and ratios (no thresholds):

    .venv/bin/python benchmarks/ui_transcript_bench.py [--messages 2000] [--tokens 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time
import tracemalloc

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Markdown, TextArea

from kimi_code.events import AssistantMessage, StepStarted, TextDelta, UserMessageAdded
from kimi_code.llm.base import Message, ToolCall, Usage
from kimi_code.ui.widgets.transcript import Transcript

TOKENS_PER_CHUNK = 4  # what a drain typically coalesces under load
TOKEN = "word "
TRACE = False  # tracemalloc slows everything ~2x: only with --trace-memory


def history(count: int) -> list[Message]:
    """A realistic mix: prompts, Markdown answers with code, tool calls and results."""
    out: list[Message] = []
    for i in range(count // 4):
        out.append(Message("user", f"Question {i}: why does `f{i}` fail?"))
        out.append(Message("assistant", "", tool_calls=(ToolCall(f"c{i}", "Read",
                                                                 f'{{"file_path": "src/m{i}.py"}}'),)))
        out.append(Message("tool", "\n".join(f"{n}\tline {n}" for n in range(20)), tool_call_id=f"c{i}"))
        out.append(Message("assistant", f"Because **{i}** is odd:\n\n```python\nx = {i}\n```\n"))
    return out


class Harness(App[None]):
    def __init__(self, widget_factory: object) -> None:
        super().__init__()
        self.factory = widget_factory

    def compose(self) -> ComposeResult:
        yield self.factory()  # type: ignore[operator]
        yield TextArea(id="input")


async def run_transcript(messages: list[Message], chunks: int, probe_keys: bool) -> dict[str, float]:
    app = Harness(lambda: Transcript(id="t"))
    async with app.run_test(size=(120, 40)) as pilot:
        transcript = app.query_one(Transcript)
        if TRACE:
            tracemalloc.start()
        t0 = time.perf_counter()
        transcript.load_history(messages)
        await pilot.pause()
        load_s = time.perf_counter() - t0
        await transcript.handle(UserMessageAdded(message=Message("user", "stream please")))
        await transcript.handle(StepStarted(step=1))
        t0 = time.perf_counter()
        feeder = asyncio.create_task(_feed(transcript, chunks))
        latencies = await _probe_keys(app, feeder) if probe_keys else []
        await feeder
        await transcript.handle(AssistantMessage(message=Message("assistant", ""), usage=Usage()))
        await pilot.pause()
        stream_s = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] if TRACE else 0
        tracemalloc.stop()
        return {"load_s": load_s, "stream_s": stream_s, "per_chunk_ms": stream_s / chunks * 1000,
                "mounted": len(transcript.blocks), "total_blocks": transcript.total_blocks,
                "peak_mb": peak / 1e6,
                "key_p95_ms": _p95(latencies) * 1000 if latencies else float("nan"),
                "keys": len(latencies)}


async def run_naive(messages: list[Message], chunks: int) -> dict[str, float]:
    """Baseline: the whole conversation is one Markdown document, re-rendered per chunk."""
    source = "\n\n".join(f"**{m.role}**: {m.content}" for m in messages)
    app = Harness(lambda: Markdown(id="md"))
    async with app.run_test(size=(120, 40)) as pilot:
        md = app.query_one(Markdown)
        t0 = time.perf_counter()
        await md.update(source)
        load_s = time.perf_counter() - t0
        text = source + "\n\n**assistant**: "
        t0 = time.perf_counter()
        for _ in range(chunks):
            text += TOKEN * TOKENS_PER_CHUNK
            await md.update(text)
        await pilot.pause()
        stream_s = time.perf_counter() - t0
        return {"load_s": load_s, "stream_s": stream_s, "per_chunk_ms": stream_s / chunks * 1000}


async def _feed(transcript: Transcript, chunks: int) -> None:
    """Stream chunks the way the app's drain does; yield between them as a network read would."""
    for i in range(chunks):
        await transcript.handle(TextDelta(text=TOKEN * TOKENS_PER_CHUNK + ("\n\n" if i % 50 == 49 else "")))
        await asyncio.sleep(0)


async def _probe_keys(app: App[None], feeder: asyncio.Task[None]) -> list[float]:
    """While the stream runs: post a key press, time until the input shows it."""
    area = app.query_one(TextArea)
    area.focus()
    latencies = []
    while not feeder.done():
        before, started = len(area.text), time.perf_counter()
        app.post_message(events.Key("a", "a"))
        while len(area.text) == before:
            await asyncio.sleep(0.0005)
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.05)  # a fast typist: 20 keys a second
    return latencies


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--baseline-chunks", type=int, default=3,
                        help="the naive baseline is slow: time this many chunks of it")
    parser.add_argument("--trace-memory", action="store_true",
                        help="also report the Python heap peak (tracemalloc; slows the run)")
    args = parser.parse_args()
    global TRACE
    TRACE = args.trace_memory
    messages = history(args.messages)
    chunks = args.tokens // TOKENS_PER_CHUNK
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ours = asyncio.run(run_transcript(messages, chunks, probe_keys=True))
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    naive = asyncio.run(run_naive(messages, args.baseline_chunks))
    print(f"history: {len(messages)} messages -> {ours['total_blocks']:.0f} blocks, "
          f"{ours['mounted']:.0f} mounted (windowed)")
    print(f"load history      transcript {ours['load_s'] * 1000:8.1f} ms   naive {naive['load_s'] * 1000:8.1f} ms")
    print(f"stream {args.tokens} tokens in {chunks} chunks: transcript {ours['stream_s']:.2f} s total")
    print(f"per chunk         transcript {ours['per_chunk_ms']:8.3f} ms   naive {naive['per_chunk_ms']:8.3f} ms "
          f"(naive timed over {args.baseline_chunks} chunks)")
    print(f"ratio naive/transcript per chunk: {naive['per_chunk_ms'] / ours['per_chunk_ms']:.1f}x")
    print(f"keystroke latency while streaming (key posted -> shown in the input): "
          f"p95 {ours['key_p95_ms']:.1f} ms over {ours['keys']:.0f} keys")
    heap = f"python heap peak {ours['peak_mb']:.1f} MB; " if TRACE else ""
    print(f"memory for the {len(messages)}-message session: {heap}max RSS {rss0:.0f} -> {rss1:.0f} MB "
          f"(+{rss1 - rss0:.0f} MB)")


if __name__ == "__main__":
    main()
