"""`kimi-code sessions list|show|export|rm` as a subprocess against a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kimi_code.llm.base import Message, ToolCall, Usage
from kimi_code.session import SessionStore
from tests.support.session_procs import HOLD_LOCK, REPO, _kill, spawn

KIMI = REPO / ".venv" / "bin" / "kimi-code"
SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
ENV_SECRET = "s3cr3t-v4lue-from-env"
API_KEY = "sk-abcdefghijklmnopqrstuvwxyz0123456789"

pytestmark = pytest.mark.skipif(not KIMI.exists(), reason="needs the installed .venv/bin/kimi-code")


def kimi(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KIMI_CODE_HOME": str(home), "MY_SERVICE_TOKEN": ENV_SECRET,
           "COLUMNS": "200"}
    return subprocess.run([str(KIMI), "sessions", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    (path / "src" / "deep").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


@pytest.fixture()
def recorded(store: SessionStore, repo: Path, tmp_path: Path) -> tuple[str, str]:
    """A session in `repo` with a tool call, and one in another workspace."""
    sid = store.create(repo, "kimi-k2.6")
    store.append_message(sid, Message("user", f"deploy with key {API_KEY} please"))
    store.append_message(sid, Message(
        "assistant", f"Checking commit {SHA}.", thinking="I should run the tests first",
        tool_calls=(ToolCall("c1", "Bash", '{"command": "pytest -q"}'),)), Usage(120, 30))
    store.append_message(sid, Message("tool", "\n".join(f"line {i}" for i in range(40))
                                      + f"\nTOKEN={ENV_SECRET}\n"
                                      + b"binary \xff\xfe".decode("utf-8", "surrogateescape"),
                                      tool_call_id="c1"))
    store.append_message(sid, Message("assistant", "All ```40``` lines passed."), Usage(200, 10))
    other_ws = tmp_path / "elsewhere"
    other_ws.mkdir()
    other = store.create(other_ws, "other-model", title="Elsewhere work")
    return sid, other


def test_list_this_workspace_all_and_json(recorded: tuple[str, str], repo: Path, home: Path) -> None:
    sid, other = recorded
    result = kimi("list", cwd=repo / "src" / "deep", home=home)  # workspace = the git root
    assert result.returncode == 0, result.stderr
    assert sid in result.stdout and other not in result.stdout
    assert "kimi-k2.6" in result.stdout and "deploy with key [REDACTED]" in result.stdout
    assert API_KEY not in result.stdout
    everything = kimi("list", "--all", "--json", cwd=repo, home=home)
    rows = json.loads(everything.stdout)
    assert [r["id"] for r in rows] == [other, sid]
    assert rows[1]["messages"] == 4 and rows[1]["workspace"] == str(repo.resolve())
    assert rows[0]["title"] == "Elsewhere work"
    empty = kimi("list", cwd=home, home=home)
    assert empty.returncode == 0 and "No sessions" in empty.stdout and "--all" in empty.stdout


def test_show_transcript(recorded: tuple[str, str], repo: Path, home: Path,
                         store: SessionStore) -> None:
    sid, _ = recorded
    store.append(sid, "compaction", {"summary": "Tests were run.", "replaces_through": 3})
    store.append(sid, "rewind", {"to_seq": 4})
    result = kimi("show", sid[:10], cwd=repo, home=home)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"Session {sid}" in out and "tokens in 320 / out 40" in out
    assert out.index("deploy with key") < out.index("I should run the tests first") \
        < out.index("Bash(pytest -q)") < out.index("line 0") < out.index("All ```40```")
    assert "line 5" in out and "line 6" not in out and "more lines" in out
    assert out.index("conversation compacted") < out.index("Tests were run.") \
        < out.index("conversation rewound to event 4")


def test_export_jsonl_and_markdown_are_redacted(recorded: tuple[str, str], repo: Path,
                                                home: Path, tmp_path: Path) -> None:
    sid, _ = recorded
    target = tmp_path / "out" / "session.jsonl"
    result = kimi("export", sid, "-o", str(target), cwd=repo, home=home)
    assert result.returncode == 0, result.stderr
    assert "Exported session" in result.stderr
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert lines[0]["type"] == "session" and lines[0]["id"] == sid
    assert lines[0]["usage"]["input_tokens"] == 320
    assert [line["seq"] for line in lines[1:]] == [1, 2, 3, 4]
    assert lines[3]["payload"]["content"].endswith("binary \udcff\udcfe")  # kept exactly
    text = target.read_text()
    assert API_KEY not in text and ENV_SECRET not in text and "[REDACTED]" in text
    assert SHA in text  # a git SHA is not a secret
    md = kimi("export", sid, "--format", "markdown", cwd=repo, home=home)
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith(f"# Session {sid}")
    assert "## User" in md.stdout and "**Tool call** `Bash`" in md.stdout
    assert "line 39" in md.stdout and "binary \ufffd\ufffd" in md.stdout  # complete, printable
    assert API_KEY not in md.stdout and ENV_SECRET not in md.stdout and SHA in md.stdout


def test_errors_unknown_id_bad_format_in_use_and_rm(recorded: tuple[str, str], repo: Path,
                                                   home: Path) -> None:
    sid, other = recorded
    for command in (("show", "zzzzzz"), ("export", "zzzzzz"), ("rm", "zzzzzz")):
        result = kimi(*command, cwd=repo, home=home)
        assert result.returncode == 1 and "no session matches 'zzzzzz'" in result.stderr
    bad = kimi("export", sid, "--format", "xml", cwd=repo, home=home)
    assert bad.returncode == 2 and "jsonl, markdown" in bad.stderr
    holder = spawn(HOLD_LOCK, sid, home=home)
    try:
        assert holder.stdout.readline().strip() == "locked"
        busy = kimi("rm", sid, cwd=repo, home=home)
        assert busy.returncode == 1 and f"in use by another kimi-code process (pid {holder.pid})" \
            in busy.stderr
    finally:
        _kill(holder)
    removed = kimi("rm", sid, cwd=repo, home=home)
    assert removed.returncode == 0 and f"Deleted session {sid}" in removed.stdout
    again = kimi("show", sid, cwd=repo, home=home)
    assert again.returncode == 1
    left = json.loads(kimi("list", "--all", "--json", cwd=repo, home=home).stdout)
    assert [r["id"] for r in left] == [other]


def test_corrupt_database_message(home: Path, repo: Path) -> None:
    db = home / "data" / "sessions.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"garbage" * 1000)
    result = kimi("list", cwd=repo, home=home)
    assert result.returncode == 1
    assert str(db) in result.stderr and "mv " in result.stderr
    assert "Traceback" not in result.stderr


def test_run_on_a_corrupt_database_says_how_to_fix_it_and_keeps_the_file(
        home: Path, repo: Path) -> None:
    db = home / "data" / "sessions.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"garbage" * 1000)
    env = {**os.environ, "KIMI_CODE_HOME": str(home), "OPENAI_API_KEY": "sk-test"}
    result = subprocess.run([str(KIMI), "run", "--provider", "openai", "--base-url",
                             "http://127.0.0.1:9/v1", "-m", "t", "hi"], cwd=repo, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert str(db) in result.stderr and "mv " in result.stderr
    assert "Traceback" not in result.stderr
    assert db.read_bytes() == b"garbage" * 1000  # nothing was lost or overwritten


def test_home_that_is_not_a_directory_is_explained_by_every_command(tmp_path: Path,
                                                                    repo: Path) -> None:
    home = tmp_path / "home-is-a-file"
    home.write_text("oops\n")
    env = {**os.environ, "KIMI_CODE_HOME": str(home), "OPENAI_API_KEY": "sk-test",
           "COLUMNS": "60"}  # narrow: the message must still keep each path on one line
    for args in (["sessions", "list"], ["rewind", "--list"],
                 ["run", "--provider", "openai", "--base-url", "http://127.0.0.1:9/v1",
                  "-m", "t", "hi"]):
        result = subprocess.run([str(KIMI), *args], cwd=repo, env=env, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr, args
        assert f"Not a directory ({home / 'data'})" in result.stderr, (args, result.stderr)
        assert "KIMI_CODE_HOME" in result.stderr
    assert home.read_text() == "oops\n"


def test_show_and_list_on_a_latin1_terminal(recorded: tuple[str, str], repo: Path, home: Path,
                                            store: SessionStore) -> None:
    sid, _ = recorded
    store.append_message(sid, Message("assistant", "修复完成 ✓"), Usage(1, 1))
    env = {**os.environ, "KIMI_CODE_HOME": str(home), "PYTHONIOENCODING": "latin-1",
           "COLUMNS": "200"}
    for args in (["show", sid], ["list"]):
        result = subprocess.run([str(KIMI), "sessions", *args], cwd=repo, env=env,
                                capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert b"Traceback" not in result.stderr
        if args[0] == "show":
            assert b"All ```40``` lines passed.\n\n???? ?\n" in result.stdout


def test_a_deleted_current_directory_is_a_clear_error(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    script = f"import os, subprocess, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); " \
             f"r = subprocess.run([{str(KIMI)!r}, 'sessions', 'list'], capture_output=True, " \
             "text=True); print(r.returncode); print(r.stderr)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60).stdout
    code, _, err = out.partition("\n")
    assert code == "2" and "no longer exists" in err and "Traceback" not in err
