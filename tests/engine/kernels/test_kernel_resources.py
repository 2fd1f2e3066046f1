"""benchmarks/kernel_resources.py: shipped configs compile for sm_90a offline (no GPU) without spills."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kimi_engine.kernels import configs

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "kernel_resources.py"


def test_compile_plan_covers_every_shipped_config():
    from kimi_engine.kernels.compile_plan import variants

    jobs = variants("sm90")
    assert {j.kernel for j in jobs} == set(configs.table()["families"]["sm90"])
    shipped = {(k, label) for k, rows in configs.shipped("sm90").items() for label, _, _ in rows}
    assert {(j.kernel, j.bucket) for j in jobs} == shipped
    # The decode GEMV entry compiles both with split-K (SPLIT_K 0 = auto) and without.
    gemv = [j for j in jobs if j.kernel == "w4a16" and j.bucket == "<=1"]
    assert sorted(j.constexprs["SPLIT_K"] for j in gemv) == [1, 4]


def test_moe_decode_configs_compile_for_hopper_without_spills(tmp_path):
    """Real triton.compile for GPUTarget('cuda', 90, 32) + Triton's ptxas and cuobjdump."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path / "cache")
    out_json = tmp_path / "rows.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--kernel", "moe_down_decode", "--json", str(out_json)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(out_json.read_text())
    assert len(rows) == len(configs.shipped("sm90")["moe_down_decode"])
    for row in rows:
        assert row["spill_bytes"] == 0 and 0 < row["registers"] <= 255, row
        assert row["blocks_by_regs"] >= 2, row
    assert "variants compiled for sm_90a; 0 spill" in proc.stdout


def test_refuses_under_the_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "unset TRITON_INTERPRET" in proc.stderr
