"""Sessions through the CLI: --continue, --resume, resume after kill -9, session in use."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from kimi_code.session.store import SessionStore
from tests.support.cli_runs import KIMI, base_env, run_kimi
from tests.support.scripted_server import ScriptedServer


def test_continue_and_resume_carry_the_conversation(workspace: Path, home: Path,
                                                    server: ScriptedServer) -> None:
    server.add({"text": "first answer"}, {"text": "second answer"}, {"text": "third answer"})
    env = base_env(home, server)
    first = run_kimi(["run", "remember the word banana", "--output-format", "json"], cwd=workspace, env=env)
    session_id = first.json()["session_id"]
    second = run_kimi(["run", "what word?", "--continue", "--output-format", "json"], cwd=workspace, env=env)
    assert second.json()["session_id"] == session_id
    sent = server.model_bodies()[1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert "banana" in sent[1]["content"] and sent[2]["content"] == "first answer"
    third = run_kimi(["run", "again", "--resume", session_id[:8], "--output-format", "json"],
                     cwd=workspace, env=env)
    assert third.code == 0 and len(server.model_bodies()[2]["messages"]) == 6
    missing = run_kimi(["run", "x", "--resume", "nonexistent0"], cwd=workspace, env=env)
    assert missing.code == 1 and "sessions list" in missing.stderr
    assert missing.stderr.count("sessions list") == 1  # the hint once, not twice


def test_resume_after_kill_9_repairs_dangling_tool_call(workspace: Path, home: Path,
                                                        server: ScriptedServer) -> None:
    server.add(
        {"tool_calls": [{"id": "slow1", "name": "Bash", "arguments": {"command": "sleep 30"}}]},
        {"text": "resumed fine"},
    )
    env = base_env(home, server)
    proc = subprocess.Popen([KIMI, "run", "sleep", "--output-format", "stream-json", "--allow", "Bash(sleep *)"], cwd=workspace,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    session_id = json.loads(proc.stdout.readline())["session_id"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # wait until the tool call is in the log
        events = SessionStore(home / "data" / "sessions.db").events(session_id)
        if any(e.payload.get("tool_calls") for e in events if e.kind == "message"):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    result = run_kimi(["run", "go on", "--resume", session_id, "--output-format", "json"],
                      cwd=workspace, env=env)
    assert result.code == 0, result.stderr
    sent = server.model_bodies()[1]["messages"]
    roles = [m["role"] for m in sent]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert sent[3]["tool_call_id"] == "slow1" and "Interrupted" in sent[3]["content"]


def test_second_process_on_same_session_gets_session_in_use(workspace: Path, home: Path,
                                                            server: ScriptedServer) -> None:
    server.add({"text": "one"})
    env = base_env(home, server)
    session_id = run_kimi(["run", "hi", "--output-format", "json"], cwd=workspace, env=env).json()["session_id"]
    holder = subprocess.Popen(
        [str(Path(KIMI).with_name("python")), "-c",
         "import sys, time; from kimi_code.session.store import SessionStore; "
         f"lock = SessionStore().lock('{session_id}'); lock.__enter__(); print('held', flush=True); time.sleep(60)"],
        env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = run_kimi(["run", "again", "--resume", session_id], cwd=workspace, env=env)
        assert result.code == 1 and "in use" in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_ctrl_c_stops_cleanly_and_leaves_no_dangling_call(workspace: Path, home: Path,
                                                          server: ScriptedServer) -> None:
    server.add({"tool_calls": [{"id": "s1", "name": "Bash", "arguments": {"command": "sleep 30"}}]},
               {"text": "after resume"})
    env = base_env(home, server)
    proc = subprocess.Popen([KIMI, "run", "wait", "--output-format", "stream-json",
                             "--allow", "Bash(sleep *)"], cwd=workspace, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    session_id = json.loads(proc.stdout.readline())["session_id"]
    while True:  # wait for the tool call to be issued
        line = proc.stdout.readline()
        if '"tool_use"' in line:
            break
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, _err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    store = SessionStore(home / "data" / "sessions.db")
    roles = [e.payload["role"] for e in store.events(session_id) if e.kind == "message"]
    assert roles == ["user", "assistant", "tool"]  # the interrupted call got its result
    tool = [e.payload for e in store.events(session_id) if e.kind == "message"][-1]
    assert "Interrupted" in tool["content"] and tool["is_error"]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["type"] == "result" and result["is_error"]


def test_transcripts_never_store_the_api_key(workspace: Path, home: Path, server: ScriptedServer) -> None:
    key = "sk-live-0123456789abcdefSECRET"
    server.add({"text": f"I will not repeat your key {key}."})
    env = base_env(home, server, KIMI_API_KEY=key)
    result = run_kimi(["run", f"my key is {key}, remember it", "--output-format", "json"],
                      cwd=workspace, env=env)
    assert result.code == 0, result.stderr
    raw = (home / "data" / "sessions.db").read_bytes()
    for suffix in ("-wal", ""):
        path = home / "data" / f"sessions.db{suffix}"
        if path.exists():
            raw += path.read_bytes()
    assert key.encode() not in raw
    store = SessionStore(home / "data" / "sessions.db")
    texts = [e.payload.get("content", "") for e in store.events(result.json()["session_id"])
             if e.kind == "message"]
    assert any("[REDACTED]" in t for t in texts)
