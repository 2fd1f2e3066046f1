"""`kimi-code run` end to end: a subprocess, real HTTP to the scripted server, real tools in a
real git repository, the real session store."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli_runs import base_env, run_kimi
from tests.support.scripted_server import ScriptedServer


def _fix_and_test_script() -> list[dict]:
    return [
        {"thinking": "Find the bug first.", "text": "Let me look at the code.",
         "tool_calls": [{"id": "r1", "name": "Read", "arguments": {"file_path": "calc.py"}},
                        {"id": "g1", "name": "Grep", "arguments": {"pattern": "add"}}]},
        {"tool_calls": [{"id": "e1", "name": "Edit", "arguments": {
            "file_path": "calc.py", "old_string": "return a - b", "new_string": "return a + b"}}]},
        {"tool_calls": [{"id": "b1", "name": "Bash", "arguments": {
            "command": "python -c 'import calc; assert calc.add(2, 3) == 5; print(\"OK\")'"}}]},
        {"text": "Fixed `add` in calc.py; the check prints OK."},
    ]


def test_multi_step_edit_and_run_stream_json(workspace: Path, home: Path, server: ScriptedServer) -> None:
    server.add(*_fix_and_test_script())
    result = run_kimi(["run", "fix add and verify", "--output-format", "stream-json",
                       "--allow", "Bash(python *)"],
                      cwd=workspace, env=base_env(home, server))
    assert result.code == 0, result.stderr
    assert "return a + b" in (workspace / "calc.py").read_text()
    lines = result.lines()
    init, last = lines[0], lines[-1]
    assert init["type"] == "system" and init["subtype"] == "init"
    assert {"session_id", "cwd", "model", "tools", "permission_mode"} <= set(init)
    assert {"Read", "Edit", "Bash", "Grep"} <= set(init["tools"])
    assert init["permission_mode"] == "accept-edits"
    assert last["type"] == "result" and last["subtype"] == "success" and last["is_error"] is False
    assert last["num_turns"] == 4 and last["result"].startswith("Fixed")
    assert {"input_tokens", "output_tokens"} <= set(last["usage"])
    assert all(line["session_id"] == init["session_id"] for line in lines)
    assistant = [line for line in lines if line["type"] == "assistant"]
    first_blocks = assistant[0]["message"]["content"]
    assert [b["type"] for b in first_blocks] == ["thinking", "text", "tool_use", "tool_use"]
    assert first_blocks[2] == {"type": "tool_use", "id": "r1", "name": "Read",
                               "input": {"file_path": "calc.py"}}
    results = {block["tool_use_id"]: block for line in lines if line["type"] == "user"
               for block in line["message"]["content"]}
    assert set(results) == {"r1", "g1", "e1", "b1"}
    assert "OK" in results["b1"]["content"] and not results["b1"]["is_error"]
    assert all(line.get("parent_tool_use_id") is None for line in lines)
    checkpoints = [line for line in lines if line.get("subtype") == "checkpoint"]
    assert checkpoints and checkpoints[0]["trigger"].startswith("turn:")  # before the turn
    assert any(c["trigger"] == "after Edit" for c in checkpoints)
    # The model saw the tool results of the previous step (real round trip through the SDK).
    second = server.model_bodies()[1]["messages"]
    assert any(m.get("role") == "tool" and m.get("tool_call_id") == "r1" for m in second)


def test_json_and_text_formats(workspace: Path, home: Path, server: ScriptedServer) -> None:
    server.add({"text": "The answer is 42."}, {"text": "Plain answer."})
    as_json = run_kimi(["run", "question", "--output-format", "json"], cwd=workspace,
                       env=base_env(home, server))
    assert as_json.code == 0
    obj = as_json.json()
    assert obj["type"] == "result" and obj["result"] == "The answer is 42."
    assert obj["subtype"] == "success" and obj["permission_denials"] == []
    as_text = run_kimi(["run", "-"], cwd=workspace, env=base_env(home, server), stdin="question\n")
    assert as_text.code == 0 and as_text.stdout == "Plain answer.\n"


def test_malformed_arguments_unknown_tool_and_path_escape(workspace: Path, home: Path,
                                                          server: ScriptedServer) -> None:
    server.add(
        {"tool_calls": [{"id": "m1", "name": "Read", "arguments": "{\"file_path\": "}]},
        {"tool_calls": [{"id": "u1", "name": "DeleteEverything", "arguments": {}}]},
        {"tool_calls": [{"id": "p1", "name": "Read", "arguments": {"file_path": "../../../etc/passwd"}},
                        {"id": "w1", "name": "Write", "arguments": {"file_path": "/tmp/../etc/x", "content": "x"}}]},
        {"tool_calls": [{"id": "t1", "name": "Edit", "arguments": {"file_path": "calc.py"}}]},
        {"text": "gave up"},
    )
    result = run_kimi(["run", "try things", "--output-format", "stream-json"], cwd=workspace,
                      env=base_env(home, server))
    assert result.code == 0, result.stderr
    results = {b["tool_use_id"]: b for line in result.lines() if line["type"] == "user"
               for b in line["message"]["content"]}
    assert results["m1"]["is_error"] and "not valid JSON" in results["m1"]["content"]
    assert "Read{" in results["m1"]["content"]  # names the schema
    assert results["u1"]["is_error"] and "Unknown tool" in results["u1"]["content"]
    assert results["p1"]["is_error"] and "outside" in results["p1"]["content"]
    assert results["w1"]["is_error"]
    assert results["t1"]["is_error"] and "old_string" in results["t1"]["content"]
    assert not Path("/etc/x").exists()


def test_read_only_mode_denies_and_records(workspace: Path, home: Path, server: ScriptedServer) -> None:
    server.add({"tool_calls": [{"id": "w1", "name": "Write", "arguments": {
                   "file_path": "new.txt", "content": "hi"}}]},
               {"text": "could not write"})
    result = run_kimi(["run", "write it", "--permission-mode", "read-only", "--output-format", "json"],
                      cwd=workspace, env=base_env(home, server))
    assert result.code == 0
    denials = result.json()["permission_denials"]
    assert denials == [{"tool_name": "Write", "tool_use_id": "w1",
                        "tool_input": {"file_path": "new.txt", "content": "hi"}}]
    assert not (workspace / "new.txt").exists()


def test_ask_mode_headless_denies_bash_but_allow_rule_wins(workspace: Path, home: Path,
                                                           server: ScriptedServer) -> None:
    server.add({"tool_calls": [{"id": "b1", "name": "Bash", "arguments": {"command": "touch made.txt"}},
                               {"id": "b2", "name": "Bash", "arguments": {"command": "echo hi > echoed.txt"}}]},
               {"text": "ok"})
    result = run_kimi(["run", "go", "--permission-mode", "ask", "--allow", "Bash(echo *)",
                       "--output-format", "json"], cwd=workspace, env=base_env(home, server))
    assert result.code == 0
    assert [d["tool_use_id"] for d in result.json()["permission_denials"]] == ["b1"]
    assert not (workspace / "made.txt").exists() and (workspace / "echoed.txt").exists()


def test_max_turns_exit_3(workspace: Path, home: Path, server: ScriptedServer) -> None:
    server.add({"repeat": 5, "tool_calls": [{"name": "Glob", "arguments": {"pattern": "*.py"}}]})
    result = run_kimi(["run", "loop", "--max-turns", "2", "--output-format", "json"],
                      cwd=workspace, env=base_env(home, server))
    assert result.code == 3
    obj = result.json()
    assert obj["subtype"] == "error_max_turns" and obj["is_error"] and obj["num_turns"] == 2


def test_repeated_identical_calls_are_warned_then_stopped(workspace: Path, home: Path,
                                                          server: ScriptedServer) -> None:
    server.add({"repeat": 10, "tool_calls": [{"name": "Read", "arguments": {"file_path": "calc.py"}}]})
    result = run_kimi(["run", "loop", "--output-format", "stream-json"], cwd=workspace,
                      env=base_env(home, server))
    assert result.code == 1
    lines = result.lines()
    contents = [b["content"] for line in lines if line["type"] == "user" for b in line["message"]["content"]]
    assert "identical Read call 3 times" in contents[2]
    assert contents[4].startswith("Not run")
    assert lines[-1]["subtype"] == "error_during_execution"
    assert len(contents) == 5


def test_anthropic_provider_end_to_end(workspace: Path, home: Path, server: ScriptedServer) -> None:
    server.add(
        {"thinking": "Check the file.", "tool_calls": [{"id": "toolu_1", "name": "Read",
                                                        "arguments": {"file_path": "calc.py"}}]},
        {"text": "It subtracts."},
    )
    env = base_env(home, server, KIMI_PROVIDER="anthropic", KIMI_BASE_URL=server.base_url_anthropic)
    result = run_kimi(["run", "what does add do?", "--output-format", "json"], cwd=workspace, env=env)
    assert result.code == 0, result.stderr
    assert result.json()["result"] == "It subtracts."
    second = server.model_bodies()[1]
    assert isinstance(second["system"], (str, list)) and second["messages"][0]["role"] == "user"
    assistant = second["messages"][1]
    kinds = [block["type"] for block in assistant["content"]]
    assert kinds[0] == "thinking" and "tool_use" in kinds  # thinking echoed back with its signature
    tool_result = second["messages"][2]["content"][0]
    assert tool_result["type"] == "tool_result" and tool_result["tool_use_id"] == "toolu_1"
