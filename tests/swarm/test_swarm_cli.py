"""`kimi-code run` end to end with subagents: stream-json lines carry parent_tool_use_id, child
transcripts are stored as linked sessions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kimi_code.session.store import SessionStore
from tests.support.routed_server import RoutedServer
from tests.support.swarm_harness import tool_call

KIMI = str(Path(sys.executable).with_name("kimi-code"))


def run_kimi(args: list[str], cwd: Path, home: Path, server: RoutedServer) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIMI_", "MOONSHOT_"))}
    env.update(KIMI_CODE_HOME=str(home), KIMI_CODE_RETRY_BASE_DELAY="0.01",
               KIMI_CODE_NO_REPO_MAP="1", KIMI_MODEL_NAME="test-model", KIMI_API_KEY="sk-test",
               KIMI_BASE_URL=server.base_url_openai)
    return subprocess.run([KIMI, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_stream_json_shows_subagents_with_parent_tool_use_id(repo: Path, home: Path,
                                                             servers: list) -> None:
    routes = {
        "PARENT": [
            {"tool_calls": [{"id": "toolu_agent", **tool_call(
                "Agent", description="find the title", prompt="CHILD: what is the title?")}]},
            {"tool_calls": [{"id": "toolu_swarm", **tool_call(
                "AgentSwarm", description="write files", subagent_type="coder",
                prompt_template="Write <<{{item}}>>", items=["x.txt", "y.txt"])}]},
            {"text": "parent done"}],
        "CHILD": [{"tool_calls": [tool_call("Read", file_path="README.md")]},
                  {"text": "The title is demo."}],
    }
    for item in ("x.txt", "y.txt"):
        routes[f"<<{item}>>"] = [{"tool_calls": [tool_call("Write", file_path=item, content=item)]},
                                 {"text": f"wrote {item}"}]
    server = RoutedServer(routes).start()
    servers.append(server)
    proc = run_kimi(["run", "--output-format", "stream-json", "PARENT: go"], repo, home, server)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    init = lines[0]
    assert init["subtype"] == "init" and {"Agent", "AgentSwarm"} <= set(init["tools"])
    started = [x for x in lines if x.get("subtype") == "subagent_started"]
    completed = [x for x in lines if x.get("subtype") == "subagent_completed"]
    assert [x["parent_tool_use_id"] for x in started] == ["toolu_agent", "toolu_swarm", "toolu_swarm"]
    assert "item" not in started[0] and sorted(x["item"] for x in started[1:]) == ["x.txt", "y.txt"]
    # progress per step and as each tool starts: the Write shows while it runs
    progress = [x for x in lines if x.get("subtype") == "subagent_progress"]
    swarm_ids = {x["subagent_id"] for x in started[1:]}
    for sid in swarm_ids:
        mine = [(x["step"], x["last_tool"]) for x in progress if x["subagent_id"] == sid]
        assert (1, "") in mine and (1, "Write") in mine and (2, "Write") in mine
    assert all(x["status"] == "success" for x in completed)
    assert sorted(f for x in completed for f in x["files_changed"]) == ["x.txt", "y.txt"]
    child_assistant = [x for x in lines if x["type"] == "assistant" and x["parent_tool_use_id"]]
    assert {x["parent_tool_use_id"] for x in child_assistant} == {"toolu_agent", "toolu_swarm"}
    assert any(block.get("text") == "The title is demo." for x in child_assistant
               for block in x["message"]["content"])
    child_results = [x for x in lines if x["type"] == "user" and x["parent_tool_use_id"] == "toolu_agent"]
    assert child_results and "# demo" in child_results[0]["message"]["content"][0]["content"]
    # The parent's own tool result for the Agent call holds the child's answer.
    parent_results = [x for x in lines if x["type"] == "user" and x["parent_tool_use_id"] is None]
    agent_result = parent_results[0]["message"]["content"][0]
    assert agent_result["tool_use_id"] == "toolu_agent"
    assert agent_result["content"].startswith("The title is demo.")
    assert lines[-1]["type"] == "result" and lines[-1]["result"] == "parent done"
    assert (repo / "x.txt").read_text() == "x.txt" and (repo / "y.txt").read_text() == "y.txt"
    # Each subagent's transcript is its own session, linked to the parent.
    with SessionStore(home / "data" / "sessions.db") as store:
        parent = store.latest(repo)
        assert parent is not None
        children = [s for s in store.list(repo, include_subagents=True) if s.parent_id == parent.id]
        assert len(children) == 3 and all(s.meta["kind"] == "subagent" for s in children)
        agent_child = next(s for s in children if s.meta["parent_tool_use_id"] == "toolu_agent")
        texts = [m.content for m in store.messages(agent_child.id)]
        assert texts[0] == "CHILD: what is the title?" and texts[-1] == "The title is demo."


def test_text_mode_prints_the_answer_and_no_leftovers(repo: Path, home: Path, servers: list) -> None:
    routes = {"PARENT": [{"tool_calls": [{"id": "t1", **tool_call(
        "Agent", description="edit", prompt="CODER: edit", subagent_type="coder")}]},
        {"text": "finished"}],
        "CODER": [{"tool_calls": [tool_call("Write", file_path="new.txt", content="hi")]},
                  {"text": "wrote new.txt"}]}
    server = RoutedServer(routes).start()
    servers.append(server)
    proc = run_kimi(["run", "PARENT: go"], repo, home, server)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "finished"
    table = proc.stderr.splitlines()
    header = next(i for i, line in enumerate(table) if line.startswith("#"))
    assert table[header].split()[:4] == ["#", "type", "status", "steps"]
    assert table[header + 1].split()[:3] == ["1", "coder", "success"]
    assert "merged" in table[header + 1]
    assert (repo / "new.txt").read_text() == "hi"
    branches = subprocess.run(["git", "branch", "--list", "kimi-code/*"], cwd=repo,
                              capture_output=True, text=True).stdout
    assert branches.strip() == ""
