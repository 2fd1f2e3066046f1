"""Swarm fan-out figures against the scripted server (run in its own process), side by side.

1. Latency-bound fan-out (issue 6 target: 64 subagents x 5 steps at 200 ms per model call finish
   within 1.5 x one subagent's time): wall time of one subagent alone, of the whole swarm, the
   ratio, the computed sequential time, and the computed time of a "5 at once, then one per
   700 ms" ramp for comparison.
2. Overhead at zero latency (300 x 4 target: completes, peak RSS <= 1.5 GB, no fd/thread leak):
   wall time, per-subagent and per-step overhead, peak RSS, open fds and threads before/after.
3. Worktrees (target <= 0.5 s each for a 10,000-file repo, created concurrently).

    .venv/bin/python benchmarks/swarm_bench.py [--agents 64 --steps 5 --latency 0.2]
        [--many 300 --many-steps 4] [--files 10000 --worktrees 8] [--skip-worktrees]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kimi_code.agent.swarm import SwarmRunner  # noqa: E402
from kimi_code.agent.swarm_sched import SwarmLimits  # noqa: E402
from kimi_code.llm.openai import OpenAIProvider  # noqa: E402
from kimi_code.tools.subagents import SubagentSpec  # noqa: E402


def routes(agents: int, steps: int, latency: float) -> dict:
    """Each subagent: steps-1 Glob calls, then a final answer; every answer after `latency`."""
    per_agent = [{"tool_calls": [{"name": "Glob", "arguments": {"pattern": f"*{i}*.md"}}],
                  "delay_s": latency} for i in range(steps - 1)]
    per_agent.append({"text": "found it", "delay_s": latency})
    return {f"<<{n}>>": per_agent for n in range(agents)}


def _serve(route_table: dict, conn: object) -> None:
    from tests.support.routed_server import RoutedServer

    server = RoutedServer(route_table).start()
    conn.send(server.base_url_openai)  # type: ignore[attr-defined]
    threading.Event().wait()


def start_server(route_table: dict) -> tuple[mp.Process, str]:
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=_serve, args=(route_table, child), daemon=True)
    proc.start()
    return proc, parent.recv()


async def run_swarm(base_url: str, workspace: Path, agents: int, concurrency: int) -> float:
    provider = OpenAIProvider(model="bench", base_url=base_url, api_key="sk-bench",
                              context_window=100_000)
    runner = SwarmRunner(provider, workspace, session_id="bench",
                         limits=SwarmLimits(max_concurrency=concurrency, max_agents=10_000,
                                            max_total_steps=1_000_000))
    specs = [SubagentSpec(f"look {n}", f"Find <<{n}>>", "explore") for n in range(agents)]
    started = time.perf_counter()
    results = await runner.run(specs, "bench")
    elapsed = time.perf_counter() - started
    await provider.aclose()
    bad = [r for r in results if r.status != "success"]
    if bad:
        raise SystemExit(f"{len(bad)} subagents did not succeed: {bad[0].status} {bad[0].error}")
    return elapsed


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def latency_section(args: argparse.Namespace, workspace: Path) -> None:
    proc, url = start_server(routes(args.agents, args.steps, args.latency))
    try:
        asyncio.run(run_swarm(url, workspace, 1, 1))  # warm imports
        one = asyncio.run(run_swarm(url, workspace, 1, 1))
        cpu0, server0 = time.process_time(), process_cpu(proc.pid)
        many = asyncio.run(run_swarm(url, workspace, args.agents, args.agents))
        cpu, server = time.process_time() - cpu0, process_cpu(proc.pid) - server0
    finally:
        proc.kill()
    ramp = (max(0, args.agents - 5)) * 0.7 + one
    print(f"\n== {args.agents} subagents x {args.steps} steps, {args.latency * 1000:.0f} ms per model call")
    print(f"one subagent alone           {one:8.2f} s")
    print(f"swarm (all {args.agents:3d} at once)     {many:8.2f} s   ratio {many / one:.2f} x one "
          f"(target <= 1.5)")
    print(f"client CPU for the swarm     {cpu:8.2f} s   ({cpu / (args.agents * args.steps) * 1000:.2f} ms "
          "per step: what the 2 cores are shared out by when the machine is busy)")
    print(f"scripted server CPU          {server:8.2f} s   (its own process)")
    print(f"sequential (computed)        {one * args.agents:8.2f} s   speed-up {one * args.agents / many:.1f} x")
    print(f"5-then-1-per-700ms ramp      {ramp:8.2f} s   (computed, for comparison)")


def many_section(args: argparse.Namespace, workspace: Path) -> None:
    proc, url = start_server(routes(args.many, args.many_steps, 0.0))
    try:
        asyncio.run(run_swarm(url, workspace, 2, 2))  # warm imports and pools
        rss0, fd0, th0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, fds(), threading.active_count()
        one = asyncio.run(run_swarm(url, workspace, 1, 1))
        wall = asyncio.run(run_swarm(url, workspace, args.many, args.many_concurrency))
        rss1, fd1, th1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, fds(), threading.active_count()
    finally:
        proc.kill()
    steps = args.many * args.many_steps
    print(f"\n== {args.many} subagents x {args.many_steps} steps, zero model latency, "
          f"concurrency {args.many_concurrency}")
    print(f"one subagent                 {one * 1000:8.1f} ms")
    print(f"whole swarm                  {wall:8.2f} s   ({wall / args.many * 1000:.1f} ms per subagent, "
          f"{wall / steps * 1000:.2f} ms per step, sequential would be {one * args.many:.2f} s)")
    print(f"peak RSS                     {rss1 / 1024:8.1f} MB (before the swarm: {rss0 / 1024:.1f} MB; "
          "target <= 1536)")
    print(f"open fds before/after        {fd0} / {fd1}")
    print(f"threads before/after         {th0} / {th1}")


def make_repo(path: Path, files: int) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for i in range(files):
        folder = path / f"pkg{i // 500}"
        folder.mkdir(exist_ok=True)
        (folder / f"m{i}.py").write_text(f"VALUE_{i} = {i}\n")
    git = ["git", "-c", "user.email=b@b", "-c", "user.name=b"]
    subprocess.run([*git, "add", "."], cwd=path, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=path, check=True)
    (path / "pkg0" / "m0.py").write_text("changed = True\n")  # an uncommitted change


def worktree_section(args: argparse.Namespace, tmp: Path) -> None:
    from kimi_code.git.worktrees import Worktree, create_worktree, remove_worktree, snapshot_base

    repo = tmp / "big"
    repo.mkdir()
    make_repo(repo, args.files)
    started = time.perf_counter()
    base = snapshot_base(repo)
    snap = time.perf_counter() - started

    def one(n: int) -> tuple[float, Worktree]:
        t0 = time.perf_counter()
        wt = create_worktree(repo, base, "bench", n)
        return time.perf_counter() - t0, wt

    started = time.perf_counter()
    solo, wt = one(0)
    remove_worktree(wt, delete_branch=True)
    from concurrent.futures import ThreadPoolExecutor

    started = time.perf_counter()
    with ThreadPoolExecutor(args.worktrees) as pool:
        timed = list(pool.map(one, range(1, args.worktrees + 1)))
    wall = time.perf_counter() - started
    for _, wt in timed:
        remove_worktree(wt, delete_branch=True)
    each = sorted(t for t, _ in timed)
    print(f"\n== worktrees of a {args.files}-file repo (with an uncommitted change)")
    print(f"snapshot of HEAD + changes   {snap:8.3f} s (once per swarm)")
    print(f"one worktree alone           {solo:8.3f} s (target <= 0.5)")
    print(f"{args.worktrees} concurrently            {wall:8.3f} s wall; each median "
          f"{each[len(each) // 2]:.3f} s, max {each[-1]:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--many", type=int, default=300)
    parser.add_argument("--many-steps", type=int, default=4)
    parser.add_argument("--many-concurrency", type=int, default=64)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--worktrees", type=int, default=8)
    parser.add_argument("--skip-worktrees", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("KIMI_CODE_NO_REPO_MAP", "1")
    with tempfile.TemporaryDirectory(prefix="swarm-bench-") as tmp:
        os.environ["KIMI_CODE_HOME"] = str(Path(tmp) / "home")
        workspace = Path(tmp) / "ws"
        workspace.mkdir()
        (workspace / "README.md").write_text("# bench\n")
        latency_section(args, workspace)
        many_section(args, workspace)
        if not args.skip_worktrees:
            worktree_section(args, Path(tmp))


if __name__ == "__main__":
    main()
