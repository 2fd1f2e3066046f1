"""Harness overhead per agent step against a zero-latency scripted server (target <= 5 ms per
step, excluding model time), and memory over a long run (should stay flat).

Side by side: (a) the bare SDK round trip — the same provider streaming the same scripted
responses with no agent around it — and (b) the full agent loop (events, permission checks,
argument validation, a real Read tool call every step, history growth). The harness overhead
is (b) - (a) per step.

    .venv/bin/python benchmarks/harness_bench.py [--steps 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kimi_code.agent.loop import Agent, AgentOptions  # noqa: E402
from kimi_code.config import ModelConfig  # noqa: E402
from kimi_code.events import Event  # noqa: E402
from kimi_code.llm.base import Message  # noqa: E402
from kimi_code.llm.factory import make_provider  # noqa: E402
from kimi_code.tools.base import ToolContext  # noqa: E402
from kimi_code.tools.registry import ToolRegistry  # noqa: E402
from tests.fakes.scripted_server import ScriptedServer  # noqa: E402


def script(steps: int) -> list[dict]:
    entries = [{"tool_calls": [{"id": f"c{i}", "name": "Read",
                                "arguments": {"file_path": "data.txt", "offset": i % 50 + 1, "limit": 5}}],
                "usage": {"input_tokens": 100, "output_tokens": 10}} for i in range(steps - 1)]
    return entries + [{"text": "done", "usage": {"input_tokens": 100, "output_tokens": 1}}]


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def bare_sdk(server: ScriptedServer, steps: int) -> float:
    provider = make_provider(ModelConfig(name="b", provider="openai", model="m", api_key="x",
                                         base_url=server.base_url_openai))
    history = [Message(role="system", content="s"), Message(role="user", content="go")]
    start = time.perf_counter()
    for _ in range(steps):
        async for _event in provider.stream(history, []):
            pass
    elapsed = time.perf_counter() - start
    await provider.aclose()
    return elapsed


async def full_agent(server: ScriptedServer, steps: int, workdir: Path) -> tuple[float, list[float], int]:
    provider = make_provider(ModelConfig(name="b", provider="openai", model="m", api_key="x",
                                         base_url=server.base_url_openai))
    memory: list[float] = []
    events = 0

    def on_event(event: Event) -> None:
        nonlocal events
        events += 1

    agent = Agent(provider, ToolRegistry.builtin(["Read", "Grep", "Glob", "Edit", "Write", "Bash"]),
                  ToolContext(workspace=workdir), AgentOptions(system_prompt="bench", permission_mode="yolo"),
                  on_event=on_event)
    original_step = agent._step

    async def sampled_step() -> Message:
        message = await original_step()
        if len(agent.context.messages) % 100 < 2:
            memory.append(rss_mib())
        return message

    agent._step = sampled_step  # type: ignore[method-assign]
    start = time.perf_counter()
    result = await agent.run_turn("read the file many times")
    elapsed = time.perf_counter() - start
    assert result.stop_reason == "end_turn" and result.num_steps == steps, result
    await provider.aclose()
    return elapsed, memory, events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("KIMI_CODE_HOME", tempfile.mkdtemp())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "data.txt").write_text("".join(f"line {i}\n" for i in range(100)))
        with ScriptedServer([{"repeat": args.steps, "text": "ok", "usage": {"input_tokens": 100, "output_tokens": 1}}]) as server:
            bare = asyncio.run(bare_sdk(server, args.steps))
        with ScriptedServer(script(args.steps)) as server:
            agent_time, memory, events = asyncio.run(full_agent(server, args.steps, work))
    n = args.steps
    per_bare, per_agent = bare / n * 1000, agent_time / n * 1000
    overhead = per_agent - per_bare
    print(f"steps: {n}")
    print(f"{'':34} {'total s':>9} {'per step ms':>12}")
    print(f"{'bare SDK round trip (baseline)':34} {bare:9.3f} {per_bare:12.2f}")
    print(f"{'full agent step (Read each step)':34} {agent_time:9.3f} {per_agent:12.2f}")
    print(f"harness overhead per step: {overhead:.2f} ms (ratio agent/bare {per_agent / per_bare:.2f}x); "
          f"target <= 5 ms: {'MET' if overhead <= 5 else 'NOT MET'}")
    print(f"events emitted: {events}")
    if memory:
        print("RSS MiB sampled every ~50 steps: " + ", ".join(f"{m:.1f}" for m in memory)
              + f"  (growth {memory[-1] - memory[0]:+.1f} MiB)")


if __name__ == "__main__":
    main()
