"""benchmarks/gpu_check.sh: valid bash, and its --dry-run runs every stage's CPU form to the end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "gpu_check.sh"


def test_script_parses():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_dry_run_runs_every_stage(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("TRITON_INTERPRET", "PYTHONPATH")}
    env.update(OUT=str(tmp_path), PYTHON=sys.executable)
    out = subprocess.run(["bash", str(SCRIPT), "--dry-run"], capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    for stage in ("environment", "kernel_tests", "kernels_bench", "decode_slice"):
        assert f"=== {stage}: exit 0" in out.stdout, out.stdout[-4000:]
        assert (tmp_path / f"{stage}.log").stat().st_size > 0
    assert "graphs vs eager logits: max abs diff" in (tmp_path / "decode_slice.log").read_text()
    assert "rel err" in (tmp_path / "kernels_bench.log").read_text()
    assert "status 0" in out.stdout
