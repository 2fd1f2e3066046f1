"""Custom subagent types (`.kimi-code/agents/*.md`) load in trusted workspaces and are refused
with a notice in untrusted ones: through `kimi-code run` (a subprocess against the scripted
server) and through the TUI (Pilot), both ways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kimi_code.safety import trust
from tests.support.cli_runs import base_env, run_kimi
from tests.support.scripted_server import ScriptedServer

ROLE = "You are the changelog scout CUSTOM-ROLE-7f3."
REFUSED = "were not loaded: this workspace is not trusted"


def write_custom_type(workspace: Path) -> None:
    folder = workspace / ".kimi-code" / "agents"
    folder.mkdir(parents=True)
    (folder / "scout.md").write_text(
        f"---\ndescription: Reads the changelog\ntools: [Read, Grep]\n---\n{ROLE}\n")


def spawn_scout() -> dict[str, Any]:
    return {"tool_calls": [{"id": "spawn1", "name": "Agent", "arguments": {
        "description": "scout the changelog", "prompt": "what changed?",
        "subagent_type": "scout"}}]}


def system_prompts(server: ScriptedServer) -> list[str]:
    return [m["content"] for body in server.model_bodies() for m in body["messages"]
            if m["role"] == "system"]


def spawn_result(server: ScriptedServer) -> str:
    tools = [m for m in server.model_bodies()[-1]["messages"] if m["role"] == "tool"]
    return tools[-1]["content"]


def test_run_loads_custom_types_in_a_trusted_workspace(workspace: Path, home: Path,
                                                       server: ScriptedServer,
                                                       monkeypatch: Any) -> None:
    write_custom_type(workspace)
    monkeypatch.setenv("KIMI_CODE_HOME", str(home))
    trust.trust(workspace)
    server.add(spawn_scout(), {"text": "Nothing changed."}, {"text": "The scout says nothing."})
    result = run_kimi(["run", "ask the scout"], cwd=workspace, env=base_env(home, server))
    assert result.code == 0, result.stderr
    assert result.stdout == "The scout says nothing.\n"
    assert REFUSED not in result.stderr
    assert any(ROLE in prompt for prompt in system_prompts(server))  # the child ran as scout
    assert "Nothing changed." in spawn_result(server)


def test_run_refuses_custom_types_in_an_untrusted_workspace(workspace: Path, home: Path,
                                                            server: ScriptedServer) -> None:
    write_custom_type(workspace)
    server.add(spawn_scout(), {"text": "No scout here."})
    result = run_kimi(["run", "ask the scout"], cwd=workspace, env=base_env(home, server))
    assert result.code == 0, result.stderr
    assert REFUSED in result.stderr and "(scout)" in result.stderr
    assert "Unknown subagent_type 'scout'" in spawn_result(server)
    assert not any(ROLE in prompt for prompt in system_prompts(server))
    assert len(server.model_bodies()) == 2  # no child request was made


def test_run_without_custom_types_says_nothing_about_them(workspace: Path, home: Path,
                                                          server: ScriptedServer) -> None:
    server.add({"text": "hi"})
    result = run_kimi(["run", "hello"], cwd=workspace, env=base_env(home, server))
    assert result.code == 0 and "subagent" not in result.stderr


def test_a_broken_custom_type_is_skipped_with_a_notice(workspace: Path, home: Path,
                                                       server: ScriptedServer,
                                                       monkeypatch: Any) -> None:
    write_custom_type(workspace)
    (workspace / ".kimi-code" / "agents" / "broken.md").write_text("no frontmatter here\n")
    monkeypatch.setenv("KIMI_CODE_HOME", str(home))
    trust.trust(workspace)
    server.add(spawn_scout(), {"text": "Nothing changed."}, {"text": "done"})
    result = run_kimi(["run", "ask the scout"], cwd=workspace, env=base_env(home, server))
    assert result.code == 0, result.stderr  # one broken file never stops the session
    assert "Custom subagent type skipped" in result.stderr and "broken.md" in result.stderr
    assert any(ROLE in prompt for prompt in system_prompts(server))  # the good one loaded
