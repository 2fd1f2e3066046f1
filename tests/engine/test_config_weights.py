"""config.json parsing and the loader's precise errors, per-rank slicing and memory behaviour."""

from __future__ import annotations

import json

import pytest
import torch
from engine_helpers import tiny_config
from kimi_engine import load_model
from kimi_engine.config import ConfigError, load_config, parse_config
from kimi_engine.model import build_meta_model
from kimi_engine.synthetic import (
    INT4_QUANTIZATION_CONFIG,
    quantize_experts,
    random_state_dict,
    write_checkpoint,
)
from kimi_engine.weights import WeightsError, expected_tensors, load_weights
from safetensors.torch import load_file, save_file


def test_parses_all_three_model_types(tmp_path, tiny_state) -> None:
    for mt in ("deepseek_v3", "kimi_k2", "kimi_k25"):
        cfg = load_config(write_checkpoint(tmp_path / mt, tiny_state, tiny_config(), model_type=mt))
        assert cfg.model_type == mt and cfg.num_hidden_layers == 3
        assert cfg.rms_norm_eps == 1e-5 and cfg.rope.kind == "yarn" and cfg.rope.factor == 32.0
        assert cfg.routed_scaling_factor == 2.827 and cfg.eos_token_ids == (1,)
        assert cfg.tensor_prefix == ("language_model." if mt == "kimi_k25" else "")


def test_transformers5_rope_parameters_form() -> None:
    text = tiny_config(rope_scaling=None, rope_theta=None,
                       rope_parameters={"rope_type": "yarn", "rope_theta": 1e4, "factor": 4.0,
                                        "original_max_position_embeddings": 512})
    cfg = parse_config({**text, "model_type": "deepseek_v3"})
    assert cfg.rope.theta == 1e4 and cfg.rope.factor == 4.0 and cfg.rope.beta_fast == 32


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model_type": "llama"}, "model_type"),
        ({"scoring_func": "softmax"}, "scoring_func"),
        ({"topk_method": "greedy"}, "topk_method"),
        ({"hidden_act": "gelu"}, "hidden_act"),
        ({"num_key_value_heads": 2}, "num_key_value_heads"),
        ({"n_group": 3}, "n_group"),
        ({"rms_norm_eps": None}, "rms_norm_eps"),
        ({"rope_scaling": {"type": "dynamic", "factor": 2.0}}, "rope_scaling.type"),
        ({"hidden_size": "64"}, "hidden_size"),
    ],
)
def test_unsupported_settings_name_the_field(change, field) -> None:
    data = {**tiny_config(), "model_type": "kimi_k2", **change}
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_config(data)


def test_unsupported_quantization_names_the_field() -> None:
    quant = json.loads(json.dumps(INT4_QUANTIZATION_CONFIG))
    quant["config_groups"]["group_0"]["weights"]["group_size"] = 128
    with pytest.raises(ConfigError, match="group_size"):
        parse_config({**tiny_config(), "model_type": "kimi_k2", "quantization_config": quant})
    with pytest.raises(ConfigError, match="format"):
        parse_config({**tiny_config(), "model_type": "kimi_k2",
                      "quantization_config": {**INT4_QUANTIZATION_CONFIG, "format": "float-quantized"}})


def _rewrite_shard(path, edit) -> None:
    index = json.loads((path / "model.safetensors.index.json").read_text())
    file = path / sorted(set(index["weight_map"].values()))[0]
    tensors = load_file(file)
    edit(tensors)
    save_file(tensors, str(file))
    index["weight_map"] = {k: v for k, v in index["weight_map"].items() if k in tensors or v != file.name}
    index["weight_map"].update(dict.fromkeys(tensors, file.name))
    (path / "model.safetensors.index.json").write_text(json.dumps(index))


def test_missing_extra_misshaped_listed_together(tmp_path, tiny_state) -> None:
    path = write_checkpoint(tmp_path / "c", tiny_state, tiny_config(), n_shards=1)

    def edit(t: dict[str, torch.Tensor]) -> None:
        del t["model.layers.0.self_attn.o_proj.weight"]
        del t["model.layers.2.mlp.experts.5.up_proj.weight"]
        t["model.layers.0.self_attn.bogus.weight"] = torch.zeros(2)
        t["model.norm.weight"] = torch.ones(63)

    _rewrite_shard(path, edit)
    with pytest.raises(WeightsError) as err:
        load_model(path)
    msg = str(err.value)
    assert "2 missing" in msg and "model.layers.0.self_attn.o_proj.weight" in msg
    assert "model.layers.2.mlp.experts.5.up_proj.weight" in msg
    assert "1 unexpected" in msg and "bogus" in msg
    assert "model.norm.weight: checkpoint [63], model expects [64]" in msg


