"""Background jobs started by Bash with run_in_background: a job table in ctx.state, logs under
the data directory, and a kill switch for when the agent exits."""

from __future__ import annotations

import asyncio
import atexit
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kimi_code.paths import data_dir, ensure_dir
from kimi_code.tools.base import ToolContext
from kimi_code.tools.process import group_alive, kill_group_sync, start_detached

JOBS_KEY = "bash_jobs"
# Process groups of jobs not yet killed, across all contexts: a last-resort cleanup at exit.
_LIVE_GROUPS: set[int] = set()


@dataclass
class BackgroundJob:
    job_id: str
    command: str
    pid: int  # also the process group id (the job runs in its own session)
    log_path: Path
    started: float
    process: asyncio.subprocess.Process
    exit_code: int | None = None
    reported: bool = False  # its end was already mentioned to the model
    waiter: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.exit_code is None


def jobs(ctx: ToolContext) -> dict[str, BackgroundJob]:
    """The job table of this session (created on first use)."""
    table: dict[str, BackgroundJob] = ctx.state.setdefault(JOBS_KEY, {})
    return table


def log_dir(ctx: ToolContext) -> Path:
    session = re.sub(r"[^A-Za-z0-9_.-]", "_", ctx.session_id) or "default"
    return ensure_dir(data_dir() / "bash" / session)


async def _watch(job: BackgroundJob) -> None:
    job.exit_code = await job.process.wait()


async def start_job(command: str, ctx: ToolContext, env: Mapping[str, str]) -> BackgroundJob:
    """Start `command` detached in the workspace; its output goes to a log file."""
    table = jobs(ctx)
    job_id = f"bash-{len(table) + 1}"
    log_path = log_dir(ctx) / f"{job_id}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    process = await start_detached(command, cwd=ctx.workspace, env=env, log_path=log_path,
                                   sandbox=ctx.sandbox)  # issue 10
    job = BackgroundJob(job_id, command, process.pid, log_path, time.time(), process)
    job.waiter = asyncio.create_task(_watch(job))
    table[job_id] = job
    _LIVE_GROUPS.add(job.pid)
    return job


def finished_jobs_notice(ctx: ToolContext) -> str:
    """One line per background job that ended since the last notice (empty when none)."""
    lines = []
    for job in jobs(ctx).values():
        if job.exit_code is not None and not job.reported:
            job.reported = True
            lines.append(f"[Background job {job.job_id} ({job.command[:60]}) finished with exit "
                         f"code {job.exit_code}; output in {job.log_path}]")
    return "\n".join(lines)


def kill_background_jobs(ctx: ToolContext) -> list[str]:
    """Stop every background job of this context (SIGTERM, then SIGKILL), whole process groups.

    Call when the agent exits; synchronous (it blocks up to the SIGTERM grace period), safe to
    run in a worker thread. Returns the ids of the jobs that were still running.
    """
    stopped = []
    for job in jobs(ctx).values():
        if group_alive(job.pid):
            stopped.append(job.job_id)
            kill_group_sync(job.pid)
        _LIVE_GROUPS.discard(job.pid)
        # The waiter task is left alone: it ends by itself once the shell is reaped, and
        # touching it here would not be thread-safe (callers may run this in a thread).
    return stopped


@atexit.register
def _kill_leftover_groups() -> None:
    for pgid in list(_LIVE_GROUPS):
        kill_group_sync(pgid, grace=0.5)
    _LIVE_GROUPS.clear()
