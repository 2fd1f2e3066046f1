"""`kimi-code run` killed by SIGTERM (a CI timeout, `docker stop`): the running tool is stopped,
the stream still ends with a result object, the exit status is 143, and the session can be
continued. A real subprocess, a real signal, the scripted server over HTTP."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.support.cli_runs import KIMI, base_env, run_kimi
from tests.support.scripted_server import ScriptedServer


def test_sigterm_mid_tool_prints_the_result_and_leaves_a_resumable_session(
        workspace: Path, home: Path, server: ScriptedServer) -> None:
    server.add({"tool_calls": [{"id": "b1", "name": "Bash",
                                "arguments": {"command": "sleep 30; echo late > late.txt"}}]},
               {"text": "continued after the stop"})
    env = base_env(home, server, KIMI_CODE_ALLOW_YOLO="1")
    proc = subprocess.Popen([KIMI, "run", "wait a while", "--output-format", "stream-json",
                             "--permission-mode", "yolo"], cwd=workspace, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # wait until the Bash call is running
            lines.append(json.loads(line))
            if lines[-1]["type"] == "assistant":
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    lines += [json.loads(line) for line in rest.splitlines() if line.strip()]
    result = lines[-1]
    assert result["type"] == "result" and result["subtype"] == "error_during_execution"
    assert result["is_error"] is True and result["stop_reason"] == "cancelled"
    assert result["num_turns"] == 1  # the step that asked for the Bash call
    assert "Interrupted" in err
    assert not (workspace / "late.txt").exists()

    again = run_kimi(["run", "go on", "--continue", "--output-format", "json"],
                     cwd=workspace, env=env)
    assert again.code == 0, again.stderr
    assert again.json()["result"] == "continued after the stop"
    assert again.json()["session_id"] == result["session_id"]
