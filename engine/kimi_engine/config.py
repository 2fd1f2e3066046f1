"""Model configuration: Hugging Face `config.json` for deepseek_v3 / kimi_k2 / kimi_k25.

kimi_k25 (the K2.5/K2.6 multimodal release) nests the text model under `text_config` and prefixes
every text tensor with `language_model.`; the vision tower is ignored by this engine.

Nothing numeric is hard-coded: eps, rope/yarn settings, router settings and eos ids are read from
the file, and settings this engine does not implement are rejected with a message naming the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUPPORTED_MODEL_TYPES = ("deepseek_v3", "kimi_k2", "kimi_k25")
_NESTED_MODEL_TYPES = ("kimi_k25",)


class ConfigError(ValueError):
    """config.json is missing, malformed, or asks for something this engine does not implement."""


@dataclass(frozen=True)
class RopeConfig:
    """Rotary settings. `kind` is "default" or "yarn"; yarn fields follow DeepSeek-V3's names."""

    theta: float
    kind: str = "default"
    factor: float = 1.0
    original_max_position_embeddings: int = 4096
    beta_fast: float = 32.0
    beta_slow: float = 1.0
    mscale: float = 1.0
    mscale_all_dim: float = 0.0
    attention_factor: float | None = None  # explicit cos/sin multiplier, overrides mscale ratio


@dataclass(frozen=True)
class Int4Config:
    """compressed-tensors pack-quantized settings for the routed experts."""

    group_size: int = 32
    num_bits: int = 4
    symmetric: bool = True


@dataclass(frozen=True)
class ModelConfig:
    """The text model's hyper-parameters (field names follow DeepSeek-V3's config.json)."""

    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    moe_intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    q_lora_rank: int | None
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    n_routed_experts: int
    n_shared_experts: int
    num_experts_per_tok: int
    n_group: int
    topk_group: int
    routed_scaling_factor: float
    norm_topk_prob: bool
    first_k_dense_replace: int
    rms_norm_eps: float
    rope: RopeConfig
    max_position_embeddings: int
    rope_interleave: bool = True
    tie_word_embeddings: bool = False
    bos_token_id: int | None = None
    eos_token_ids: tuple[int, ...] = ()
    num_nextn_predict_layers: int = 0
    torch_dtype: str = "bfloat16"
    int4: Int4Config | None = None
    tensor_prefix: str = ""  # "language_model." for kimi_k25
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def qk_head_dim(self) -> int:
        """Per-head query/key width: the no-rope part plus the rope part."""
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    def is_moe_layer(self, layer: int) -> bool:
        """Whether decoder layer `layer` has routed experts (the first k layers stay dense)."""
        return layer >= self.first_k_dense_replace and self.n_routed_experts > 0

    @property
    def softmax_scale(self) -> float:
        """1/sqrt(qk_head_dim), times yarn's mscale(factor, mscale_all_dim)^2 when yarn is on."""
        scale = self.qk_head_dim**-0.5
        if self.rope.kind == "yarn" and self.rope.mscale_all_dim:
            m = yarn_mscale(self.rope.factor, self.rope.mscale_all_dim)
            scale *= m * m
        return scale


def yarn_mscale(factor: float, mscale: float = 1.0) -> float:
    """YaRN's attention temperature term 0.1 * mscale * ln(factor) + 1 (1 when not scaling)."""
    return 1.0 if factor <= 1 else 0.1 * mscale * math.log(factor) + 1.0


def load_config(path: str | Path) -> ModelConfig:
    """Read `<path>/config.json` (or a config.json path) into a validated ModelConfig."""
    p = Path(path)
    file = p / "config.json" if p.is_dir() else p
    if not file.is_file():
        raise ConfigError(f"no config.json at {file}")
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{file} is not valid JSON: {e}") from e
    return parse_config(data)


def parse_config(data: dict[str, Any]) -> ModelConfig:
    """Validate a config.json dict (top level as on disk) and build a ModelConfig."""
    if not isinstance(data, dict):
        raise ConfigError(f"config.json must hold a JSON object, got {type(data).__name__}")
    try:
        return _parse_config(data)
    except ConfigError:
        raise
    except (TypeError, ValueError, AttributeError) as e:  # a field of the wrong shape we did not name
        raise ConfigError(f"config.json has a field of the wrong type ({e}); compare it with the model's "
                          "original config.json") from None


