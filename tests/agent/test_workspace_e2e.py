"""Workspace behaviour through the CLI: project instructions, --add-dir, config and doctor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.cli_runs import base_env, run_kimi
from tests.support.scripted_server import ScriptedServer


def test_agents_md_from_root_down_to_cwd_reach_the_system_prompt(workspace: Path, home: Path,
                                                                 server: ScriptedServer) -> None:
    (workspace / "AGENTS.md").write_text("Root rule: run pytest before finishing.\n")
    sub = workspace / "pkg"
    sub.mkdir()
    (sub / "AGENTS.md").write_text("Pkg rule: keep functions short.\n")
    (sub / "CLAUDE.md").write_text("Claude rule: no print debugging.\n")
    server.add({"text": "ok"})
    assert run_kimi(["run", "hi"], cwd=sub, env=base_env(home, server)).code == 0
    system = server.model_bodies()[0]["messages"][0]
    assert system["role"] == "system"
    text = system["content"]
    assert text.index("Root rule") < text.index("Pkg rule") < text.index("Claude rule")
    assert f"Workspace: {workspace.resolve()}" in text


def test_add_dir_widens_the_confinement(workspace: Path, home: Path, server: ScriptedServer,
                                        tmp_path: Path) -> None:
    outside = tmp_path / "shared-docs"
    outside.mkdir()
    (outside / "notes.txt").write_text("shared note\n")
    call = {"tool_calls": [{"id": "r1", "name": "Read", "arguments": {"file_path": str(outside / "notes.txt")}}]}
    server.add(call, {"text": "no"}, call, {"text": "yes"})
    denied = run_kimi(["run", "read", "--output-format", "stream-json"], cwd=workspace,
                      env=base_env(home, server))
    allowed = run_kimi(["run", "read", "--output-format", "stream-json", "--add-dir", str(outside)],
                       cwd=workspace, env=base_env(home, server))
    def result_of(run):  # noqa: ANN001, ANN202
        return [b for line in run.lines() if line["type"] == "user" for b in line["message"]["content"]][0]
    assert result_of(denied)["is_error"] and "--add-dir" in result_of(denied)["content"]
    assert not result_of(allowed)["is_error"] and "shared note" in result_of(allowed)["content"]
    bad = run_kimi(["run", "x", "--add-dir", str(tmp_path / "missing")], cwd=workspace,
                   env=base_env(home, server))
    assert bad.code == 2 and "not a directory" in bad.stderr


def test_config_show_hides_keys_and_path_lists_locations(home: Path, tmp_path: Path) -> None:
    (home / "config.toml").write_text(
        'default_model = "local"\n[models.local]\nprovider = "openai"\n'
        'base_url = "http://127.0.0.1:1/v1"\nmodel = "m"\napi_key_env = "MY_SECRET_VAR"\n')
    env = base_env(home, MY_SECRET_VAR="sk-verysecretvalue123")
    del env["KIMI_API_KEY"]
    shown = run_kimi(["config", "show"], cwd=tmp_path, env=env)
    assert shown.code == 0 and "local" in shown.stdout and "keep_sessions" in shown.stdout
    assert "verysecretvalue" not in shown.stdout
    where = run_kimi(["config", "path"], cwd=tmp_path, env=env)
    assert str(home / "config.toml") in where.stdout


def test_doctor_reports_a_dead_endpoint(home: Path, tmp_path: Path) -> None:
    env = base_env(home, KIMI_BASE_URL="http://127.0.0.1:9/v1")
    result = run_kimi(["doctor"], cwd=tmp_path, env=env)
    assert result.code == 1
    assert "endpoint" in result.stdout and "unreachable" in result.stdout
    assert "git" in result.stdout


def test_doctor_ok_against_a_live_endpoint(home: Path, tmp_path: Path, server: ScriptedServer) -> None:
    result = run_kimi(["doctor"], cwd=tmp_path, env=base_env(home, server))
    endpoint = [line for line in result.stdout.splitlines() if "endpoint:" in line]
    # "unreachable" contains "reachable": check the exact verdict on the endpoint line.
    assert endpoint and endpoint[0].startswith("✓") and "unreachable" not in result.stdout, result.stdout
    assert endpoint[0].rstrip().endswith("reachable")


def test_import_linter_contract_holds() -> None:
    root = Path(__file__).resolve().parents[2]
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint)], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_doctor_lists_and_cleans_swarm_leftovers(workspace: Path, home: Path) -> None:
    subprocess.run(["git", "branch", "kimi-code/s1/1"], cwd=workspace, check=True)
    env = base_env(home, KIMI_BASE_URL="http://127.0.0.1:9/v1")
    listed = run_kimi(["doctor"], cwd=workspace, env=env)
    assert "kimi-code/s1/1" in listed.stdout and "--cleanup" in listed.stdout
    cleaned = run_kimi(["doctor", "--cleanup"], cwd=workspace, env=env)
    assert cleaned.code == 0 and "deleted branch kimi-code/s1/1" in cleaned.stdout
    branches = subprocess.run(["git", "branch", "--list", "kimi-code/*"], cwd=workspace,
                              capture_output=True, text=True, check=True).stdout
    assert branches.strip() == ""
