"""Explore subagents, failures, budgets, rate limiting and cancellation of a swarm."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from kimi_code.agent.swarm_sched import SwarmLimits
from kimi_code.git.worktrees import leftovers, worktrees_root
from tests.support.routed_server import RoutedServer
from tests.support.swarm_harness import Harness, results_of, swarm_call, tool_call


def explore_routes(items: list[str], **extra: list[dict]) -> dict[str, list[dict]]:
    routes = {"PARENT": [swarm_call(items, "Look at <<{{item}}>>", "explore"), {"text": "ok"}]}
    for item in items:
        routes[f"<<{item}>>"] = [{"tool_calls": [tool_call("Read", file_path="README.md")]},
                                 {"text": f"README says demo ({item})"}]
    routes.update({f"<<{k}>>": v for k, v in extra.items()})
    return routes


async def test_explore_subagents_run_in_parallel_and_cannot_write(repo: Path, servers: list) -> None:
    items = ["e1", "e2", "e3", "e4"]
    sneaky = [{"tool_calls": [tool_call("Write", file_path="pwned.txt", content="x"),
                              tool_call("Bash", command="touch pwned2.txt")]},
              {"text": "tried"}]
    server = RoutedServer(explore_routes(items, e4=sneaky)).start()
    servers.append(server)
    harness = Harness(server, repo, mode="yolo")  # even a yolo parent gives explore no writes
    await harness.run("PARENT: look")
    report = results_of(harness)
    assert [r["status"] for r in report] == ["success"] * 4
    assert report[0]["summary"] == "README says demo (e1)"
    assert not (repo / "pwned.txt").exists() and not (repo / "pwned2.txt").exists()
    refused = [e.message.content for e in harness.of("ToolMessageAdded") if e.agent_id]
    assert any("Unknown tool 'Write'" in text for text in refused)
    assert any("Unknown tool 'Bash'" in text for text in refused)
    # All four were admitted at once: no subagent finished before the last one started.
    kinds = [e.kind for e in harness.events if e.kind in ("SubagentStarted", "SubagentCompleted")]
    assert kinds[:4] == ["SubagentStarted"] * 4
    assert harness.runner.limiter.peak_in_use >= 2
    assert not any(worktrees_root(repo).glob("*")) if worktrees_root(repo).exists() else True


async def test_a_failing_subagent_leaves_the_others_intact(repo: Path, servers: list) -> None:
    items = ["c1", "c2", "c3"]
    routes = {"PARENT": [swarm_call(items, "Work <<{{item}}>>"), {"text": "ok"}]}
    for item in items:
        routes[f"<<{item}>>"] = [
            {"tool_calls": [tool_call("Write", file_path=f"{item}.txt", content=item)]},
            {"text": f"wrote {item}"}]
    routes["<<c2>>"] = [{"tool_calls": [tool_call("Write", file_path="c2.txt", content="c2")]},
                        {"error": {"status": 400, "message": "bad request from the model"}}]
    server = RoutedServer(routes).start()
    servers.append(server)
    harness = Harness(server, repo)
    result = await harness.run("PARENT: go")
    assert result.stop_reason == "end_turn"
    report = results_of(harness)
    assert [r["status"] for r in report] == ["success", "failed", "success"]
    assert "bad request" in report[1]["error"]
    assert (repo / "c1.txt").read_text() == "c1" and (repo / "c3.txt").read_text() == "c3"
    # The failed coder's partial work is not applied, but kept on its branch.
    assert not (repo / "c2.txt").exists()
    assert report[1]["merge"] == "not merged" and leftovers(repo).branches == [report[1]["branch"]]
    completed = {e.subagent_id: e.status for e in harness.of("SubagentCompleted")}
    assert sorted(completed.values()) == ["failed", "success", "success"]


async def test_step_budget_stops_the_swarm_with_a_clear_result(repo: Path, servers: list) -> None:
    items = [f"b{i}" for i in range(6)]
    loop_forever = [{"tool_calls": [tool_call("Grep", pattern="demo")]},
                    {"tool_calls": [tool_call("Glob", pattern="*.md")]},
                    {"tool_calls": [tool_call("Read", file_path="README.md")]},
                    {"text": "finished"}]
    routes = explore_routes(items)
    routes.update({f"<<{i}>>": loop_forever for i in items})
    server = RoutedServer(routes).start()
    servers.append(server)
    harness = Harness(server, repo, limits=SwarmLimits(max_concurrency=2, max_total_steps=10))
    await harness.run("PARENT: look")
    report = results_of(harness)
    statuses = [r["status"] for r in report]
    assert statuses[:2] == ["success", "success"]  # 4 steps each, within the 10-step budget
    assert "budget" in statuses and "skipped" in statuses
    assert harness.runner.budget.steps == 10  # steps beyond the budget were stopped at once
    stopped = next(r for r in report if r["status"] == "skipped")
    assert "max_total_steps=10" in stopped["error"]


async def test_agent_budget_skips_the_rest(repo: Path, servers: list) -> None:
    items = ["a1", "a2", "a3"]
    server = RoutedServer(explore_routes(items)).start()
    servers.append(server)
    harness = Harness(server, repo, limits=SwarmLimits(max_agents=2, max_concurrency=1))
    await harness.run("PARENT: look")
    report = results_of(harness)
    assert [r["status"] for r in report] == ["success", "success", "skipped"]
    assert "max_agents=2" in report[2]["error"]


async def test_rate_limits_shrink_the_concurrency_then_it_recovers(repo: Path, servers: list) -> None:
    items = [f"r{i}" for i in range(4)]
    routes = explore_routes(items)
    limited = {"tool_calls": [tool_call("Read", file_path="README.md")], "fail_first": 1,
               "error": {"status": 429, "retry_after": 0.01, "message": "slow down"}}
    steady = [{"tool_calls": [tool_call("Glob", pattern=f"*{n}*")]} for n in range(12)]
    routes["<<r0>>"] = [limited, *steady, {"text": "done after 429"}]
    server = RoutedServer(routes).start()
    servers.append(server)
    harness = Harness(server, repo, limits=SwarmLimits(max_concurrency=4))
    await harness.run("PARENT: look")
    assert [r["status"] for r in results_of(harness)] == ["success"] * 4
    limiter = harness.runner.limiter
    assert limiter.shrinks == 1
    assert limiter.limit == 4  # recovered one slot per successful request afterwards
    retries = [e for e in harness.of("RetryScheduled") if e.agent_id]
    assert retries and retries[0].status == 429


def _sleepers(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmd:
                found.append(int(pid))
    return found


async def test_cancelling_the_parent_cancels_children_and_cleans_up(repo: Path, servers: list) -> None:
    items = ["k1", "k2", "k3"]
    routes = {"PARENT": [swarm_call(items, "Slow <<{{item}}>>"), {"text": "never"}]}
    for item in items:
        routes[f"<<{item}>>"] = [
            {"tool_calls": [tool_call("Write", file_path=f"{item}.txt", content="x")]},
            {"tool_calls": [tool_call("Bash", command="sleep 31.4159")]},
            {"text": "never reached"}]
    server = RoutedServer(routes).start()
    servers.append(server)
    harness = Harness(server, repo, mode="yolo")
    task = asyncio.create_task(harness.run("PARENT: go"))
    for _ in range(400):  # wait until every child runs its long Bash command
        await asyncio.sleep(0.05)
        if len(_sleepers("sleep 31.4159")) == 3:
            break
    assert len(_sleepers("sleep 31.4159")) == 3
    task.cancel()
    result = await asyncio.gather(task, return_exceptions=True)
    assert isinstance(result[0], asyncio.CancelledError)
    await asyncio.sleep(0.2)
    assert _sleepers("sleep 31.4159") == []
    left = leftovers(repo)
    assert left.worktrees == [] and left.branches == []
    assert not any((repo / f"{i}.txt").exists() for i in items)
    statuses = [e.status for e in harness.of("SubagentCompleted")]
    assert statuses == ["cancelled"] * 3


async def test_bad_spawn_requests_get_clear_errors(repo: Path, servers: list) -> None:
    routes = {"PARENT": [
        {"tool_calls": [
            {"id": "t_tpl", **tool_call("AgentSwarm", description="d", prompt_template="no mark",
                                        items=["a"])},
            {"id": "t_type", **tool_call("Agent", description="d", prompt="p",
                                         subagent_type="wizard")},
            {"id": "t_many", **tool_call("AgentSwarm", description="d", prompt_template="{{item}}",
                                         items=[str(i) for i in range(301)])}]},
        {"text": "ok"}]}
    server = RoutedServer(routes).start()
    servers.append(server)
    harness = Harness(server, repo)
    await harness.run("PARENT: go")
    results = {e.message.tool_call_id: e.message for e in harness.of("ToolMessageAdded")}
    assert all(results[k].is_error for k in ("t_tpl", "t_type", "t_many"))
    assert "must contain {{item}}" in results["t_tpl"].content
    assert "Unknown subagent_type 'wizard'" in results["t_type"].content
    assert "items" in results["t_many"].content and "300" in results["t_many"].content
    assert harness.of("SubagentStarted") == []