def _parse_config(data: dict[str, Any]) -> ModelConfig:
    model_type = data.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ConfigError(
            f"model_type={model_type!r} is not supported; expected one of {SUPPORTED_MODEL_TYPES}"
        )
    prefix = ""
    text = data
    if model_type in _NESTED_MODEL_TYPES:
        text = data.get("text_config")
        if not isinstance(text, dict):
            raise ConfigError(f"model_type={model_type!r} needs a text_config object")
        prefix = "language_model."
    quant = data.get("quantization_config") or text.get("quantization_config")
    _check_supported(text)
    return ModelConfig(
        model_type=model_type,
        vocab_size=_int(text, "vocab_size"),
        hidden_size=_int(text, "hidden_size"),
        intermediate_size=_int(text, "intermediate_size"),
        moe_intermediate_size=_int(text, "moe_intermediate_size"),
        num_hidden_layers=_int(text, "num_hidden_layers"),
        num_attention_heads=_int(text, "num_attention_heads"),
        q_lora_rank=_opt_int(text, "q_lora_rank", None),
        kv_lora_rank=_int(text, "kv_lora_rank"),
        qk_nope_head_dim=_int(text, "qk_nope_head_dim"),
        qk_rope_head_dim=_int(text, "qk_rope_head_dim"),
        v_head_dim=_int(text, "v_head_dim"),
        n_routed_experts=_int(text, "n_routed_experts"),
        n_shared_experts=_opt_int(text, "n_shared_experts", 0),
        num_experts_per_tok=_int(text, "num_experts_per_tok"),
        n_group=_opt_int(text, "n_group", 1),
        topk_group=_opt_int(text, "topk_group", 1),
        routed_scaling_factor=_float(text, "routed_scaling_factor", 1.0),
        norm_topk_prob=bool(text.get("norm_topk_prob", True)),
        first_k_dense_replace=_opt_int(text, "first_k_dense_replace", 0),
        rms_norm_eps=_float(text, "rms_norm_eps"),
        rope=_parse_rope(text),
        max_position_embeddings=_int(text, "max_position_embeddings"),
        rope_interleave=bool(text.get("rope_interleave", True)),
        tie_word_embeddings=bool(text.get("tie_word_embeddings", False)),
        bos_token_id=text.get("bos_token_id", data.get("bos_token_id")),
        eos_token_ids=_eos_ids(text.get("eos_token_id", data.get("eos_token_id"))),
        num_nextn_predict_layers=_opt_int(text, "num_nextn_predict_layers", 0),
        torch_dtype=str(text.get("torch_dtype") or text.get("dtype") or "bfloat16"),
        int4=_parse_quant(quant) if quant else None,
        tensor_prefix=prefix,
        raw=data,
    )


def _req(d: dict[str, Any], key: str) -> Any:
    if d.get(key) is None:
        raise ConfigError(f"config.json is missing required field {key!r}")
    return d[key]


def _int(d: dict[str, Any], key: str) -> int:
    value = _req(d, key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"config field {key!r} must be a non-negative integer, got {value!r}")
    return value


def _opt_int(d: dict[str, Any], key: str, default: int | None) -> int | None:
    if d.get(key) is None:
        return default
    return _int(d, key)


def _float(d: dict[str, Any], key: str, default: float | None = None) -> float:
    value = _req(d, key) if default is None else d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"config field {key!r} must be a number, got {value!r}")
    return float(value)


def _eos_ids(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    ids = value if isinstance(value, list) else [value]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in ids):
        raise ConfigError(f"config field 'eos_token_id' must be an integer or a list of integers, got {value!r}")
    return tuple(ids)


