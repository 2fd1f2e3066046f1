"""Provider faults and configuration errors through the real CLI."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli_runs import base_env, run_kimi
from tests.support.scripted_server import ScriptedServer


def test_429_with_retry_after_then_success(workspace: Path, home: Path, server: ScriptedServer) -> None:
    server.add({"error": {"status": 429, "retry_after": 0.05, "message": "slow down"}},
               {"error": {"status": 503, "message": "overloaded"}},
               {"text": "finally"})
    result = run_kimi(["run", "hi", "--output-format", "stream-json"], cwd=workspace,
                      env=base_env(home, server))
    assert result.code == 0, result.stderr
    retries = [line for line in result.lines() if line.get("subtype") == "retry"]
    assert [r["status"] for r in retries] == [429, 503]
    assert retries[0]["delay_ms"] == 50  # the server's retry-after, honoured
    assert result.lines()[-1]["result"] == "finally"
    assert "retrying" in result.stderr


def test_cut_stream_retries_without_running_half_streamed_call(workspace: Path, home: Path,
                                                               server: ScriptedServer) -> None:
    server.add(
        {"cut_after_chunks": 3, "text": "I will now write", "tool_calls": [
            {"id": "w1", "name": "Write", "arguments": {"file_path": "half.txt", "content": "x"}}]},
        {"tool_calls": [{"id": "w2", "name": "Write", "arguments": {"file_path": "whole.txt", "content": "y"}}]},
        {"text": "done"},
    )
    result = run_kimi(["run", "write", "--output-format", "stream-json"], cwd=workspace,
                      env=base_env(home, server))
    assert result.code == 0, result.stderr
    assert not (workspace / "half.txt").exists() and (workspace / "whole.txt").read_text() == "y"
    assistant_ids = [b["id"] for line in result.lines() if line["type"] == "assistant"
                     for b in line["message"]["content"] if b["type"] == "tool_use"]
    assert assistant_ids == ["w2"]  # the cut attempt never entered the history


def test_persistent_500_exits_75(workspace: Path, home: Path, server: ScriptedServer) -> None:
    server.add({"repeat": 10, "error": {"status": 500, "message": "boom"}})
    env = base_env(home, server, KIMI_CODE_MAX_RETRIES="2")
    result = run_kimi(["run", "hi", "--output-format", "json"], cwd=workspace, env=env)
    assert result.code == 75
    obj = result.json()
    assert obj["subtype"] == "error_during_execution" and obj["is_error"]
    assert "3 attempts" in obj["error"]
    assert len(server.model_bodies()) == 3


def test_auth_error_is_not_retried(workspace: Path, home: Path, server: ScriptedServer) -> None:
    server.add({"error": {"status": 401, "message": "invalid api key"}}, {"text": "never"})
    result = run_kimi(["run", "hi"], cwd=workspace, env=base_env(home, server))
    assert result.code == 2
    assert len(server.model_bodies()) == 1 and "invalid api key" in result.stderr


def test_dead_endpoint_exits_75(workspace: Path, home: Path) -> None:
    env = base_env(home, KIMI_BASE_URL="http://127.0.0.1:9/v1", KIMI_CODE_MAX_RETRIES="1")
    result = run_kimi(["run", "hi"], cwd=workspace, env=env)
    assert result.code == 75, result.stderr
    assert "kimi-code:" in result.stderr


def test_broken_config_file_names_file_and_line(workspace: Path, home: Path) -> None:
    (home / "config.toml").write_text('default_model = "kimi"\n[models.kimi]\nprovider = "gpt"\n')
    result = run_kimi(["run", "hi"], cwd=workspace, env=base_env(home))
    assert result.code == 2
    assert f"{home / 'config.toml'}:3" in result.stderr and "openai, anthropic, engine" in result.stderr
    (home / "config.toml").write_text("[models.kimi\n")
    result = run_kimi(["run", "hi"], cwd=workspace, env=base_env(home))
    assert result.code == 2 and "invalid TOML" in result.stderr and "line 1" in result.stderr


def test_missing_api_key_says_how_to_set_one(workspace: Path, home: Path) -> None:
    env = base_env(home)
    del env["KIMI_API_KEY"]
    result = run_kimi(["run", "hi"], cwd=workspace, env=env)
    assert result.code == 2 and "KIMI_API_KEY" in result.stderr


def test_usage_errors_exit_2(workspace: Path, home: Path, server: ScriptedServer) -> None:
    env = base_env(home, server)
    assert run_kimi(["run", "hi", "--output-format", "xml"], cwd=workspace, env=env).code == 2
    assert run_kimi(["run", "hi", "--permission-mode", "god"], cwd=workspace, env=env).code == 2
    bad_rule = run_kimi(["run", "hi", "--allow", "Bash(("], cwd=workspace, env=env)
    assert bad_rule.code == 2 and "rule" in bad_rule.stderr
    assert run_kimi(["run"], cwd=workspace, env=env, stdin="").code == 2
    assert server.model_bodies() == []
