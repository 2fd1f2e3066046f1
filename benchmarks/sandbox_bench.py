"""Sandbox overhead per Bash call and the adversarial tally.

    .venv/bin/python benchmarks/sandbox_bench.py [--calls 200]

Runs `true` through the real `run_command` (the path every Bash call takes) N times without a
sandbox and N times inside bubblewrap, interleaved so machine noise hits both alike, and prints
the median, p90 and the ratio. Then runs a fixed list of attacks in the sandbox and prints
"attacks tried / blocked" (target: overhead <= 15 ms median, all blocked).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kimi_code.safety.sandbox import Sandbox, SandboxLimits, SandboxMode, SandboxPolicy  # noqa: E402
from kimi_code.safety.secrets import child_env  # noqa: E402
from kimi_code.tools.process import run_command  # noqa: E402


async def _call(ws: Path, sandbox: Sandbox | None, command: str, timeout: float = 30) -> tuple[float, str]:
    started = time.perf_counter()
    result = await run_command(command, cwd=ws, env=child_env(), timeout=timeout,
                               max_output=30_000, sandbox=sandbox)
    return time.perf_counter() - started, result.output


async def overhead(ws: Path, sandbox: Sandbox, calls: int) -> None:
    sandbox.ensure_ready()  # the one-time self-test is not per-call overhead
    await _call(ws, None, "true")
    await _call(ws, sandbox, "true")
    bare, boxed = [], []
    for _ in range(calls):
        bare.append((await _call(ws, None, "true"))[0] * 1000)
        boxed.append((await _call(ws, sandbox, "true"))[0] * 1000)
    mb, ms = statistics.median(bare), statistics.median(boxed)
    p90 = lambda xs: sorted(xs)[int(len(xs) * 0.9)]  # noqa: E731
    print(f"Bash call `true`, {calls} calls each ({'root: pids cgroup' if os.geteuid() == 0 else 'RLIMIT_NPROC'})")
    print(f"  no sandbox : median {mb:7.2f} ms   p90 {p90(bare):7.2f} ms")
    print(f"  bubblewrap : median {ms:7.2f} ms   p90 {p90(boxed):7.2f} ms")
    print(f"  overhead   : median {ms - mb:7.2f} ms   ratio {ms / mb:.2f}x   (target <= 15 ms)")


def _attacks(ws: Path, outside: Path, port: int) -> list[tuple[str, str, str]]:
    """(name, command, what proves a success) — the attack succeeded if the check is true."""
    return [
        ("write /etc", f"echo x > /etc/kimi-{outside.name}", f"/etc/kimi-{outside.name}"),
        ("write ~", f"echo x > ~/kimi-{outside.name}", str(Path.home() / f"kimi-{outside.name}")),
        ("write outside dir", f"echo x > {outside}/w", str(outside / "w")),
        (".git/hooks", "echo x > .git/hooks/pre-commit", str(ws / ".git/hooks/pre-commit")),
        ("symlink escape", f"ln -s {outside} l && echo x > l/s", str(outside / "s")),
        ("hard link escape", f"ln {outside}/t h && echo x >> h", "hardlink"),
        ("tcp connect", f"echo x > /dev/tcp/127.0.0.1/{port}", "net"),
        ("python connect", f"python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 1)'", "net"),
        ("secret in env", "env | grep -q KIMI_BENCH_SECRET && echo LEAK", "LEAK"),
        ("parent environ", "cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -q KIMI_BENCH_SECRET && echo LEAK", "LEAK"),
        ("daemon survives", f"setsid bash -c 'exec -a kimi-bench-{outside.name} sleep 60' & echo", "daemon"),
        ("fork storm", "python3 -c 'import os,time\nn=0\nfor _ in range(600):\n try: pid=os.fork()\n except OSError: break\n if pid==0: time.sleep(30); os._exit(0)\n n+=1\nprint(\"FORKS\", n)'", "forks"),
    ]


async def tally(ws: Path, sandbox: Sandbox) -> None:
    outside = Path("/var/tmp") / f"kimi-bench-{uuid.uuid4().hex[:8]}"
    outside.mkdir()
    (outside / "t").write_text("orig")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    os.environ["KIMI_BENCH_SECRET"] = "x"
    blocked = 0
    attacks = _attacks(ws, outside, listener.getsockname()[1])
    for name, command, proof in attacks:
        _, out = await _call(ws, sandbox, command)
        if proof == "net":
            try:
                listener.accept()[0].close()
                ok = False
            except BlockingIOError:
                ok = True
        elif proof == "hardlink":
            ok = (outside / "t").read_text() == "orig"
        elif proof == "LEAK":
            ok = "LEAK" not in out
        elif proof == "daemon":
            ok = not any(f"kimi-bench-{outside.name}".encode() in _cmdline(p) for p in os.listdir("/proc") if p.isdigit())
        elif proof == "forks":
            ok = "FORKS" in out and int(out.split("FORKS")[1].split()[0]) < sandbox.policy.limits.max_processes
        else:
            ok = not Path(proof).exists()
        blocked += ok
        print(f"  {'blocked' if ok else 'ESCAPED'}  {name}")
    print(f"attacks tried / blocked: {len(attacks)} / {blocked}")
    listener.close()


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KIMI_CODE_HOME"] = str(Path(tmp) / "home")
        ws = Path(tmp) / "ws"
        ws.mkdir()
        os.system(f"git init -q {ws}")
        sandbox = Sandbox(SandboxPolicy.for_workspace(ws, mode=SandboxMode.WORKSPACE_WRITE,
                                                      limits=SandboxLimits(max_processes=256)))
        asyncio.run(overhead(ws, sandbox, args.calls))
        asyncio.run(tally(ws, sandbox))


if __name__ == "__main__":
    main()
