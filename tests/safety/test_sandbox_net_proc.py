"""Network, process and secret containment under the real bubblewrap."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kimi_code.safety.sandbox import Sandbox, SandboxLimits
from tests.support.sandboxes import (
    Listener,  # noqa: F401
    bash,
    make_sandbox,
)

CANARY = "canary-" + uuid.uuid4().hex




@pytest.fixture
def listener() -> Iterator[Listener]:
    lis = Listener()
    yield lis
    lis.close()


def _attacks(tcp: int, udp: int) -> str:
    lines = [
        f"echo hi > /dev/tcp/127.0.0.1/{tcp}",
        f"echo hi > /dev/udp/127.0.0.1/{udp}",
        f"python3 -c 'import socket; s=socket.socket(); s.settimeout(1); s.connect((\"127.0.0.1\", {tcp}))'",
        f"python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b\"x\", (\"127.0.0.1\", {udp}))'",
    ]
    if shutil.which("curl"):
        lines.append(f"curl -s -m 2 http://127.0.0.1:{tcp}/")
    return "; ".join(lines) + "; sleep 0.5; echo end"


async def test_no_network(workspace: Path, sandbox: Sandbox, listener: Listener) -> None:
    result = await bash(workspace, sandbox, _attacks(listener.tcp.getsockname()[1],
                                                    listener.udp.getsockname()[1]))
    assert "end" in result.content
    listener.close()
    assert listener.hits == [], result.content


async def test_network_when_allowed(workspace: Path, listener: Listener) -> None:
    # The same attacks reach the listener when the policy allows network: the test above can fail.
    sandbox = make_sandbox(workspace, network=True)
    await bash(workspace, sandbox, _attacks(listener.tcp.getsockname()[1],
                                           listener.udp.getsockname()[1]))
    listener.close()
    assert "tcp" in listener.hits and "udp" in listener.hits


async def test_parent_environ_is_out_of_reach(workspace: Path, sandbox: Sandbox,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIMI_CANARY_TOKEN", CANARY)
    monkeypatch.setenv("MOONSHOT_API_KEY", CANARY)
    monkeypatch.setenv("DATABASE_URL", f"postgres://u:{CANARY}@db/x")
    command = (f"env; cat /proc/$PPID/environ; cat /proc/1/environ; cat /proc/{os.getpid()}/environ; "
               f"cat /proc/{os.getppid()}/environ; cat /proc/*/environ; tr '\\0' '\\n' < /proc/self/environ; "
               "echo end")
    result = await bash(workspace, sandbox, command)
    assert "end" in result.content
    assert CANARY not in result.content


async def test_background_daemons_do_not_survive(workspace: Path, sandbox: Sandbox) -> None:
    marker = "kimi-daemon-" + uuid.uuid4().hex[:10]
    result = await bash(workspace, sandbox,
                        f"(exec -a {marker} sleep 300) & setsid bash -c 'exec -a {marker} sleep 300' & "
                        f"nohup bash -c 'exec -a {marker} sleep 300' >/dev/null 2>&1 & disown; echo started")
    assert "started" in result.content
    assert not _processes_named(marker)


def _processes_named(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if marker.encode() in cmdline:
                found.append(int(entry))
    return found


async def test_fork_bomb_is_contained(workspace: Path) -> None:
    sandbox = make_sandbox(workspace, limits=SandboxLimits(max_processes=32))
    storm = ("python3 -c 'import os,time\nn=0\nfor _ in range(200):\n try: pid=os.fork()\n"
             " except OSError: break\n if pid==0: time.sleep(60); os._exit(0)\n n+=1\nprint(\"forks\", n)'")
    result = await bash(workspace, sandbox, storm)
    forks = int(result.content.split("forks", 1)[1].split()[0])
    assert forks < 32, result.content
    marker = "kimi-bomb-" + uuid.uuid4().hex[:8]
    result = await bash(workspace, sandbox, f"b(){{ (exec -a {marker} sleep 60) & b & }}; b; echo end",
                        timeout_ms=3000)
    assert not _processes_named(marker)


async def test_infinite_output_is_capped(workspace: Path) -> None:
    sandbox = make_sandbox(workspace, limits=SandboxLimits(max_output_bytes=2_000_000))
    result = await bash(workspace, sandbox, "yes kimi", timeout_ms=60_000)
    assert "the command was killed" in result.content
    assert not result.display["timed_out"]
    assert len(result.content) < 40_000


async def test_timeout_kills_the_sandbox(workspace: Path, sandbox: Sandbox) -> None:
    marker = "kimi-slow-" + uuid.uuid4().hex[:8]
    result = await bash(workspace, sandbox, f"exec -a {marker} sleep 100", timeout_ms=1000)
    assert result.display["timed_out"]
    assert not _processes_named(marker)
