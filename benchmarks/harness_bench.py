"""Harness overhead per agent step against a zero-latency scripted server (target <= 5 ms per
step, excluding model time), and memory over a long run (should stay flat).

Side by side: (a) the bare provider round trip — the same provider streaming scripted responses
for a history of the same size, with no agent around it — and (b) the full agent loop (events,
permission checks, argument validation, a real Read tool call every step, history growth).
The scripted server runs in its own process so its work is not billed to ours. Reported per
step: wall time and this process's CPU time; the harness overhead is (b) - (a).

    .venv/bin/python benchmarks/harness_bench.py [--steps 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TOOLS = ["Read", "Grep", "Glob", "Edit", "Write", "Bash"]

from kimi_code.agent.loop import Agent, AgentOptions  # noqa: E402
from kimi_code.config import ModelConfig  # noqa: E402
from kimi_code.events import Event  # noqa: E402
from kimi_code.llm.base import Message, ToolCall  # noqa: E402
from kimi_code.llm.factory import make_provider  # noqa: E402
from kimi_code.tools.base import ToolContext  # noqa: E402
from kimi_code.tools.registry import ToolRegistry  # noqa: E402


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


class ServerProcess:
    """The scripted server in a subprocess (python -m tests.support.scripted_server)."""

    def __init__(self, entries: list[dict]) -> None:
        self.dir = Path(tempfile.mkdtemp())
        (self.dir / "script.json").write_text(json.dumps(entries))
        port_file = self.dir / "port"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.scripted_server", "--script",
             str(self.dir / "script.json"), "--port-file", str(port_file)], cwd=ROOT)
        deadline = time.monotonic() + 30
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.base_url_openai = f"http://127.0.0.1:{port_file.read_text().strip()}/v1"

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def history_like_agent(steps: int) -> list[Message]:
    """A history shaped like the agent's after `steps` Read steps (for the bare baseline)."""
    history = [Message(role="system", content="bench"), Message(role="user", content="go")]
    for i in range(steps):
        call = ToolCall(f"c{i}", "Read", json.dumps({"file_path": "data.txt", "offset": i}))
        history.append(Message(role="assistant", tool_calls=(call,)))
        history.append(Message(role="tool", tool_call_id=f"c{i}", content="     1\tline 1\n" * 5))
    return history


async def bare_sdk(server: ServerProcess, steps: int) -> tuple[float, float]:
    provider = make_provider(ModelConfig(name="b", provider="openai", model="m", api_key="x",
                                         base_url=server.base_url_openai))
    specs = ToolRegistry.builtin(TOOLS).specs()
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(steps):
        async for _event in provider.stream(history_like_agent(i), specs):
            pass
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await provider.aclose()
    return elapsed, cpu


async def full_agent(server: ServerProcess, steps: int, workdir: Path) -> tuple[float, float, list[float], int]:
    provider = make_provider(ModelConfig(name="b", provider="openai", model="m", api_key="x",
                                         base_url=server.base_url_openai))
    memory: list[float] = []
    events = 0

    def on_event(event: Event) -> None:
        nonlocal events
        events += 1

    agent = Agent(provider, ToolRegistry.builtin(TOOLS),
                  ToolContext(workspace=workdir), AgentOptions(system_prompt="bench", permission_mode="yolo"),
                  on_event=on_event)
    original_step = agent._step

    async def sampled_step() -> Message:
        message = await original_step()
        if len(agent.context.messages) % 100 < 2:
            memory.append(rss_mib())
        return message

    agent._step = sampled_step  # type: ignore[method-assign]
    start, cpu = time.perf_counter(), time.process_time()
    result = await agent.run_turn("read the file many times")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert result.stop_reason == "end_turn" and result.num_steps == steps, result
    await provider.aclose()
    return elapsed, cpu, memory, events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("KIMI_CODE_HOME", tempfile.mkdtemp())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "data.txt").write_text("".join(f"line {i}\n" for i in range(100)))
        bare_script = [{"repeat": args.steps, "text": "ok",
                        "usage": {"input_tokens": 100, "output_tokens": 1}}]
        with ServerProcess(bare_script) as server:
            bare, bare_cpu = asyncio.run(bare_sdk(server, args.steps))
        with ServerProcess(script(args.steps)) as server:
            agent_time, agent_cpu, memory, events = asyncio.run(full_agent(server, args.steps, work))
    n = args.steps
    rows = [("bare provider round trip (baseline)", bare, bare_cpu),
            ("full agent step (Read each step)", agent_time, agent_cpu)]
    print(f"steps: {n} (history grows to {2 * n} messages)")
    print(f"{'':38} {'wall ms/step':>13} {'cpu ms/step':>12}")
    for name, wall, cpu in rows:
        print(f"{name:38} {wall / n * 1000:13.2f} {cpu / n * 1000:12.2f}")
    overhead_wall = (agent_time - bare) / n * 1000
    overhead_cpu = (agent_cpu - bare_cpu) / n * 1000
    print(f"harness overhead per step: {overhead_wall:.2f} ms wall, {overhead_cpu:.2f} ms cpu "
          f"(ratio agent/bare wall {agent_time / bare:.2f}x); target <= 5 ms: "
          f"{'MET' if overhead_wall <= 5 else 'NOT MET'}")
    print(f"events emitted: {events}")
    if memory:
        print("RSS MiB sampled every ~50 steps: " + ", ".join(f"{m:.1f}" for m in memory)
              + f"  (growth {memory[-1] - memory[0]:+.1f} MiB)")


if __name__ == "__main__":
    main()
