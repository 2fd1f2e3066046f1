"""Cold-start time of `kimi-code --help` (target: <= 150 ms median on the dev machine).

Prints the median and spread over N runs, side by side with `python -c pass` (the interpreter
floor) and `python -c "import typer"` (the CLI framework alone), and the ratios.

    .venv/bin/python benchmarks/startup_bench.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

KIMI = str(Path(sys.executable).with_name("kimi-code"))


def timed(cmd: list[str], runs: int) -> list[float]:
    subprocess.run(cmd, capture_output=True, check=True)  # warm the page cache once
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    cases = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "python -c 'import typer'": [sys.executable, "-c", "import typer"],
        "kimi-code --help": [KIMI, "--help"],
        "kimi-code --version": [KIMI, "--version"],
    }
    results = {name: timed(cmd, args.runs) for name, cmd in cases.items()}
    floor = statistics.median(results["python -c pass (floor)"])
    print(f"{'command':32} {'median ms':>10} {'min':>8} {'max':>8} {'x floor':>8}")
    for name, samples in results.items():
        med = statistics.median(samples)
        print(f"{name:32} {med:10.1f} {min(samples):8.1f} {max(samples):8.1f} {med / floor:8.2f}")
    help_median = statistics.median(results["kimi-code --help"])
    print(f"\ntarget <= 150 ms: {'MET' if help_median <= 150 else 'NOT MET'} ({help_median:.1f} ms)")


if __name__ == "__main__":
    main()
