"""Fixtures for swarm tests: a real git repository, an isolated KIMI_CODE_HOME, and a parent
agent wired to a SwarmRunner in process, talking real HTTP to a RoutedServer."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kimi_code.agent.loop import Agent, AgentOptions, TurnResult
from kimi_code.agent.retry import RetryPolicy
from kimi_code.agent.swarm import SwarmRunner
from kimi_code.agent.swarm_sched import SwarmLimits
from kimi_code.events import Event
from kimi_code.llm.openai import OpenAIProvider
from kimi_code.tools.base import ToolContext
from kimi_code.tools.registry import ToolRegistry

GIT = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("KIMI_CODE_HOME", str(path))
    monkeypatch.setenv("KIMI_CODE_NO_REPO_MAP", "1")
    return path


@pytest.fixture
def repo(tmp_path: Path, home: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    (root / "shared.txt").write_text("one\ntwo\nthree\nfour\nfive\n")
    (root / "README.md").write_text("# demo\n")
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    return root


def tool_call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


@dataclass
class Harness:
    """A parent agent + runner against `server`; `events` collects everything emitted."""

    server: Any
    workspace: Path
    mode: str = "accept-edits"
    limits: SwarmLimits = field(default_factory=SwarmLimits)
    store: Any = None
    session_id: str = "sess1"
    events: list[Event] = field(default_factory=list)

    def build(self) -> tuple[Agent, SwarmRunner]:
        provider = OpenAIProvider(model="test-model", base_url=self.server.base_url_openai,
                                  api_key="sk-test", context_window=100_000)
        ctx = ToolContext(workspace=self.workspace, session_id=self.session_id)
        options = AgentOptions(system_prompt="parent", permission_mode=self.mode, max_turns=10,
                               retry=RetryPolicy(max_attempts=4, base_delay_s=0.01))
        agent = Agent(provider, ToolRegistry.builtin(), ctx, options,
                      on_event=self.events.append)
        runner = SwarmRunner(provider, self.workspace, session_id=self.session_id,
                             limits=self.limits, store=self.store)
        runner.attach(agent)
        self.provider = provider
        return agent, runner

    async def run(self, prompt: str) -> TurnResult:
        agent, self.runner = self.build()
        try:
            return await agent.run_turn(prompt)
        finally:
            await self.provider.aclose()

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.kind == kind]


@pytest.fixture
def servers() -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for server in started:
        server.stop()




def swarm_call(items: list[str], template: str, subagent_type: str = "coder") -> dict:
    return {"tool_calls": [{"id": "swarm_1", **tool_call(
        "AgentSwarm", description="fan out", prompt_template=template, items=items,
        subagent_type=subagent_type)}]}

def results_of(harness: Harness) -> list[dict]:
    """The per-subagent JSON lines of the swarm's tool result, as the parent model saw them."""
    message = next(e.message for e in harness.of("ToolMessageAdded")
                   if e.message.tool_call_id == "swarm_1")
    lines = message.content.splitlines()
    return [json.loads(line) for line in lines[1:] if line.startswith("{")]