def _check_supported(t: dict[str, Any]) -> None:
    """Reject settings whose semantics this engine does not implement, naming the field."""
    checks = [
        ("hidden_act", t.get("hidden_act", "silu"), ("silu",)),
        ("scoring_func", t.get("scoring_func", "sigmoid"), ("sigmoid",)),
        ("topk_method", t.get("topk_method", "noaux_tc"), ("noaux_tc",)),
        ("moe_layer_freq", t.get("moe_layer_freq", 1), (1,)),
        ("attention_bias", t.get("attention_bias", False), (False,)),
    ]
    for name, value, allowed in checks:
        if value not in allowed:
            raise ConfigError(f"config field {name!r}={value!r} is not supported (supported: {allowed})")
    heads, kv_heads = t.get("num_attention_heads"), t.get("num_key_value_heads")
    if kv_heads is not None and kv_heads != heads:
        raise ConfigError(
            f"config field 'num_key_value_heads'={kv_heads} must equal num_attention_heads={heads} (MLA)"
        )
    experts, groups = t.get("n_routed_experts") or 0, t.get("n_group") or 1
    if experts and experts % groups:
        raise ConfigError(f"config field 'n_group'={groups} must divide n_routed_experts={experts}")
    if experts and groups > 1 and experts // groups < 2:
        raise ConfigError(f"config field 'n_group'={groups} leaves fewer than 2 experts per group")
    if (t.get("topk_group") or 1) > groups:
        raise ConfigError(f"config field 'topk_group'={t.get('topk_group')} exceeds n_group={groups}")
    if experts and (t.get("num_experts_per_tok") or 0) > experts:
        raise ConfigError("config field 'num_experts_per_tok' exceeds n_routed_experts")


def _parse_rope(t: dict[str, Any]) -> RopeConfig:
    """Accept both the classic `rope_theta` + `rope_scaling` and transformers 5 `rope_parameters`."""
    params = dict(t.get("rope_parameters") or {})
    scaling = dict(t.get("rope_scaling") or {})
    merged = {**scaling, **params}
    theta = merged.get("rope_theta", t.get("rope_theta"))
    if theta is None:
        raise ConfigError("config.json is missing required field 'rope_theta'")
    kind = merged.get("rope_type", merged.get("type", "default")) or "default"
    if kind == "default":
        return RopeConfig(theta=float(theta))
    if kind != "yarn":
        raise ConfigError(f"config field 'rope_scaling.type'={kind!r} is not supported (default, yarn)")
    original = merged.get("original_max_position_embeddings")
    if original is None:
        raise ConfigError("config field 'rope_scaling.original_max_position_embeddings' is required for yarn")
    factor = merged.get("factor")
    if factor is None:  # transformers' rule: derive from the context extension
        factor = _req(t, "max_position_embeddings") / original
    return RopeConfig(
        theta=float(theta),
        kind="yarn",
        factor=float(factor),
        original_max_position_embeddings=int(original),
        beta_fast=float(merged.get("beta_fast") or 32),
        beta_slow=float(merged.get("beta_slow") or 1),
        mscale=float(merged.get("mscale") or 1),
        mscale_all_dim=float(merged.get("mscale_all_dim") or 0),
        attention_factor=merged.get("attention_factor"),
    )


def _parse_quant(q: dict[str, Any]) -> Int4Config:
    """Accept only compressed-tensors pack-quantized, int4 symmetric group quantisation."""
    if q.get("quant_method") != "compressed-tensors":
        raise ConfigError(
            f"quantization_config.quant_method={q.get('quant_method')!r} is not supported "
            "(only 'compressed-tensors')"
        )
    if q.get("format") != "pack-quantized":
        raise ConfigError(f"quantization_config.format={q.get('format')!r} is not supported (pack-quantized)")
    groups = q.get("config_groups") or {}
    if len(groups) != 1:
        raise ConfigError(f"quantization_config.config_groups must hold exactly one group, got {len(groups)}")
    weights = next(iter(groups.values())).get("weights") or {}
    expected = {"num_bits": 4, "type": "int", "symmetric": True, "strategy": "group", "group_size": 32}
    for key, want in expected.items():
        if weights.get(key) != want:
            raise ConfigError(
                f"quantization_config.config_groups.*.weights.{key}={weights.get(key)!r} is not "
                f"supported (need {want!r})"
            )
    if weights.get("dynamic"):
        raise ConfigError("quantization_config.config_groups.*.weights.dynamic=true is not supported")
    return Int4Config(group_size=32, num_bits=4, symmetric=True)