def test_wrong_dtype_and_missing_shard_file(tmp_path, tiny_state) -> None:
    path = write_checkpoint(tmp_path / "c", tiny_state, tiny_config(), n_shards=1)
    _rewrite_shard(path, lambda t: t.update({"model.norm.weight": torch.ones(64, dtype=torch.int32)}))
    with pytest.raises(WeightsError, match=r"model.norm.weight: I32, expected bf16/fp16/fp32"):
        load_model(path)
    index = json.loads((path / "model.safetensors.index.json").read_text())
    index["weight_map"]["lm_head.weight"] = "model-00009-of-00009.safetensors"
    (path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(WeightsError, match="model-00009-of-00009.safetensors"):
        load_model(path)


def test_int4_weight_shape_is_verified(tmp_path) -> None:
    text = tiny_config()
    packed, _ = quantize_experts(random_state_dict(text, seed=2))
    packed["model.layers.1.mlp.experts.0.down_proj.weight_shape"] = torch.tensor([64, 24], dtype=torch.int32)
    with pytest.raises(WeightsError, match=r"experts.0.down_proj.weight_shape = \[64, 24\], model expects \[64, 32\]"):
        load_model(write_checkpoint(tmp_path / "c", packed, text, int4=True))


def test_int4_checkpoint_without_quant_config_is_explained(tmp_path) -> None:
    text = tiny_config()
    packed, _ = quantize_experts(random_state_dict(text, seed=2))
    path = write_checkpoint(tmp_path / "c", packed, text, int4=False)
    with pytest.raises(WeightsError, match="no quantization_config"):
        load_model(path)


def test_rank_slicer_reads_only_its_part(tmp_path, tiny_state) -> None:
    """The tensor-parallel hook: a model built with half the vocab rows gets exactly rows [0, V/2)."""
    text = tiny_config()
    path = write_checkpoint(tmp_path / "c", tiny_state, text)
    cfg = load_config(path)
    half = text["vocab_size"] // 2
    model = build_meta_model(cfg, torch.float32)
    model.model.embed_tokens.weight = torch.nn.Parameter(torch.empty(half, 64, device="meta"))
    model.lm_head.weight = torch.nn.Parameter(torch.empty(half, 64, device="meta"))
    model.to_empty(device="cpu")
    calls = []

    def slicer(name: str, shape: tuple[int, ...]):
        calls.append(name)
        return (slice(0, half),) if name in ("model.embed_tokens.weight", "lm_head.weight") else None

    load_weights(model, path, cfg, slicer=slicer)
    assert torch.equal(model.model.embed_tokens.weight, tiny_state["model.embed_tokens.weight"][:half])
    assert torch.equal(model.lm_head.weight, tiny_state["lm_head.weight"][:half])
    assert "model.layers.1.mlp.experts.0.gate_proj.weight" in calls
    assert len(expected_tensors(model, cfg)) == len(tiny_state)


def test_tied_embeddings_and_mtp_layers_are_handled(tmp_path) -> None:
    text = tiny_config(tie_word_embeddings=True, num_nextn_predict_layers=1)
    state = random_state_dict(text, seed=8)
    mtp = {"model.layers.3.eh_proj.weight": torch.zeros(64, 128)}
    model = load_model(write_checkpoint(tmp_path / "c", state, text, extra_tensors=mtp))
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def test_loader_holds_one_shard_open_at_a_time(tmp_path, tiny_state, monkeypatch) -> None:
    """Structural proof of streaming: data is read with at most one shard mapped, tensor by tensor."""
    import kimi_engine.weights as weights

    path = write_checkpoint(tmp_path / "c", tiny_state, tiny_config(), n_shards=4, dtype=torch.float16)
    real_open = weights.safe_open
    state = {"open": 0, "max_open": 0, "opened": []}

    class Tracking:
        def __init__(self, file, **kw) -> None:
            self.inner = real_open(file, **kw)
            state["opened"].append(str(file))

        def __enter__(self):
            state["open"] += 1
            state["max_open"] = max(state["max_open"], state["open"])
            return self.inner.__enter__()

        def __exit__(self, *exc):
            state["open"] -= 1
            return self.inner.__exit__(*exc)

    monkeypatch.setattr(weights, "safe_open", Tracking)
    model = load_model(path, dtype=torch.float32)
    assert state["max_open"] == 1
    assert len(set(state["opened"])) == 4  # every shard, each opened for headers then for data
    assert model.model.norm.weight.dtype == torch.float32
    assert torch.equal(model.model.norm.weight, tiny_state["model.norm.weight"].half().float())
