"""Bash: real subprocesses in their own process group; timeouts and cancellation kill the whole
tree; output is capped and decoded safely; secrets stay out of the environment."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from kimi_code.tools.base import ToolContext
from kimi_code.tools.bash import MAX_OUTPUT_CHARS, BashTool
from kimi_code.tools.bash_jobs import jobs, kill_background_jobs
from kimi_code.tools.process import OutputCollector, run_command, scrubbed_environ


def process_gone(pid: int) -> bool:
    """True when `pid` no longer runs (absent, or a zombie nobody has reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process_gone(pid):
            return True
        time.sleep(0.05)
    return process_gone(pid)


async def test_output_exit_code_and_cwd(run_tool, workspace: Path) -> None:
    result = await run_tool("Bash", command="pwd; echo out; echo err >&2; exit 3")
    lines = result.content.splitlines()
    assert lines[0] == str(workspace)
    assert lines[1:3] == ["out", "err"]  # interleaved in order
    assert lines[-1] == "[exit code 3]"
    assert result.is_error is False and result.display["exit_code"] == 3


async def test_no_output(run_tool) -> None:
    result = await run_tool("Bash", command="true")
    assert result.content == "(no output)" and result.display["exit_code"] == 0


async def test_timeout_kills_process_group(run_tool, workspace: Path) -> None:
    command = "sleep 300 & echo $! > child.pid; echo started; wait"
    result = await run_tool("Bash", command=command, timeout=1000)
    child = int((workspace / "child.pid").read_text())
    assert result.is_error and result.display["timed_out"]
    assert "started" in result.content and "Timed out after 1 s" in result.content
    assert wait_gone(child), "the backgrounded sleep survived the timeout"


async def test_sigterm_ignored_escalates_to_sigkill(run_tool, workspace: Path) -> None:
    command = "trap '' TERM; sleep 300 & echo $! > child.pid; wait"
    result = await run_tool("Bash", command=command, timeout=1000)
    assert result.display["timed_out"]
    assert wait_gone(int((workspace / "child.pid").read_text()))


async def test_cancellation_kills_process_group(ctx: ToolContext, workspace: Path) -> None:
    tool = BashTool()
    args = tool.parse_args({"command": "sleep 300 & echo $! > child.pid; wait"})
    task = asyncio.create_task(tool.run(args, ctx))
    pid_file = workspace / "child.pid"
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert wait_gone(int(pid_file.read_text()))


async def test_leftover_processes_stopped(run_tool, workspace: Path) -> None:
    result = await run_tool("Bash", command="sleep 300 & echo $! > child.pid; echo done")
    assert result.content.startswith("done")
    assert "were stopped when it finished" in result.content
    assert wait_gone(int((workspace / "child.pid").read_text()))


async def test_output_cap_keeps_head_and_tail(run_tool) -> None:
    result = await run_tool("Bash", command="seq 1 20000")
    assert len(result.content) < MAX_OUTPUT_CHARS + 200
    assert result.content.startswith("1\n2\n3\n")
    assert result.content.rstrip().endswith("19999\n20000")
    assert "characters truncated ...]" in result.content
    total = len("\n".join(str(i) for i in range(1, 20001))) + 1
    omitted = int(result.content.split("[... ")[1].split(" characters")[0])
    assert omitted == total - MAX_OUTPUT_CHARS
    assert result.display["truncated_chars"] == omitted


def test_collector_exact_cut_and_split_utf8() -> None:
    collector = OutputCollector(10)
    data = "é" * 30  # two bytes each, fed one byte at a time
    for byte in data.encode():
        collector.feed(bytes([byte]))
    text, omitted = collector.result()
    assert omitted == 20 and text.startswith("ééééé") and text.endswith("ééééé")
    assert not collector.binary


async def test_binary_output_flagged(run_tool) -> None:
    result = await run_tool("Bash", command=r"printf 'ok\xff\xfe\x00end\n'")
    assert result.content.startswith("ok\ufffd\ufffd\ufffdend")
    assert "binary data or invalid UTF-8" in result.content
    assert result.display["binary"] is True


async def test_secrets_not_visible(run_tool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-live-123")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_abc")
    monkeypatch.setenv("DB_PASSWORD", "hunter2")
    monkeypatch.setenv("CLIENT_SECRET", "s3")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/agent.sock")
    monkeypatch.setenv("HARMLESS_SETTING", "visible")
    result = await run_tool("Bash", command="env")
    for secret in ("sk-live-123", "ghp_abc", "hunter2", "SSH_AUTH_SOCK", "CLIENT_SECRET"):
        assert secret not in result.content
    assert "HARMLESS_SETTING=visible" in result.content
    assert "PAGER=cat" in result.content
    assert scrubbed_environ({"A_KEY": "1", "KEEP": "x", "ssh_auth_sock": "s"}) == {"KEEP": "x"}


async def test_ctx_env_is_used_as_given(workspace: Path, run_tool) -> None:
    ctx = ToolContext(workspace=workspace, env={"PATH": os.environ["PATH"], "ONLY_THIS": "1"})
    result = await run_tool("Bash", _ctx=ctx, command="echo ${ONLY_THIS}-${HOME:-nohome}")
    assert result.content == "1-nohome"


async def test_run_command_argv_form(workspace: Path) -> None:
    result = await run_command(["printf", "%s|", "a b", "c"], cwd=workspace, env=None,
                               timeout=30, max_output=1000)
    assert result.output == "a b|c|" and result.exit_code == 0 and not result.timed_out


async def test_background_job(run_tool, ctx: ToolContext, workspace: Path, tmp_path: Path) -> None:
    result = await run_tool("Bash", command="sleep 300 & echo $! > child.pid; echo serving; wait",
                            run_in_background=True)
    job = jobs(ctx)["bash-1"]
    assert "Started background job bash-1" in result.content and str(job.log_path) in result.content
    assert job.log_path.is_relative_to(tmp_path / "home" / "data" / "bash" / "test-session")
    for _ in range(200):
        if job.log_path.read_text() == "serving\n":
            break
        await asyncio.sleep(0.05)
    assert job.log_path.read_text() == "serving\n"
    assert job.running
    assert kill_background_jobs(ctx) == ["bash-1"]
    assert wait_gone(job.pid)
    assert wait_gone(int((workspace / "child.pid").read_text()))  # the whole group
    assert kill_background_jobs(ctx) == []


async def test_finished_background_job_is_reported(run_tool, ctx: ToolContext) -> None:
    await run_tool("Bash", command="exit 7", run_in_background=True)
    job = jobs(ctx)["bash-1"]
    assert job.waiter is not None
    await job.waiter
    follow_up = await run_tool("Bash", command="echo next")
    assert "Background job bash-1 (exit 7) finished with exit code 7" in follow_up.content
    again = await run_tool("Bash", command="echo again")
    assert "bash-1" not in again.content
