"""The first open of a workspace asks for trust; project config loads only when trusted."""

from __future__ import annotations

from pathlib import Path

from kimi_code.safety import trust
from tests.support.scripted_server import ScriptedServer
from tests.support.tui import make_app, until


async def test_enter_trusts_and_project_config_loads(workspace: Path, server: ScriptedServer) -> None:
    trust.untrust(workspace)
    (workspace / ".kimi-code").mkdir()
    (workspace / ".kimi-code" / "config.toml").write_text('[permissions]\ndeny = ["Bash(rm *)"]\n')
    app = make_app()
    async with app.run_test() as pilot:
        await until(pilot, lambda: type(app.screen).__name__ == "TrustScreen", "trust prompt")
        assert not app.ready  # nothing opened before the answer
        await pilot.press("enter")
        await until(pilot, lambda: app.ready, "session open")
        assert trust.is_trusted(workspace)
        assert any(str(rule) == "Bash(rm *)" for rule in app.session.agent.policy.deny)


async def test_escape_declines_and_nothing_project_level_loads(workspace: Path,
                                                                server: ScriptedServer) -> None:
    trust.untrust(workspace)
    (workspace / ".kimi-code").mkdir()
    (workspace / ".kimi-code" / "config.toml").write_text('[permissions]\ndeny = ["Bash(rm *)"]\n')
    app = make_app()
    async with app.run_test() as pilot:
        await until(pilot, lambda: type(app.screen).__name__ == "TrustScreen", "trust prompt")
        await pilot.press("escape")
        await until(pilot, lambda: app.ready, "session open")
        assert not trust.is_trusted(workspace)
        assert not any(str(rule) == "Bash(rm *)" for rule in app.session.agent.policy.deny)


async def test_trusted_workspace_is_not_asked_again(workspace: Path, server: ScriptedServer) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await until(pilot, lambda: app.ready, "session open")
        assert type(app.screen).__name__ != "TrustScreen"
