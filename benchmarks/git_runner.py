"""What the safe git runner costs per git call, next to a bare `subprocess.run(["git", ...])`.

The runner builds the allowlisted environment, scans the configuration files git could read
for driver names, and adds its `-c` overrides; git itself then parses a few dozen more config
entries. Measured side by side in the same run on the same repository, interleaved so load
on the machine hits both alike: median wall time per call, and the added milliseconds.

Cases: `rev-parse HEAD` and `ls-files` (listings: what Glob, the index and the TUI run most),
`status` (reads every file's stat data), and the runner's own preparation alone (no process).
A repository whose config has an include (git's own reading of the config is then needed: one
extra `git config` process) is measured too.

    .venv/bin/python benchmarks/git_runner.py [--calls 200] [--files 2000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def _make_repo(root: Path, files: int, *, include: bool) -> Path:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for i in range(files):
        path = root / f"pkg{i % 40}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"value = {i}\n")
    env = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(root), *env, "commit", "-qm", "bench"], check=True)
    if include:
        (root / "extra.cfg").write_text("[core]\n\tquotePath = false\n")
        subprocess.run(["git", "-C", str(root), "config", "include.path", "../extra.cfg"],
                       check=True)
    return root


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def measure(repo: Path, args: list[str], calls: int) -> tuple[float, float]:
    """(bare median ms, runner median ms) for `git *args` in `repo`, interleaved."""
    from kimi_code.git.runner import run_git

    bare, safe = [], []
    for _ in range(calls):
        start = time.perf_counter()
        subprocess.run(["git", *args], cwd=repo, capture_output=True, check=False)
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        run_git(args, cwd=repo, check=False)
        safe.append(time.perf_counter() - start)
    return _median_ms(bare), _median_ms(safe)


def preparation_ms(repo: Path, calls: int) -> float:
    """The runner's own work before git starts (argv, environment, config scan)."""
    from kimi_code.git.runner import git_invocation

    samples = []
    for _ in range(calls * 5):
        start = time.perf_counter()
        git_invocation(["status"], cwd=repo)
        samples.append(time.perf_counter() - start)
    return _median_ms(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--files", type=int, default=2000)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kimi-git-runner-") as tmp:
        plain = _make_repo(Path(tmp) / "plain", opts.files, include=False)
        included = _make_repo(Path(tmp) / "include", 50, include=True)
        print(f"{'case':<34}{'bare git ms':>12}{'runner ms':>11}{'added ms':>10}{'ratio':>8}")
        for label, repo, args in (("rev-parse HEAD", plain, ["rev-parse", "HEAD"]),
                                  (f"ls-files ({opts.files} files)", plain, ["ls-files", "-z"]),
                                  (f"status ({opts.files} files)", plain,
                                   ["status", "--porcelain"]),
                                  ("rev-parse HEAD, config include", included,
                                   ["rev-parse", "HEAD"])):
            bare, safe = measure(repo, args, opts.calls)
            print(f"{label:<34}{bare:>12.2f}{safe:>11.2f}{safe - bare:>+10.2f}"
                  f"{safe / bare:>7.2f}x")
        print(f"runner preparation alone (no process): {preparation_ms(plain, opts.calls):.3f} ms")


if __name__ == "__main__":
    main()
