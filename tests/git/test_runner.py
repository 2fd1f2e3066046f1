"""The safe git runner: what it hands git (argv, environment) and how it finds the driver
names a configuration defines, against real git and real configuration files."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from kimi_code.git.checkpoints.auto import schedule_auto_gc
from kimi_code.git.checkpoints.layout import store_dir
from kimi_code.git.config_scan import scan_names
from kimi_code.git.runner import (
    GitError,
    driver_names,
    git_environment,
    git_invocation,
    run_git,
)
from tests.support.hostile_git import CANARY, git, make_trap, new_repo


def _pairs(env: dict[str, str]) -> dict[str, str]:
    count = int(env.get("GIT_CONFIG_COUNT", "0"))
    return {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(count)}


def test_environment_has_no_secret_and_none_of_our_git_variables(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", CANARY)
    for name in ("GIT_DIR", "GIT_EXTERNAL_DIFF", "GIT_SSH_COMMAND", "GIT_EXEC_PATH",
                 "GIT_CONFIG_PARAMETERS", "GIT_TRACE", "GIT_ASKPASS", "GIT_EDITOR"):
        monkeypatch.setenv(name, "/tmp/evil")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ada")
    env = git_environment({"GIT_INDEX_FILE": "/tmp/i", "PATH": "/evil", "OPENAI_API_KEY": CANARY})
    assert CANARY not in env.values()
    assert not {"GIT_DIR", "GIT_EXTERNAL_DIFF", "GIT_SSH_COMMAND", "GIT_EXEC_PATH",
                "GIT_CONFIG_PARAMETERS", "GIT_TRACE", "GIT_ASKPASS", "GIT_EDITOR"} & set(env)
    assert env["GIT_AUTHOR_NAME"] == "Ada" and env["GIT_INDEX_FILE"] == "/tmp/i"
    assert env["PATH"] != "/evil"  # a caller's extra may name the repository, nothing else
    assert env["GIT_CONFIG_NOSYSTEM"] == "1" and env["GIT_PAGER"] == "cat"
    assert env["GIT_TERMINAL_PROMPT"] == "0"


def test_invocation_switches_programs_off_and_hooks_only_on_request(tmp_path: Path) -> None:
    argv, _ = git_invocation(["diff", "HEAD"], cwd=tmp_path)
    assert argv[:2] == ["git", "--no-pager"]
    assert "core.fsmonitor=false" in argv and f"core.hooksPath={os.devnull}" in argv
    assert "protocol.allow=never" in argv and "credential.helper=" in argv
    assert argv[-3:] == ["--no-ext-diff", "--no-textconv", "HEAD"]
    hooked, _ = git_invocation(["commit", "-m", "x"], cwd=tmp_path, hooks=True)
    assert not any(a.startswith("core.hooksPath=") for a in hooked)
    status, _ = git_invocation(["status"], cwd=tmp_path)
    assert status[-2:] == ["status", "--ignore-submodules=dirty"]
    with_c, _ = git_invocation(["-c", "user.name=k", "commit-tree", "t"], cwd=tmp_path)
    assert with_c[-4:] == ["-c", "user.name=k", "commit-tree", "t"]


@pytest.mark.parametrize("args", [["-C", "/elsewhere", "status"], ["--git-dir=/x", "log"],
                                  ["--exec-path=/x", "status"], ["-c"]])
def test_global_options_that_redirect_git_are_refused(args: list[str], tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        git_invocation(args, cwd=tmp_path)


def test_driver_names_cover_every_spelling(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    with open(repo / ".git" / "config", "a") as handle:
        handle.write('[filter "lfs"]\n\tclean = x\n[filter.Legacy]\n\tsmudge = y\n'
                     '[DIFF "Up"]\n\ttextconv = z\n[merge "a=b"] driver = w\n'
                     '[filter "q\\"x"]\n\tclean = v\n[protocol "ext"]\n\tallow = always\n')
    names = driver_names(repo, git_environment())
    assert {("filter", "lfs"), ("filter", "legacy"), ("diff", "Up"), ("merge", "a=b"),
            ("filter", 'q"x'), ("protocol", "ext")} <= names
    _, env = git_invocation(["status"], cwd=repo)
    pairs = _pairs(env)
    assert pairs["filter.lfs.clean"] == "" and pairs["filter.lfs.required"] == "false"
    assert pairs["merge.a=b.driver"] == "false" and pairs["protocol.ext.allow"] == "never"
    _, staging = git_invocation(["add", "-A"], cwd=repo, hooks=True)
    assert _pairs(staging)["filter.lfs.required"] == "true"  # kimi-code commit: fail, not raw


def test_scan_follows_includes_of_every_condition(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "inc.cfg").write_text('[diff "fromhome"]\n\ttextconv = x\n')
    (repo / "rel.cfg").write_text(f'[include]\n\tpath = {tmp_path / "deep.cfg"}\n')
    (tmp_path / "deep.cfg").write_text('[filter "deep"]\n\tclean = x\n')
    with open(repo / ".git" / "config", "a") as handle:
        handle.write('[include]\n\tpath = ../rel.cfg ; a comment\n'
                     '[includeIf "onbranch:never-checked-out"]\n\tpath = ~/inc.cfg\n'
                     '[includeIf "gitdir:/nowhere/"]\n\tpath = missing.cfg\n')
    env = {**git_environment(), "HOME": str(tmp_path / "home")}
    assert scan_names(repo, env) == {("filter", "deep"), ("diff", "fromhome")}


def test_an_include_the_scan_cannot_read_is_left_to_git(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    (repo / "q.cfg").write_text('[filter "quoted"]\n\tclean = x\n')
    with open(repo / ".git" / "config", "a") as handle:
        handle.write(f'[include]\n\tpath = "{repo / "q.cfg"}"\n')
    env = git_environment()
    assert scan_names(repo, env) is None
    assert ("filter", "quoted") in driver_names(repo, env)  # git's own reading found it


def test_nested_and_pointer_repositories_are_scanned(tmp_path: Path) -> None:
    outer = new_repo(tmp_path / "outer")
    git(outer, "config", "filter.outer.clean", "x")
    inner = new_repo(outer / "vendor" / "inner")
    git(inner, "config", "filter.inner.clean", "x")
    elsewhere = tmp_path / "elsewhere.git"
    (inner / ".git").rename(elsewhere)
    (inner / ".git").write_text(f"gitdir: {elsewhere}\n")
    (inner / "sub").mkdir()
    names = scan_names(inner / "sub", git_environment())
    assert names is not None and {("filter", "outer"), ("filter", "inner")} <= names


def test_run_git_reports_gits_own_message(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    with pytest.raises(GitError, match="rev-parse failed: fatal: "):
        run_git(["rev-parse", "--verify", "no-such-ref^{commit}"], cwd=repo)
    assert run_git(["rev-parse", "--verify", "-q", "nope"], cwd=repo, check=False).returncode


def test_fsmonitor_in_repository_does_not_run(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    trap = make_trap(tmp_path / "trap")
    git(repo, "config", "core.fsmonitor", trap.command("fsmonitor"))
    git(repo, "status")
    assert trap.lines()  # live under plain git
    trap.reset()
    run_git(["status"], cwd=repo)
    run_git(["ls-files"], cwd=repo)
    assert trap.lines() == []


def test_detached_checkpoint_gc_gets_no_api_key(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", CANARY)
    workspace = tmp_path / "ws"
    workspace.mkdir()
    base = store_dir(workspace)
    base.mkdir(parents=True, exist_ok=True)
    (base / "workspace").write_text(f"{workspace}\n")
    os.utime(base / "workspace", (0, 0))  # made long ago: a collection is due
    # Popen returns once the child has exec'd its shell, which then sleeps: read, then end it
    proc = schedule_auto_gc(workspace, "s", delay=3600)
    assert proc is not None
    try:
        environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
        assert b"PATH=" in environ and CANARY.encode() not in environ
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()


def test_configured_hooks_of_newer_git_lose_their_events(tmp_path: Path) -> None:
    """git >= 2.54 runs `[hook "x"] event = ... command = ...` whatever core.hooksPath says:
    each configured hook's event list is reset, except in kimi-code commit's own calls."""
    repo = new_repo(tmp_path / "r")
    with open(repo / ".git" / "config", "a") as handle:
        handle.write('[hook "linter"]\n\tevent = pre-commit\n\tcommand = /tmp/evil\n')
    _, env = git_invocation(["status"], cwd=repo)
    assert _pairs(env)["hook.linter.event"] == ""
    _, committing = git_invocation(["commit", "-m", "x"], cwd=repo, hooks=True)
    assert "hook.linter.event" not in _pairs(committing)
