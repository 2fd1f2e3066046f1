"""Child processes for the tools.

`run_command` is the single place where a model-chosen command is executed (Bash, foreground).
A sandbox wraps it by changing the argv it builds; nothing else spawns model commands.
`capture` runs our own helper programs (git ls-files, rg) and is not meant for model commands.

Every child gets its own session (and so its own process group), so a timeout or a cancellation
can kill the whole tree it started, not just the shell.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # issue 10: the OS sandbox (kimi_code/safety/sandbox.py) wraps model commands here
    from kimi_code.safety.sandbox import Sandbox

SECRET_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
SECRET_NAMES = frozenset({"SSH_AUTH_SOCK", "KEY", "TOKEN", "SECRET", "PASSWORD"})
TERM_GRACE_S = 2.0  # between SIGTERM and SIGKILL
DRAIN_GRACE_S = 2.0  # how long to wait for the pipe to close once the group is gone


def scrubbed_environ(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default os.environ) without secrets: *_KEY, *_TOKEN, *_SECRET, *_PASSWORD and
    SSH_AUTH_SOCK."""
    source = os.environ if base is None else base
    return {
        name: value for name, value in source.items()
        if name.upper() not in SECRET_NAMES and not name.upper().endswith(SECRET_SUFFIXES)
    }


@dataclass(frozen=True)
class CommandResult:
    """The outcome of one command."""

    output: str  # stdout and stderr interleaved, decoded, capped with a marker
    exit_code: int | None  # None when it was killed for the timeout
    timed_out: bool
    truncated_chars: int  # characters left out of `output` (0 when complete)
    binary: bool  # the output held NUL bytes or invalid UTF-8 (decoded with replacement)
    duration_s: float
    stopped_leftovers: bool  # processes it left running in its group were stopped


class OutputCollector:
    """Keeps the first and last `max_chars / 2` characters of a byte stream, decoded as UTF-8."""

    def __init__(self, max_chars: int) -> None:
        self.head_cap = max_chars // 2
        self.tail_cap = max_chars - self.head_cap
        self.head: list[str] = []
        self.head_len = 0
        self.tail: deque[str] = deque()
        self.tail_len = 0
        self.total = 0
        self.binary = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._strict = codecs.getincrementaldecoder("utf-8")(errors="strict")

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if not self.binary:
            try:
                self._strict.decode(chunk, final)
            except UnicodeDecodeError:
                self.binary = True
        if b"\x00" in chunk:
            self.binary = True
        self._add(self._decoder.decode(chunk, final).replace("\x00", "\ufffd"))

    def _add(self, text: str) -> None:
        self.total += len(text)
        room = self.head_cap - self.head_len
        if room > 0 and text:
            self.head.append(text[:room])
            self.head_len += len(self.head[-1])
            text = text[room:]
        if text:
            self.tail.append(text)
            self.tail_len += len(text)
            while self.tail and self.tail_len - len(self.tail[0]) >= self.tail_cap:
                self.tail_len -= len(self.tail.popleft())

    def result(self) -> tuple[str, int]:
        """(text, characters left out)."""
        self.feed(b"", final=True)
        tail = "".join(self.tail)
        if len(tail) > self.tail_cap:
            tail = tail[len(tail) - self.tail_cap:]
        omitted = self.total - self.head_len - len(tail)
        head = "".join(self.head)
        if omitted <= 0:
            return head + tail, 0
        return f"{head}\n\n[... {omitted} characters truncated ...]\n\n{tail}", omitted


def _live_members_proc(pgid: int) -> bool | None:
    """Whether a non-zombie process is in group `pgid`, from /proc; None without /proc.

    Zombies are ignored: an orphan that was killed may wait a while for its reaper, and it
    holds nothing open.
    """
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != b"Z":
            return True
    return False


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process remains in process group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    live = _live_members_proc(pgid)
    return True if live is None else live


