"""`kimi-code run` output that stdout cannot encode as is: a lone surrogate from the model (a
broken \\uD83D escape) and non-Latin text on a non-UTF-8 locale. The result must still be
printed, as valid JSON or readable text, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli_runs import KIMI, base_env, run_kimi
from tests.support.scripted_server import ScriptedServer

TEXT = "half an emoji \ud83d, then 修复 done"


def test_lone_surrogate_in_stream_json_is_escaped(workspace: Path, home: Path,
                                                  server: ScriptedServer) -> None:
    server.add({"text": TEXT})
    result = run_kimi(["run", "hi", "--output-format", "stream-json"], cwd=workspace,
                      env=base_env(home, server, PYTHONIOENCODING="utf-8"))
    assert result.code == 0, result.stderr
    assert "\\ud83d" in result.stdout and "修复" in result.stdout
    assert result.lines()[-1]["result"] == TEXT  # escapes round-trip to the same string


def test_non_utf8_locale_gets_ascii_json_and_replaced_text(workspace: Path, home: Path,
                                                           server: ScriptedServer) -> None:
    server.add({"text": TEXT}, {"text": TEXT})
    env = base_env(home, server, PYTHONIOENCODING="latin-1")
    as_json = run_kimi(["run", "hi", "--output-format", "json"], cwd=workspace, env=env)
    assert as_json.code == 0, as_json.stderr
    assert as_json.stdout.isascii() and json.loads(as_json.stdout)["result"] == TEXT
    as_text = run_kimi(["run", "hi"], cwd=workspace, env=env)
    assert as_text.code == 0, as_text.stderr
    assert as_text.stdout == "half an emoji ?, then ?? done\n"


def test_rewind_list_with_a_cjk_prompt_on_a_latin1_terminal(workspace: Path, home: Path,
                                                            server: ScriptedServer) -> None:
    server.add({"text": "done"})
    env = base_env(home, server)
    assert run_kimi(["run", "修复 the bug"], cwd=workspace, env=env).code == 0
    listed = run_kimi(["rewind", "--list"], cwd=workspace,
                      env={**env, "PYTHONIOENCODING": "latin-1"})
    assert listed.code == 0, listed.stderr
    assert "turn: ?? the bug" in listed.stdout


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file systems refuse non-UTF-8 names")
def test_latin1_prompt_in_a_latin1_named_directory(tmp_path: Path, home: Path,
                                                   server: ScriptedServer) -> None:
    repo = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9 repo"))
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    server.add({"text": "first"}, {"text": "second"})
    env = base_env(home, server)
    first = subprocess.run([KIMI, "run", "--output-format", "json"], cwd=repo, env=env,
                           input=b"caf\xe9: fix it", capture_output=True, timeout=60)
    assert first.returncode == 0, first.stderr.decode(errors="replace")
    assert json.loads(first.stdout)["result"] == "first"
    assert "caf\ufffd: fix it" in json.dumps(server.model_bodies()[0]["messages"],
                                              ensure_ascii=False)
    again = run_kimi(["run", "more", "--continue", "--output-format", "json"], cwd=repo, env=env)
    assert again.code == 0, again.stderr
    assert again.json()["session_id"] == json.loads(first.stdout)["session_id"]
