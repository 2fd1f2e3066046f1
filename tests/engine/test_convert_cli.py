"""`kimi-engine convert --int4` round trip, the memory plan, and the CLI commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from compressed_tensors.compressors.pack_quantized.base import PackedQuantizationCompressor
from compressed_tensors.quantization import QuantizationScheme
from engine_helpers import tiny_config
from kimi_engine import load_model
from kimi_engine.cli import main
from kimi_engine.config import load_config, parse_config
from kimi_engine.convert import ConvertError, convert_int4
from kimi_engine.plan import count_params, memory_plan
from kimi_engine.synthetic import (
    INT4_QUANTIZATION_CONFIG,
    quantize_experts,
    write_checkpoint,
)
from kimi_engine.synthetic import (
    KIMI_K26_TEXT_CONFIG as K26_TEXT,
)
from safetensors import safe_open


def test_convert_round_trip(tmp_path, tiny_state) -> None:
    text = tiny_config()
    src = write_checkpoint(tmp_path / "src", tiny_state, text, dtype=torch.bfloat16)
    (src / "tiktoken.model").write_text("side file\n")
    dst = tmp_path / "dst"
    assert main(["convert", "--int4", str(src), str(dst)]) == 0
    assert (dst / "tiktoken.model").read_text() == "side file\n"
    assert load_config(dst).int4 is not None

    scheme = QuantizationScheme.model_validate(INT4_QUANTIZATION_CONFIG["config_groups"]["group_0"])
    index = json.loads((dst / "model.safetensors.index.json").read_text())["weight_map"]
    name = "model.layers.2.mlp.experts.3.down_proj"
    with safe_open(dst / index[name + ".weight_packed"], framework="pt") as f:
        state = {k: f.get_tensor(f"{name}.{k}") for k in ("weight_packed", "weight_scale", "weight_shape")}
    assert state["weight_scale"].dtype == torch.bfloat16 and state["weight_shape"].tolist() == [64, 32]
    state["weight_scale"] = state["weight_scale"].float()
    dense = PackedQuantizationCompressor.decompress(state, scheme)["weight"]
    original = tiny_state[name + ".weight"].to(torch.bfloat16).float()
    assert (dense - original).abs().max() <= state["weight_scale"].max() / 2 + 1e-6

    # the converted checkpoint computes what the same INT4 weights computed in-test do
    packed, _ = quantize_experts({k: v.to(torch.bfloat16).float() for k, v in tiny_state.items()})
    ref = load_model(write_checkpoint(tmp_path / "ref", packed, text, int4=True))
    ids = torch.randint(0, 320, (1, 12))
    assert torch.equal(load_model(dst)(ids), ref(ids))

    with pytest.raises(ConvertError, match="already INT4"):
        convert_int4(dst, tmp_path / "again")
    with pytest.raises(ConvertError, match="not empty"):
        convert_int4(src, dst)


def test_k26_memory_plan_matches_594_gb() -> None:
    cfg = parse_config({**K26_TEXT, "quantization_config": INT4_QUANTIZATION_CONFIG})
    plan = memory_plan(cfg)
    assert abs(plan.weight_bytes / 1e9 - 594) / 594 < 0.01
    assert count_params(cfg).total / 1e9 == pytest.approx(1026.4, rel=0.01)  # "1T parameters"
    assert plan.kv_bytes_per_token == 61 * 576 * 2
    assert plan.per_gpu(8) * 8 >= plan.weight_bytes


def test_info_and_generate_commands(tmp_path, capsys) -> None:
    path = tmp_path / "tiny"
    assert main(["synth", str(path), "--int4", "--model-type", "kimi_k25"]) == 0
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "kimi_k25 (INT4 routed experts)" in out and "8 GPUs" in out
    assert main(["generate", str(path), "--prompt", "hello", "--max-tokens", "5"]) == 0
    assert main(["generate", str(path), "--prompt", "hi", "--chat", "--thinking", "--max-tokens", "4"]) == 0
    assert main(["info", str(tmp_path / "nowhere")]) == 1
    assert "no config.json" in capsys.readouterr().err


def test_console_entry_runs_in_a_subprocess(tmp_path) -> None:
    write_checkpoint(tmp_path, {}, {**K26_TEXT}, model_type="kimi_k2", n_shards=1)
    out = subprocess.run([sys.executable, "-m", "kimi_engine", "info", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "384 experts top-8" in out.stdout
