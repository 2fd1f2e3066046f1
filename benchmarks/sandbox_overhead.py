"""Per-Bash-call overhead of the sandbox with the issue 15 layers (hidden credential stores and
sockets, the seccomp filter, the memory limit and tmpfs caps), side by side with an unsandboxed
run and with bubblewrap without those layers, for the system bwrap and the bundled one.

    .venv/bin/python benchmarks/sandbox_overhead.py [--calls 200]

Each configuration runs `true` through the real `run_command` (the path every Bash call takes),
interleaved so machine noise hits all alike. Prints median and p90 per configuration, the
overhead against no sandbox with its ratio (target: <= 15 ms median with every layer), and what
building the argv costs by itself (the per-call hide plan and the .git scan).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kimi_code.safety import sandbox as sandbox_module  # noqa: E402
from kimi_code.safety import seccomp  # noqa: E402
from kimi_code.safety.bundled_tools import _bundled_bwrap  # noqa: E402
from kimi_code.safety.sandbox import Sandbox, SandboxMode, SandboxPolicy  # noqa: E402
from kimi_code.safety.sandbox_hide import HidePlan  # noqa: E402
from kimi_code.safety.secrets import child_env  # noqa: E402
from kimi_code.tools.process import run_command  # noqa: E402


@contextmanager
def _without_issue15_layers() -> Iterator[None]:
    """bwrap as before issue 15: no hide plan, no seccomp filter (the baseline)."""
    plan, filter_file = sandbox_module.plan_hidden, seccomp.filter_file

    def unsupported(*_a: object, **_k: object) -> Path:
        raise seccomp.SeccompUnsupported("baseline without seccomp")

    sandbox_module.plan_hidden = lambda *a, **k: HidePlan((), ())  # type: ignore[assignment]
    seccomp.filter_file = unsupported  # type: ignore[assignment]
    try:
        yield
    finally:
        sandbox_module.plan_hidden, seccomp.filter_file = plan, filter_file


async def _once(ws: Path, sandbox: Sandbox | None) -> float:
    started = time.perf_counter()
    await run_command("true", cwd=ws, env=child_env(), timeout=30, max_output=10_000,
                      sandbox=sandbox)
    return (time.perf_counter() - started) * 1000


async def _measure(ws: Path, configs: dict[str, tuple[Sandbox | None, bool]], calls: int
                   ) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(calls + 3):  # the first 3 rounds warm caches and are dropped
        for name, (sandbox, baseline) in configs.items():
            if baseline:
                with _without_issue15_layers():
                    times[name].append(await _once(ws, sandbox))
            else:
                times[name].append(await _once(ws, sandbox))
    return {name: values[3:] for name, values in times.items()}


def _p90(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.9)]


def _argv_cost(sandbox: Sandbox, ws: Path, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        sandbox.wrap(["true"], ws)
    return (time.perf_counter() - started) * 1000 / calls


def _bwraps() -> dict[str, str]:
    found = {}
    system = subprocess.run(["sh", "-c", "command -v bwrap"], capture_output=True, text=True)
    if system.returncode == 0 and system.stdout.strip():
        found["system"] = system.stdout.strip()
    if bundled := _bundled_bwrap():
        found["bundled"] = bundled
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KIMI_CODE_HOME"] = str(Path(tmp) / "home")
        ws = Path(tmp) / "ws"
        ws.mkdir()
        subprocess.run(["git", "init", "-q", str(ws)], check=True)
        policy = SandboxPolicy.for_workspace(ws, mode=SandboxMode.WORKSPACE_WRITE)
        configs: dict[str, tuple[Sandbox | None, bool]] = {"no sandbox": (None, False)}
        for label, path in _bwraps().items():
            sandbox = Sandbox(policy, path)
            sandbox.ensure_ready()  # the one-time self-test is not per-call overhead
            configs[f"{label} bwrap, before issue 15"] = (sandbox, True)
            configs[f"{label} bwrap, every layer"] = (sandbox, False)
        times = asyncio.run(_measure(ws, configs, args.calls))
        bare = statistics.median(times["no sandbox"])
        print(f"Bash call `true`, {args.calls} calls per configuration "
              f"({'root: pids cgroup' if os.geteuid() == 0 else 'RLIMIT_NPROC'})")
        print(f"  {'configuration':<34}{'median':>10}{'p90':>10}{'overhead':>11}{'ratio':>8}")
        for name, values in times.items():
            median = statistics.median(values)
            print(f"  {name:<34}{median:>8.2f}ms{_p90(values):>8.2f}ms"
                  f"{median - bare:>9.2f}ms{median / bare:>7.2f}x")
        layered = [n for n in times if n.endswith("every layer")]
        worst = max((statistics.median(times[n]) - bare for n in layered), default=float("nan"))
        print(f"  every layer, worst overhead: {worst:.2f} ms median (target <= 15 ms)")
        cost: Callable[[Sandbox], float] = lambda s: _argv_cost(s, ws, 200)  # noqa: E731
        any_box = next((c[0] for c in configs.values() if c[0] is not None), None)
        if any_box is not None:
            print(f"  building the argv (hide plan, .git scan, filter file): "
                  f"{cost(any_box):.3f} ms per call (empty workspace)")
        _scan_cost(Path(__file__).resolve().parents[1])


def _scan_cost(tree: Path) -> None:
    """The per-call .git scan grows with the workspace: shown on this checkout."""
    from kimi_code.safety.git_dirs import protected_git_paths

    protected_git_paths(tree)  # warm the dentry cache, as a session's second call would
    started = time.perf_counter()
    protected_git_paths(tree)
    elapsed = (time.perf_counter() - started) * 1000
    dirs = sum(1 for _ in os.walk(tree))
    print(f"  .git scan of {tree} ({dirs} directories): {elapsed:.1f} ms per call")


if __name__ == "__main__":
    main()
