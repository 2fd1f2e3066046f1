"""Checkpoints after spawn tools, through `kimi-code run`: a coder swarm that merges files back
is followed by a checkpoint holding them; an explore subagent (which changes nothing) is not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kimi_code.git.checkpoints.store import CheckpointStore
from tests.support.routed_server import RoutedServer
from tests.support.swarm_harness import tool_call

KIMI = str(Path(sys.executable).with_name("kimi-code"))


def run_stream_json(prompt: str, cwd: Path, home: Path, server: RoutedServer) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIMI_", "MOONSHOT_"))}
    env.update(KIMI_CODE_HOME=str(home), KIMI_CODE_RETRY_BASE_DELAY="0.01",
               KIMI_CODE_NO_REPO_MAP="1", KIMI_CODE_NO_CHECKPOINT_GC="1",
               KIMI_MODEL_NAME="test-model", KIMI_API_KEY="sk-test",
               KIMI_BASE_URL=server.base_url_openai)
    proc = subprocess.run([KIMI, "run", "--output-format", "stream-json", prompt], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_a_merging_coder_swarm_is_checkpointed_and_an_explore_agent_is_not(
        repo: Path, home: Path, servers: list) -> None:
    routes = {
        "PARENT": [
            {"tool_calls": [{"id": "toolu_explore", **tool_call(
                "Agent", description="read the title", prompt="CHILD: what is the title?")}]},
            {"tool_calls": [{"id": "toolu_swarm", **tool_call(
                "AgentSwarm", description="write files", subagent_type="coder",
                prompt_template="Write <<{{item}}>>", items=["x.txt", "y.txt"])}]},
            {"text": "parent done"}],
        "CHILD": [{"tool_calls": [tool_call("Read", file_path="README.md")]},
                  {"text": "The title is demo."}],
    }
    for item in ("x.txt", "y.txt"):
        routes[f"<<{item}>>"] = [
            {"tool_calls": [tool_call("Write", file_path=item, content=f"{item} by a coder\n")]},
            {"text": f"wrote {item}"}]
    server = RoutedServer(routes).start()
    servers.append(server)

    lines = run_stream_json("PARENT: go", repo, home, server)

    session_id = lines[0]["session_id"]
    triggers = [(x["trigger"], x["checkpoint_id"]) for x in lines
                if x.get("subtype") == "checkpoint" and x["parent_tool_use_id"] is None]
    assert [t for t, _ in triggers] == ["turn: PARENT: go", "after AgentSwarm"], triggers
    after_swarm = triggers[-1][1]
    # The checkpoint holds the merged files: lose them, rewind to it, and they are back.
    (repo / "x.txt").unlink()
    (repo / "y.txt").write_text("changed by hand\n")
    report = CheckpointStore(repo, session_id).restore(after_swarm, force=True)
    assert report.applied
    assert (repo / "x.txt").read_text() == "x.txt by a coder\n"
    assert (repo / "y.txt").read_text() == "y.txt by a coder\n"
