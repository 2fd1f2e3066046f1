"""`kimi-code doctor`'s "model fits" line: the engine's memory plan against the visible GPUs.

The verdict logic is driven with GPU lists (this machine has none); the CPU path runs the real
`kimi-code doctor` in a subprocess, and a probe checks doctor's own process never loads torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from kimi_engine.synthetic import INT4_QUANTIZATION_CONFIG, KIMI_K26_TEXT_CONFIG, TINY_TEXT_CONFIG

from kimi_code.app.doctor import FAIL, OK, WARN, Gpu, model_fit_check
from tests.support.cli_runs import base_env, run_kimi

GIB = 1 << 30


@pytest.fixture
def k2(tmp_path: Path) -> Path:
    """A K2-shaped INT4 checkpoint directory: config.json only, no weights."""
    path = tmp_path / "k2"
    path.mkdir()
    (path / "config.json").write_text(json.dumps({**KIMI_K26_TEXT_CONFIG, "quantization_config": INT4_QUANTIZATION_CONFIG}))
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny"
    path.mkdir()
    (path / "config.json").write_text(json.dumps({**TINY_TEXT_CONFIG, "model_type": "kimi_k2"}))
    return path


def test_k2_fits_eight_gpus_with_room_for_the_cache(k2: Path) -> None:
    # 74.78 GiB of weights per GPU (see tests/engine/serving/test_plan.py for the hand count);
    # 90% of the remaining 4.22 GiB at 70,272 bytes per token.
    check = model_fit_check(str(k2), [Gpu("NVIDIA H100", 80 * GIB, 79 * GIB)] * 8)
    assert check.status == OK
    assert check.detail == "74.78 GiB of weights per GPU on 8 GPUs, 79.00 GiB free: room for 58,051 cache tokens"


def test_k2_does_not_fit_and_says_by_how_much(k2: Path) -> None:
    gpus = [Gpu("NVIDIA H100", 80 * GIB, 79 * GIB)] * 7 + [Gpu("NVIDIA H100", 80 * GIB, 70 * GIB)]
    check = model_fit_check(str(k2), gpus)  # the GPU with the least free memory decides
    assert check.status == FAIL
    assert check.detail.startswith("does not fit: 74.78 GiB of weights per GPU on 8 GPUs + 4,096 cache tokens")
    assert "70.00 GiB free (short by 5.08 GiB per GPU)" in check.detail
    four = model_fit_check(str(k2), [Gpu("NVIDIA H200", 141 * GIB, 139 * GIB)] * 4)
    # (3438458368 * 2 + 8283750400 / 4 * 2 + 570760888320 / 4) bytes = 143.15 GiB
    assert four.status == FAIL and "143.15 GiB of weights per GPU on 4 GPUs" in four.detail


def test_gpu_count_the_heads_do_not_divide(tiny: Path) -> None:
    check = model_fit_check(str(tiny), [Gpu("GPU", 16 * GIB, 15 * GIB)] * 3)
    assert check.status == OK and "on 2 GPUs" in check.detail
    assert "(the model splits over 2 of the 3 visible GPUs)" in check.detail


def test_no_gpu_warns_with_the_weight_size(tiny: Path, tmp_path: Path) -> None:
    # tiny: 227,008 bf16 parameters = 454,016 bytes; KV (32 + 8) x 3 layers x 2 = 240 bytes per token
    check = model_fit_check(str(tiny), [])
    assert check.status == WARN
    assert check.detail == ("cannot check without GPUs (no CUDA GPU visible): 443.4 KiB of weights on 1 GPU; "
                            "KV cache 0.2 KiB per token")
    missing = model_fit_check(str(tmp_path / "nowhere"), [])
    assert missing.status == FAIL and "no config.json" in missing.detail


def test_doctor_prints_the_line_for_an_engine_model(k2: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = base_env(home, KIMI_PROVIDER="engine", KIMI_MODEL_PATH=str(k2), CUDA_VISIBLE_DEVICES="", COLUMNS="200")
    result = run_kimi(["doctor"], cwd=tmp_path, env=env, timeout=120)
    line = next((ln for ln in result.stdout.splitlines() if "model fits:" in ln), "")
    assert line == ("! model fits: cannot check without GPUs (no CUDA GPU visible): 553.40 GiB of weights "
                    "on 1 GPU; KV cache 68.6 KiB per token"), result.stdout
    plain = run_kimi(["doctor"], cwd=tmp_path, env=base_env(home, KIMI_BASE_URL="http://127.0.0.1:9/v1"))
    assert "model fits" not in plain.stdout  # not on the engine: no line


def test_doctor_process_never_imports_torch(k2: Path, tmp_path: Path) -> None:
    code = ("import sys\n"
            "from kimi_code.app.doctor import check_engine, check_model_fits\n"
            "print(check_engine().status, check_model_fits().status, 'torch' in sys.modules)")
    env = base_env(tmp_path, KIMI_PROVIDER="engine", KIMI_MODEL_PATH=str(k2), CUDA_VISIBLE_DEVICES="")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.stdout.split() == ["warn", "warn", "False"], out.stderr
