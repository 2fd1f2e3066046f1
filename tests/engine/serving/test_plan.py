"""Memory plan from config.json alone: weights per GPU under the tensor-parallel split, KV bytes per
token, cache tokens that fit. Expected numbers are worked out by hand from the configs below."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from kimi_engine.cli import main
from kimi_engine.config import parse_config
from kimi_engine.plan import (
    GIB,
    PlanError,
    fit,
    fit_summary,
    kv_bytes_per_token,
    memory_plan,
    weights_per_gpu,
)
from kimi_engine.synthetic import INT4_QUANTIZATION_CONFIG, KIMI_K26_TEXT_CONFIG, TINY_TEXT_CONFIG

TINY = {**TINY_TEXT_CONFIG, "model_type": "kimi_k2"}
K2_INT4 = {**KIMI_K26_TEXT_CONFIG, "quantization_config": INT4_QUANTIZATION_CONFIG}

# Tiny (h 64, 3 layers, 1 dense, heads 4, q_lora 48, kv_lora 32, nope/rope/v 16/8/16, I 96,
# moe_I 32, 8 experts + 1 shared, vocab 320, untied), in parameters:
#   replicated: embed + lm_head 2*320*64 = 40960, final norm 64,
#               per layer q_a 64*48 + 48, kv_a 64*40 + 32, 2 norms 128 -> 3*5840 = 17520,
#               routers 2 * (8*64 + 8) = 1040                                  -> 59584
#   split:      per layer q_b 48*4*24 + kv_b 32*4*32 + o 4*16*64 = 12800 -> 38400,
#               dense MLP 3*64*96 = 18432, shared experts 2 * 3*64*32 = 12288   -> 69120
#   routed:     2 layers * 8 experts * 3*64*32                                  -> 98304
TINY_REPLICATED, TINY_SPLIT, TINY_ROUTED = 59584, 69120, 98304

# K2 (h 7168, 61 layers, 1 dense, heads 64, q_lora 1536, kv_lora 512, nope/rope/v 128/64/128,
# I 18432, moe_I 2048, 384 experts + 1 shared, vocab 163840), in parameters:
#   replicated: 2*163840*7168 = 2348810240, + 7168,
#               61 * (7168*1536 + 1536 + 7168*576 + 512 + 2*7168) = 61 * 15155200 = 924467200,
#               60 * (384*7168 + 384) = 165173760                         -> 3438458368
#   split:      61 * (1536*64*192 + 512*64*256 + 64*128*7168) = 61 * 85983232 = 5244977152,
#               3*7168*18432 = 396361728, 60 * 3*7168*2048 = 2642411520   -> 8283750400
#   routed:     60 * 384 * 3*7168*2048 = 1014686023680 parameters, INT4 group 32:
#               /2 bytes packed = 507343011840 + /32 * 2 bytes of scales = 63417876480
K2_REPLICATED, K2_SPLIT, K2_ROUTED_INT4_BYTES = 3438458368, 8283750400, 570760888320


def test_tiny_model_per_gpu_bytes() -> None:
    cfg = parse_config(TINY)
    one, two = weights_per_gpu(cfg, 1), weights_per_gpu(cfg, 2)
    assert one.total == (TINY_REPLICATED + TINY_SPLIT + TINY_ROUTED) * 2 == 454016
    assert one.total == memory_plan(cfg).weight_bytes  # unsplit: the whole checkpoint in bf16
    assert (two.replicated, two.split, two.routed_experts) == (TINY_REPLICATED * 2, TINY_SPLIT, TINY_ROUTED)
    assert two.total == 286592
    assert kv_bytes_per_token(cfg) == (32 + 8) * 3 * 2 == 240
    with pytest.raises(PlanError, match="num_attention_heads=4 is not divisible by 3 GPUs; GPU counts that work: 1, 2, 4"):
        weights_per_gpu(cfg, 3)


def test_tiny_int4_experts_at_packed_size_and_group_rules() -> None:
    cfg = parse_config({**TINY, "quantization_config": INT4_QUANTIZATION_CONFIG})
    assert weights_per_gpu(cfg, 1).routed_experts == TINY_ROUTED // 2 + TINY_ROUTED // 32 * 2 == 55296
    # moe_I 32 / 2 = 16 is half a quantisation group: TP cannot cut there, expert parallel can.
    with pytest.raises(PlanError, match="quantisation groups of 32"):
        weights_per_gpu(cfg, 2)
    ep = weights_per_gpu(cfg, 2, expert_parallel=True)
    assert ep.routed_experts == 55296 // 2 and ep.split == TINY_SPLIT


def test_k2_int4_on_eight_gpus() -> None:
    cfg = parse_config(K2_INT4)
    share = weights_per_gpu(cfg, 8)
    assert share.replicated == K2_REPLICATED * 2
    assert share.split == K2_SPLIT // 8 * 2
    assert share.routed_experts == K2_ROUTED_INT4_BYTES // 8
    assert share.total == 80292965376  # 74.78 GiB
    kv = kv_bytes_per_token(cfg)
    assert kv == (512 + 64) * 61 * 2 == 70272
    # 8 GPUs with 79 GiB free each: 90% of (79 GiB - weights) for the cache.
    report = fit(cfg, 8, 79 * GIB)
    assert report.fits and report.cache_tokens == int((79 * GIB - 80292965376) * 0.9) // 70272 == 58051
    assert fit_summary(report) == ("74.78 GiB of weights per GPU on 8 GPUs, 79.00 GiB free: "
                                   "room for 58,051 cache tokens")
    # 70 GiB free: the weights alone overflow; short by weights + 4096 tokens / 0.9 - 70 GiB.
    short = fit(cfg, 8, 70 * GIB)
    assert short.fits is False and short.cache_tokens == 0
    assert short.shortfall == 80292965376 + -(-4096 * 70272 * 10 // 9) - 70 * GIB
    assert fit_summary(short).startswith("does not fit: 74.78 GiB of weights per GPU on 8 GPUs")
    assert "(short by 5.08 GiB per GPU)" in fit_summary(short)
    assert fit(cfg, 4, 141 * GIB).fits is False  # 4 x H200 hold no K2


def test_plan_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.json").write_text(json.dumps(K2_INT4))  # config only, no weights
    assert main(["plan", "--model", str(tmp_path), "--gpus", "8", "--gpu-memory", "79"]) == 0
    out = capsys.readouterr().out
    assert "weights per GPU  74.78 GiB" in out and "70,272 bytes per token" in out
    assert "FITS" in out and "58,051" in out
    assert main(["plan", "--model", str(tmp_path), "--gpus", "8", "--gpu-memory", "70"]) == 1
    assert "DOES NOT FIT" in capsys.readouterr().out
    assert main(["plan", "--model", str(tmp_path), "--gpus", "3", "--gpu-memory", "80"]) == 1
    assert "not divisible by 3 GPUs; GPU counts that work: 1, 2, 4, 8, 16, 32, 64" in capsys.readouterr().err


def test_plan_command_without_gpus_in_a_subprocess(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(TINY))
    env = {"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "kimi_engine", "plan", "--model", str(tmp_path)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "split            1 GPU, tensor parallel" in out.stdout
    assert "free memory      unknown (no CUDA GPU visible)" in out.stdout
