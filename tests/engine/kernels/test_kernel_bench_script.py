"""benchmarks/kernels_bench.py: its bytes model, baseline and dry run (no GPU needed)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "kernels_bench.py"


def _load():
    spec = importlib.util.spec_from_file_location("kernels_bench", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bytes_model_for_k2_expert():
    bench = _load()
    # gate [2048 x 7168]: 2048 * 896 int32 words + 2048 * 224 bf16 scales
    assert bench.int4_bytes(2048, 7168) == 2048 * 896 * 4 + 2048 * 224 * 2
    per_expert = bench.int4_bytes(4096, 7168) + bench.int4_bytes(7168, 2048)
    assert bench.expert_bytes(7168, 2048) == per_expert
    floor = bench.moe_floor_bytes(1, 8, 7168, 2048, shared=True)
    assert floor == 8 * per_expert + 3 * 7168 * 2048 * 2 + 4 * 7168


def test_dequant_baseline_matches_reference():
    from kimi_engine.kernels.reference import int4_matmul_reference
    from kimi_engine.quant import quantize_int4

    bench = _load()
    packed, scale = quantize_int4(torch.randn(24, 64))
    x = torch.randn(3, 64)
    torch.testing.assert_close(bench.dequant_matmul(x, packed, scale, 64),
                               int4_matmul_reference(x, packed, scale, (24, 64)), rtol=1e-5, atol=1e-5)


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"} | env
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=full,
                          timeout=240)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on machines without CUDA")
def test_refuses_without_cuda():
    out = _run()
    assert out.returncode == 2
    assert "needs a CUDA GPU" in out.stderr


def test_dry_run_checks_every_path_in_the_interpreter():
    out = _run("--dry-run", "--shrink", "16", "--batches", "1,17", "--tokens", "2", "--experts", "12",
               "--context", "40", "--mla-heads", "4", TRITON_INTERPRET="1")
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if "rel err" in line]
    # three weight shapes x two batches + one MoE row + MLA decode at two batches
    assert len(rows) == 3 * 2 + 1 + 2
    errors = [float(line.rsplit("rel err ", 1)[1].rstrip(")")) for line in rows]
    assert max(errors) < 1e-4, out.stdout


SLICE = SCRIPT.parent / "decode_slice_bench.py"


def test_decode_slice_dry_run_graph_path_matches_eager():
    """The e2e slice benchmark on a tiny CPU slice: the padded graph path gives the eager logits."""
    out = subprocess.run([sys.executable, str(SLICE), "--dry-run", "--batches", "1,3"], capture_output=True,
                         text=True, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    diffs = [line for line in out.stdout.splitlines() if "graphs vs eager logits" in line]
    assert len(diffs) == 2, out.stdout
    assert all(float(line.split("max abs diff ")[1].split()[0]) <= 1e-4 for line in diffs), out.stdout
    assert sum(" eager |" in line for line in out.stdout.splitlines()) == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on machines without CUDA")
def test_decode_slice_refuses_without_cuda():
    out = subprocess.run([sys.executable, str(SLICE)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "needs a CUDA GPU" in out.stderr
