"""AgentSession's operations through the real path: the scripted HTTP server, a real git
workspace, real checkpoints, the real session store and real processes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kimi_code.config import ConfigError
from kimi_code.events import Event, SessionStarted, TurnFinished
from kimi_code.runtime.session import AgentSession
from kimi_code.session.store import SessionStore
from tests.support.scripted_server import ScriptedServer


@pytest.fixture
async def session(workspace: Path, home: Path, server: ScriptedServer,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AgentSession]:
    monkeypatch.chdir(workspace)
    for name, value in {"KIMI_CODE_HOME": str(home), "KIMI_CODE_NO_REPO_MAP": "1",
                        "KIMI_API_KEY": "sk-test", "KIMI_MODEL_NAME": "test-model",
                        "KIMI_BASE_URL": server.base_url_openai}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KIMI_PROVIDER", raising=False)
    # Bash(sleep *) so the background-job test runs without an approver
    s = AgentSession.create(permission_mode="accept-edits", allow=("Bash(sleep *)",))
    yield s
    await s.close()


READ = {"tool_calls": [{"id": "r1", "name": "Read", "arguments": {"file_path": "calc.py"}}]}


def user_contents(server: ScriptedServer) -> list[str]:
    return [m["content"] for m in server.model_bodies()[-1]["messages"] if m["role"] == "user"]


async def test_events_flow_to_subscribers_and_the_iterator(session: AgentSession,
                                                           server: ScriptedServer) -> None:
    server.add({"text": "hello there"})
    seen: list[Event] = []
    session.subscribe(seen.append)
    stream = session.events()
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)  # the iterator subscribes on its first step
    session.open()
    assert isinstance(await first, SessionStarted)
    result = await session.submit("Say hello\nsecond line")
    await stream.aclose()
    assert result.stop_reason == "end_turn" and result.text == "hello there"
    assert isinstance(seen[0], SessionStarted) and isinstance(seen[-1], TurnFinished)
    assert [m.role for m in session.messages] == ["user", "assistant"]
    with SessionStore() as store:  # titled by its first prompt's first line
        assert store.get(session.session_id).title == "Say hello"


async def test_shell_output_goes_once_with_the_next_message(session: AgentSession,
                                                            server: ScriptedServer) -> None:
    server.add({"text": "seen"}, {"text": "again"})
    session.open()
    result = await session.run_shell("echo from-the-shell; exit 3")
    assert result.exit_code == "3" and "from-the-shell" in result.output
    assert session.pending_shell == 1
    await session.submit("what happened?")
    assert user_contents(server)[-1].startswith("<bash-input>echo from-the-shell; exit 3")
    assert user_contents(server)[-1].endswith("what happened?")
    await session.submit("and now?")
    assert user_contents(server)[-1] == "and now?" and session.pending_shell == 0


async def test_fork_copies_the_history_and_leaves_the_original(session: AgentSession,
                                                               server: ScriptedServer) -> None:
    server.add({"text": "one"}, {"text": "two"})
    session.open()
    await session.submit("first question")
    original, history = session.session_id, session.messages
    forked = await session.fork()
    assert forked != original and session.session_id == forked
    assert session.messages == history
    await session.submit("only in the fork")
    with SessionStore() as store:
        assert store.messages(original) == history  # untouched
        assert len(store.messages(forked)) == 4
        assert store.get(forked).parent_id == original
    assert user_contents(server) == ["first question", "only in the fork"]


async def test_undo_and_rewind_go_back_in_files_and_conversation(
        session: AgentSession, server: ScriptedServer, workspace: Path) -> None:
    server.add(READ, {"tool_calls": [{"id": "e1", "name": "Edit", "arguments": {
        "file_path": "calc.py", "old_string": "a - b", "new_string": "a + b"}}]},
        {"text": "fixed"}, {"text": "fine"})
    session.open()
    await session.submit("fix add")
    await session.submit("thanks")
    assert "a + b" in (workspace / "calc.py").read_text()
    outcome = await session.undo("conversation")
    assert outcome is not None and outcome.conversation_rewound
    assert outcome.dropped_prompt == "thanks" and len(session.messages) == 6
    assert "a + b" in (workspace / "calc.py").read_text()  # conversation only
    target = await session.undo_target()
    assert target is not None and target.trigger == "turn: fix add"
    outcome = await session.rewind("both", to=target.id)
    assert outcome.report is not None and outcome.report.applied and not outcome.refused
    assert "a - b" in (workspace / "calc.py").read_text() and session.messages == []
    with SessionStore() as store:
        assert store.messages(session.session_id) == []  # a later resume agrees


async def test_rewind_refuses_to_overwrite_user_edits_without_force(
        session: AgentSession, server: ScriptedServer, workspace: Path) -> None:
    server.add(READ, {"tool_calls": [{"id": "e1", "name": "Edit", "arguments": {
        "file_path": "calc.py", "old_string": "a - b", "new_string": "a + b"}}]},
        {"text": "fixed"})
    session.open()
    await session.submit("fix add")
    (workspace / "calc.py").write_text("mine\n")
    outcome = await session.undo("both")
    assert outcome is not None and outcome.refused and not outcome.conversation_rewound
    assert (workspace / "calc.py").read_text() == "mine\n" and len(session.messages) == 6
    outcome = await session.undo("code", force=True)
    assert outcome is not None and not outcome.refused
    assert "a - b" in (workspace / "calc.py").read_text()


def processes_with(marker: str) -> list[int]:
    """Pids whose command line holds `marker` (the host's /proc sees into the sandbox)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


async def test_close_stops_background_jobs(session: AgentSession, server: ScriptedServer,
                                           tmp_path: Path) -> None:
    marker = f"sleep 300.{os.getpid()}{len(str(tmp_path))}"  # a command line no one else has
    server.add({"tool_calls": [{"id": "b1", "name": "Bash", "arguments": {
        "command": marker, "run_in_background": True}}]},
        {"text": "started"})
    session.open()
    result = await session.submit("start a job")
    tool = [m for m in server.model_bodies()[-1]["messages"] if m["role"] == "tool"][-1]
    assert result.stop_reason == "end_turn" and "Started background job" in tool["content"]
    assert processes_with(marker)  # started (detached) before the tool answered
    await session.close()
    assert processes_with(marker) == []


async def test_fork_keeps_background_jobs_and_close_stops_them(session: AgentSession,
                                                               server: ScriptedServer,
                                                               tmp_path: Path) -> None:
    marker = f"sleep 300.{os.getpid()}{len(str(tmp_path)) + 1}"
    server.add({"tool_calls": [{"id": "b1", "name": "Bash", "arguments": {
        "command": marker, "run_in_background": True}}]}, {"text": "started"})
    session.open()
    await session.submit("start a job")
    assert processes_with(marker)
    await session.fork()
    assert processes_with(marker)  # the copy runs on with the same jobs
    await session.close()
    assert processes_with(marker) == []


async def test_mode_and_model_are_checked(session: AgentSession) -> None:
    session.open()
    with pytest.raises(ValueError, match="unknown mode"):
        session.set_mode("sometimes")
    session.set_mode("read-only")
    assert session.permission_mode == "read-only"
    with pytest.raises(ConfigError):
        await session.switch_model("no-such-model")


async def test_a_second_session_cannot_open_a_held_one(session: AgentSession,
                                                        server: ScriptedServer) -> None:
    session.open()
    other = AgentSession.create()
    with pytest.raises(LookupError, match="in use"):
        other.open(resume=session.session_id)
    await other.close()


