"""Custom subagent types in the TUI: refused with a notice until the workspace is trusted
(declined at the trust prompt), loaded when trusted there, and loaded by /trust mid-session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kimi_code.safety import trust
from kimi_code.ui.widgets.blocks import NoticeBlock
from tests.support.scripted_server import ScriptedServer
from tests.support.tui import make_app, type_text, until

SIZE = (100, 32)
ROLE = "You are the changelog scout CUSTOM-ROLE-7f3."
REFUSED = "were not loaded: this workspace is not trusted"


def write_custom_type(workspace: Path) -> None:
    folder = workspace / ".kimi-code" / "agents"
    folder.mkdir(parents=True)
    (folder / "scout.md").write_text(
        f"---\ndescription: Reads the changelog\ntools: [Read, Grep]\n---\n{ROLE}\n")


def scout_script() -> list[dict[str, Any]]:
    return [{"tool_calls": [{"id": "spawn1", "name": "Agent", "arguments": {
        "description": "scout", "prompt": "what changed?", "subagent_type": "scout"}}]},
        {"text": "Nothing changed."}, {"text": "done"}]


def notices(app: Any) -> list[str]:
    return [b.message for b in app.transcript.blocks if isinstance(b, NoticeBlock)]


def child_ran_as_scout(server: ScriptedServer) -> bool:
    return any(ROLE in m["content"] for body in server.model_bodies()
               for m in body["messages"] if m["role"] == "system")


async def ask(pilot: Any, text: str, turns: int) -> None:
    await type_text(pilot, text)
    await pilot.press("enter")
    await until(pilot, lambda: pilot.app.turns_done == turns, f"turn {turns}")


async def test_declined_trust_refuses_custom_types_with_a_notice(workspace: Path,
                                                                 server: ScriptedServer) -> None:
    trust.untrust(workspace)
    write_custom_type(workspace)
    server.add(scout_script()[0], {"text": "no scout"})
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: type(app.screen).__name__ == "TrustScreen", "trust prompt")
        await pilot.press("escape")
        await until(pilot, lambda: app.ready, "session open")
        await until(pilot, lambda: any(REFUSED in n for n in notices(app)), "refusal notice")
        await ask(pilot, "ask the scout", 1)
        tool = [m for m in server.model_bodies()[-1]["messages"] if m["role"] == "tool"][-1]
        assert "Unknown subagent_type 'scout'" in tool["content"]
        assert not child_ran_as_scout(server)


async def test_trusting_at_the_prompt_loads_custom_types(workspace: Path,
                                                         server: ScriptedServer) -> None:
    trust.untrust(workspace)
    write_custom_type(workspace)
    server.add(*scout_script())
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: type(app.screen).__name__ == "TrustScreen", "trust prompt")
        await pilot.press("enter")
        await until(pilot, lambda: app.ready, "session open")
        await ask(pilot, "ask the scout", 1)
        assert child_ran_as_scout(server)
        assert not any(REFUSED in n for n in notices(app))


async def test_slash_trust_loads_them_mid_session(workspace: Path, server: ScriptedServer) -> None:
    trust.untrust(workspace)
    write_custom_type(workspace)
    server.add(*scout_script())
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: type(app.screen).__name__ == "TrustScreen", "trust prompt")
        await pilot.press("escape")
        await until(pilot, lambda: app.ready, "session open")
        await type_text(pilot, "/trust")
        await pilot.press("enter")
        await until(pilot, lambda: any("Workspace trusted" in n for n in notices(app)), "trusted")
        assert trust.is_trusted(workspace)
        await ask(pilot, "ask the scout", 1)
        assert child_ran_as_scout(server)
