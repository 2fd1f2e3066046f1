"""Bash: run a shell command in the workspace, with a timeout, a process-group kill and capped
output; or start it in the background."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from kimi_code.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult
from kimi_code.tools.bash_jobs import finished_jobs_notice, kill_background_jobs, start_job
from kimi_code.tools.process import CommandResult, run_command, scrubbed_environ

__all__ = ["BashArgs", "BashTool", "command_env", "kill_background_jobs", "render_result"]

DEFAULT_TIMEOUT_MS = 120_000
MAX_TIMEOUT_MS = 600_000
MAX_OUTPUT_CHARS = 30_000
# Non-interactive defaults: nothing may wait for a terminal that is not there.
_NON_INTERACTIVE = {"PAGER": "cat", "GIT_PAGER": "cat", "GIT_TERMINAL_PROMPT": "0"}


class BashArgs(ToolArgs):
    command: str = Field(min_length=1, description="The shell command to run (bash -c).")
    timeout: int | None = Field(
        default=None, ge=1000, le=MAX_TIMEOUT_MS,
        description=f"Timeout in milliseconds (default {DEFAULT_TIMEOUT_MS}, max {MAX_TIMEOUT_MS}).",
    )
    description: str | None = Field(
        default=None, description="A short (5-10 words) description of what the command does."
    )
    run_in_background: bool = Field(
        default=False, description="Start the command detached and return at once (servers, watchers)."
    )


def command_env(ctx: ToolContext) -> dict[str, str]:
    """The child environment: ctx.env when the caller gave one, else os.environ without secrets."""
    env = dict(ctx.env) if ctx.env is not None else scrubbed_environ()
    for name, value in _NON_INTERACTIVE.items():
        env.setdefault(name, value)
    return env


def render_result(result: CommandResult, timeout_s: float) -> str:
    """What the model reads: the output, then notes on exit code, timeout, binary data."""
    parts = [result.output.rstrip("\n") if result.output.strip() else "(no output)"]
    if result.timed_out:
        parts.append(f"[Timed out after {timeout_s:g} s: the command and every process it started "
                     "were killed. Use a larger timeout, or run_in_background for long jobs.]")
    elif result.exit_code:
        parts.append(f"[exit code {result.exit_code}]")
    if result.binary:
        parts.append("[The output contained binary data or invalid UTF-8; undecodable bytes are "
                     "shown as U+FFFD.]")
    if result.stopped_leftovers:
        parts.append("[Processes the command left running were stopped when it finished; use "
                     "run_in_background for servers and watchers.]")
    return "\n".join(parts)


class BashTool(Tool[BashArgs]):
    name: ClassVar[str] = "Bash"
    Args: ClassVar[type[ToolArgs]] = BashArgs
    mutates_workspace: ClassVar[bool] = True

    def permission_subject(self, args: BashArgs, ctx: ToolContext | None = None) -> str:
        return args.command

    def summary(self, args: BashArgs, ctx: ToolContext | None = None) -> str:
        first = args.command.strip().splitlines()[0] if args.command.strip() else ""
        return args.description or (first[:80] + ("…" if len(first) > 80 else ""))

    async def run(self, args: BashArgs, ctx: ToolContext) -> ToolResult:
        if not ctx.workspace.is_dir():
            raise ToolError(f"The workspace {ctx.workspace} is not a directory.")
        env = command_env(ctx)
        if args.run_in_background:
            return await self._background(args, ctx, env)
        timeout_s = (args.timeout or DEFAULT_TIMEOUT_MS) / 1000
        # The OS sandbox (issue 10), set by runtime.tool_context; None runs unconfined.
        result = await run_command(args.command, cwd=ctx.workspace, env=env, timeout=timeout_s,
                                   max_output=MAX_OUTPUT_CHARS,
                                   sandbox=ctx.sandbox)
        content = render_result(result, timeout_s)
        if notice := finished_jobs_notice(ctx):
            content += "\n" + notice
        display = {"command": args.command, "exit_code": result.exit_code,
                   "timed_out": result.timed_out, "duration_s": round(result.duration_s, 3),
                   "truncated_chars": result.truncated_chars, "binary": result.binary}
        return ToolResult(content, is_error=result.timed_out, display=display)

    async def _background(self, args: BashArgs, ctx: ToolContext, env: dict[str, str]) -> ToolResult:
        try:
            job = await start_job(args.command, ctx, env)
        except OSError as exc:
            raise ToolError(f"Could not start the background command: {exc}.") from None
        content = (
            f"Started background job {job.job_id} (pid {job.pid}). Its output (stdout and stderr) "
            f"goes to {job.log_path}.\nCheck it with Bash: `tail -n 50 {job.log_path}`. Stop it "
            f"with `kill -TERM -- -{job.pid}` (its whole process group). It is stopped "
            "automatically when the session ends."
        )
        display = {"command": args.command, "job_id": job.job_id, "pid": job.pid,
                   "log_path": str(job.log_path), "background": True}
        return ToolResult(content, display=display)
