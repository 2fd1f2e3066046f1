"""The real `kimi-code` Typer app reaches commit, review and rewind with matching signatures."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from kimi_code.cli import app
from kimi_code.git.checkpoints.store import CheckpointStore
from kimi_code.session.store import SessionStore
from tests.support.git_repos import git
from tests.support.scripted_server import ScriptedServer


def test_commit_and_review_through_the_cli(make_repo, monkeypatch):
    root = make_repo({"a.py": "x = 1\n"}, message="feat: start")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "a.py").write_text("x = 2\n")
    monkeypatch.chdir(root)
    with ScriptedServer([{"text": "fix: set x to two"},
                         {"tool_calls": [{"id": "f", "name": "ReportFinding", "arguments": {
                             "file": "a.py", "line": 1, "severity": "warning", "category": "bug",
                             "title": "magic number", "body": "name it"}}]},
                         {"text": "done"}]) as server:
        env = {"KIMI_BASE_URL": server.base_url_openai, "KIMI_API_KEY": "test",
               "KIMI_MODEL_NAME": "test", "KIMI_CODE_MAX_RETRIES": "0"}
        runner = CliRunner()
        result = runner.invoke(app, ["commit", "-a", "--yes"], env=env)
        assert result.exit_code == 0, result.output
        assert git(root, "log", "-1", "--format=%s").strip() == "fix: set x to two"
        result = runner.invoke(app, ["review", "--base", "main", "--format", "sarif",
                                     "--fail-on", "warning"], env=env)
        assert result.exit_code == 1, result.output
        sarif = json.loads(result.stdout[result.stdout.index("{"):])
        assert sarif["runs"][0]["results"][0]["level"] == "warning"


def test_rewind_list_json_through_the_cli(tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "f.txt").write_text("1")
    monkeypatch.chdir(ws)
    store = SessionStore()
    sid = store.create(ws, model="m")
    cp = CheckpointStore(ws, sid).snapshot("turn: hello", message_seq=0)
    store.close()
    result = CliRunner().invoke(app, ["rewind", "--list", "--json"])
    assert result.exit_code == 0, result.output
    assert [d["id"] for d in json.loads(result.stdout)] == [cp.id]