async def kill_group(pgid: int, grace: float = TERM_GRACE_S) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after `grace` seconds."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return
        await asyncio.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def kill_group_sync(pgid: int, grace: float = TERM_GRACE_S) -> None:
    """Blocking variant of `kill_group` for exit paths where no event loop runs."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and group_alive(pgid):
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def command_argv(argv_or_command: str | Sequence[str]) -> list[str]:
    """A shell command string runs under `bash -c`; a sequence is an argv as is."""
    if isinstance(argv_or_command, str):
        return ["bash", "-c", argv_or_command]
    return list(argv_or_command)


async def _pump(stream: asyncio.StreamReader, collector: OutputCollector,
                kill_after: int = 0, pgid: int = 0) -> None:
    while chunk := await stream.read(65536):
        collector.feed(chunk)
        if kill_after and collector.total > kill_after:  # sandbox output limit (issue 10)
            collector.feed(f"\n[kimi-code: output passed {kill_after} characters; the command "
                           "was killed]\n".encode())
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            # Keep reading (and dropping) until EOF: the pipe must close for wait() to return.
            while await stream.read(65536):
                pass
            return


async def _exited(proc: asyncio.subprocess.Process) -> int:
    """Wait for the process itself to exit. Unlike `proc.wait()`, this does not also wait for
    its pipes to close, which a leftover background child can hold open indefinitely."""
    delay = 0.002
    while proc.returncode is None:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
    return proc.returncode


async def _drain(proc: asyncio.subprocess.Process, pump: asyncio.Task[None]) -> None:
    """Read what is left in the pipe; give up if a detached descendant keeps it open."""
    try:
        await asyncio.wait_for(asyncio.shield(pump), DRAIN_GRACE_S)
    except TimeoutError:
        pump.cancel()
        transport = getattr(proc, "_transport", None)
        pipe = transport.get_pipe_transport(1) if transport is not None else None
        if pipe is not None:
            pipe.close()


async def _run_to_exit(proc: asyncio.subprocess.Process, pump: asyncio.Task[None]) -> bool:
    """Wait for the shell to exit, stop what it left running in its group, drain the output.

    Returns whether leftover processes had to be stopped.
    """
    exited = asyncio.create_task(_exited(proc))
    try:
        done, _ = await asyncio.wait({pump, exited}, return_when=asyncio.FIRST_COMPLETED)
        if pump in done:
            await proc.wait()  # the usual case: output closed, so wait() returns at exit
    finally:
        exited.cancel()
    leftovers = group_alive(proc.pid)
    if leftovers:
        await kill_group(proc.pid)
    await _drain(proc, pump)
    return leftovers


async def run_command(
    argv_or_command: str | Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None,
    timeout: float,
    max_output: int,
    sandbox: Sandbox | None = None,
) -> CommandResult:
    """Run a command in its own process group, stdout and stderr interleaved and capped.

    On timeout or cancellation the whole group gets SIGTERM, then SIGKILL. Cancellation
    re-raises after the kill. With `sandbox` (issue 10) the argv runs inside bubblewrap, and
    output past the sandbox's limit kills the command; SandboxUnavailable (a ToolError) is
    raised when the sandbox cannot be enforced.
    """
    if sandbox is not None:
        with sandbox.prepared(command_argv(argv_or_command), cwd) as wrapped:
            return await _run_argv(wrapped, cwd, env, timeout, max_output,
                                   sandbox.policy.limits.max_output_bytes)
    return await _run_argv(command_argv(argv_or_command), cwd, env, timeout, max_output, 0)


async def _run_argv(argv: list[str], cwd: Path, env: Mapping[str, str] | None, timeout: float,
                    max_output: int, kill_after: int) -> CommandResult:
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=str(cwd), env=None if env is None else dict(env),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True,
    )
    assert proc.stdout is not None
    collector = OutputCollector(max_output)
    pump = asyncio.create_task(_pump(proc.stdout, collector, kill_after, proc.pid))
    timed_out, leftovers = False, False
    try:
        leftovers = await asyncio.wait_for(_run_to_exit(proc, pump), timeout)
    except TimeoutError:
        timed_out = True
        await kill_group(proc.pid)
        await _drain(proc, pump)
    except asyncio.CancelledError:
        await kill_group(proc.pid)
        pump.cancel()
        raise
    text, omitted = collector.result()
    return CommandResult(
        output=text, exit_code=None if timed_out else proc.returncode, timed_out=timed_out,
        truncated_chars=omitted, binary=collector.binary,
        duration_s=time.monotonic() - started, stopped_leftovers=leftovers,
    )


@dataclass(frozen=True)
class Captured:
    returncode: int
    stdout: bytes
    stderr: bytes
    truncated: bool  # stdout hit `max_bytes` and the program was stopped


async def capture(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None,
    max_bytes: int = 64 * 1024 * 1024,
) -> Captured:
    """Run one of our helper programs (git, rg) and collect its output; cancellable."""
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=str(cwd), env=None if env is None else dict(env),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    err_task = asyncio.create_task(proc.stderr.read(1 << 20))
    try:
        out = bytearray()
        truncated = False
        while chunk := await proc.stdout.read(1 << 16):
            out += chunk
            if len(out) >= max_bytes:
                truncated = True
                await kill_group(proc.pid, grace=0.5)
                break
        err = await err_task
        returncode = await proc.wait()
    except asyncio.CancelledError:
        err_task.cancel()
        await kill_group(proc.pid, grace=0.5)
        raise
    return Captured(returncode, bytes(out), err, truncated)


async def start_detached(
    argv_or_command: str | Sequence[str], *, cwd: Path, env: Mapping[str, str] | None,
    log_path: Path, sandbox: Sandbox | None = None,
) -> asyncio.subprocess.Process:
    """Start a model command in the background, in its own process group, output to `log_path`.

    Like `run_command`, the argv comes from `command_argv`, wrapped by `sandbox` when given.
    """
    argv = command_argv(argv_or_command)
    if sandbox is not None:  # issue 10
        argv = sandbox.detached_argv(argv, cwd)
    with open(log_path, "wb") as log:
        return await asyncio.create_subprocess_exec(
            *argv, cwd=str(cwd),
            env=None if env is None else dict(env), stdin=asyncio.subprocess.DEVNULL,
            stdout=log, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )


class LineStream:
    """Run one of our helper programs and read its stdout line by line; leaving the `async with`
    block early (or being cancelled) stops the program.

        async with LineStream(["rg", ...], cwd=base) as stream:
            async for line in stream: ...
        stream.returncode, stream.stderr
    """

    def __init__(self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None,
                 max_line_bytes: int = 16 * 1024 * 1024) -> None:
        self.argv, self.cwd, self.env, self.max_line_bytes = list(argv), cwd, env, max_line_bytes
        self.returncode: int | None = None
        self.stderr = b""
        self.line_too_long = False
        self._proc: asyncio.subprocess.Process | None = None
        self._err_task: asyncio.Task[bytes] | None = None

    async def __aenter__(self) -> LineStream:
        self._proc = await asyncio.create_subprocess_exec(
            *self.argv, cwd=str(self.cwd), env=None if self.env is None else dict(self.env),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True, limit=self.max_line_bytes,
        )
        assert self._proc.stderr is not None
        self._err_task = asyncio.create_task(self._proc.stderr.read(1 << 20))
        return self

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert self._proc is not None and self._proc.stdout is not None
        while True:
            try:
                line = await self._proc.stdout.readline()
            except ValueError:  # a line over max_line_bytes: stop rather than buffer it all
                self.line_too_long = True
                return
            if not line:
                return
            yield line

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._proc is not None and self._err_task is not None
        if self._proc.returncode is None and not (self._proc.stdout and self._proc.stdout.at_eof()):
            await kill_group(self._proc.pid, grace=0.5)  # the reader stopped early
        if exc_info[0] is not None:
            self._err_task.cancel()
            await kill_group(self._proc.pid, grace=0.5)
            return
        self.stderr = await self._err_task
        self.returncode = await self._proc.wait()
