"""Random checkpoints in the real Hugging Face on-disk format, for tests, benchmarks and demos.

Writes config.json (deepseek_v3 / kimi_k2 flat, or kimi_k25 with `text_config` and the
`language_model.` tensor prefix), several safetensors shards plus model.safetensors.index.json,
and optionally the routed experts as compressed-tensors pack-quantized INT4.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from kimi_engine.quant import dequantize_int4, quantize_int4

TINY_TEXT_CONFIG: dict[str, Any] = {
    "vocab_size": 320,
    "hidden_size": 64,
    "intermediate_size": 96,
    "moe_intermediate_size": 32,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "q_lora_rank": 48,
    "kv_lora_rank": 32,
    "qk_nope_head_dim": 16,
    "qk_rope_head_dim": 8,
    "v_head_dim": 16,
    "n_routed_experts": 8,
    "n_shared_experts": 1,
    "num_experts_per_tok": 3,
    "n_group": 1,
    "topk_group": 1,
    "routed_scaling_factor": 2.827,
    "norm_topk_prob": True,
    "first_k_dense_replace": 1,
    "moe_layer_freq": 1,
    "hidden_act": "silu",
    "scoring_func": "sigmoid",
    "topk_method": "noaux_tc",
    "rms_norm_eps": 1e-5,
    "rope_theta": 50000.0,
    "rope_scaling": {
        "type": "yarn",
        "factor": 32.0,
        "original_max_position_embeddings": 64,
        "beta_fast": 1.0,
        "beta_slow": 1.0,
        "mscale": 1.0,
        "mscale_all_dim": 1.0,
    },
    "max_position_embeddings": 2048,
    "tie_word_embeddings": False,
    "bos_token_id": 0,
    "eos_token_id": 1,
    "num_nextn_predict_layers": 0,
    "attention_bias": False,
    "torch_dtype": "float32",
}

# The real Kimi K2.6 text model (DESIGN.md section 9), for memory plans; no weights involved.
KIMI_K26_TEXT_CONFIG: dict[str, Any] = {
    "model_type": "kimi_k2", "vocab_size": 163840, "hidden_size": 7168, "intermediate_size": 18432,
    "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_attention_heads": 64,
    "num_key_value_heads": 64, "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64, "v_head_dim": 128, "n_routed_experts": 384, "n_shared_experts": 1,
    "num_experts_per_tok": 8, "n_group": 1, "topk_group": 1, "routed_scaling_factor": 2.827,
    "first_k_dense_replace": 1, "rms_norm_eps": 1e-5, "rope_theta": 50000.0,
    "rope_scaling": {"type": "yarn", "factor": 64.0, "original_max_position_embeddings": 4096,
                     "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0},
    "max_position_embeddings": 262144, "eos_token_id": 163585,
}


INT4_QUANTIZATION_CONFIG: dict[str, Any] = {
    "quant_method": "compressed-tensors",
    "format": "pack-quantized",
    "quantization_status": "compressed",
    "config_groups": {
        "group_0": {
            "targets": ["Linear"],
            "input_activations": None,
            "output_activations": None,
            "weights": {
                "num_bits": 4,
                "type": "int",
                "symmetric": True,
                "strategy": "group",
                "group_size": 32,
                "dynamic": False,
                "actorder": None,
                "observer": "minmax",
                "observer_kwargs": {},
                "block_structure": None,
            },
        }
    },
    "ignore": ["lm_head", "re:.*self_attn.*", "re:.*shared_experts.*", "re:.*mlp\\.(gate|up|down)_proj.*"],
    "kv_cache_scheme": None,
}


def random_state_dict(text: dict[str, Any], seed: int = 0, std: float = 0.15) -> dict[str, torch.Tensor]:
    """fp32 tensors for every text-model tensor, in checkpoint naming (per-expert, no prefix)."""
    g = torch.Generator().manual_seed(seed)
    return dict(_random_tensors(text, g, std))


def _random_tensors(t: dict[str, Any], g: torch.Generator, std: float) -> Iterator[tuple[str, torch.Tensor]]:
    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * std

    def norm(dim: int) -> torch.Tensor:
        return 1.0 + 0.1 * torch.randn(dim, generator=g)

    h, heads = t["hidden_size"], t["num_attention_heads"]
    qk = t["qk_nope_head_dim"] + t["qk_rope_head_dim"]
    yield "model.embed_tokens.weight", rnd(t["vocab_size"], h) * 5
    for i in range(t["num_hidden_layers"]):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", norm(h)
        yield p + "post_attention_layernorm.weight", norm(h)
        if t.get("q_lora_rank"):
            yield p + "self_attn.q_a_proj.weight", rnd(t["q_lora_rank"], h)
            yield p + "self_attn.q_a_layernorm.weight", norm(t["q_lora_rank"])
            yield p + "self_attn.q_b_proj.weight", rnd(heads * qk, t["q_lora_rank"])
        else:
            yield p + "self_attn.q_proj.weight", rnd(heads * qk, h)
        yield p + "self_attn.kv_a_proj_with_mqa.weight", rnd(t["kv_lora_rank"] + t["qk_rope_head_dim"], h)
        yield p + "self_attn.kv_a_layernorm.weight", norm(t["kv_lora_rank"])
        yield p + "self_attn.kv_b_proj.weight", rnd(heads * (t["qk_nope_head_dim"] + t["v_head_dim"]), t["kv_lora_rank"])
        yield p + "self_attn.o_proj.weight", rnd(h, heads * t["v_head_dim"])
        if i < t["first_k_dense_replace"]:
            yield from _mlp(p + "mlp.", h, t["intermediate_size"], rnd)
            continue
        e, inter = t["n_routed_experts"], t["moe_intermediate_size"]
        yield p + "mlp.gate.weight", rnd(e, h)
        yield p + "mlp.gate.e_score_correction_bias", torch.rand(e, generator=g) * 0.2
        for j in range(e):
            yield from _mlp(f"{p}mlp.experts.{j}.", h, inter, rnd)
        if t.get("n_shared_experts"):
            yield from _mlp(p + "mlp.shared_experts.", h, inter * t["n_shared_experts"], rnd)
    yield "model.norm.weight", norm(h)
    if not t.get("tie_word_embeddings"):
        yield "lm_head.weight", rnd(t["vocab_size"], h)


def _mlp(prefix: str, h: int, inter: int, rnd: Any) -> Iterator[tuple[str, torch.Tensor]]:
    yield prefix + "gate_proj.weight", rnd(inter, h)
    yield prefix + "up_proj.weight", rnd(inter, h)
    yield prefix + "down_proj.weight", rnd(h, inter)


def is_routed_expert(name: str) -> bool:
    return ".mlp.experts." in name and name.endswith("_proj.weight")


def quantize_experts(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Replace routed-expert weights by pack-quantized triples.

    Returns (checkpoint tensors, the dense fp32 equivalent: the same dict with experts dequantised)."""
    packed: dict[str, torch.Tensor] = {}
    dense: dict[str, torch.Tensor] = {}
    for name, w in state.items():
        if not is_routed_expert(name):
            packed[name] = dense[name] = w
            continue
        base = name[: -len(".weight")]
        words, scale = quantize_int4(w, scale_dtype=torch.bfloat16)  # real K2 checkpoints: bf16 scales
        packed[base + ".weight_packed"] = words
        packed[base + ".weight_scale"] = scale
        packed[base + ".weight_shape"] = torch.tensor(list(w.shape), dtype=torch.int32)
        dense[name] = dequantize_int4(words, scale, tuple(w.shape), torch.float32)
    return packed, dense


def write_checkpoint(
    path: str | Path,
    tensors: dict[str, torch.Tensor],
    text_config: dict[str, Any],
    model_type: str = "kimi_k2",
    n_shards: int = 3,
    dtype: torch.dtype | None = None,
    int4: bool = False,
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write config.json, `n_shards` safetensors shards and the index. Floating non-packed tensors
    are cast to `dtype` when given. kimi_k25 nests the config and prefixes `language_model.`."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    text = {**text_config, "model_type": "deepseek_v3" if model_type == "deepseek_v3" else "kimi_k2"}
    if dtype is not None:
        text["torch_dtype"] = str(dtype).removeprefix("torch.")
    if model_type == "kimi_k25":
        config: dict[str, Any] = {"model_type": "kimi_k25", "architectures": ["KimiK25ForConditionalGeneration"],
                                  "text_config": text, "vision_config": {"hidden_size": 16}}
        prefix = "language_model."
    else:
        config = {**text, "model_type": model_type, "architectures": ["DeepseekV3ForCausalLM"]}
        prefix = ""
    if int4:
        config["quantization_config"] = INT4_QUANTIZATION_CONFIG
    (root / "config.json").write_text(json.dumps(config, indent=2))
    named = {prefix + k: _cast(k, v, dtype) for k, v in tensors.items()}
    named.update(extra_tensors or {})
    write_shards(root, named, n_shards)
    return root


def _cast(name: str, t: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """Cast floating weights to the checkpoint dtype; INT4 scales keep their own dtype."""
    if dtype is None or not t.is_floating_point() or name.endswith("weight_scale"):
        return t
    return t.to(dtype)


def write_shards(root: Path, tensors: dict[str, torch.Tensor], n_shards: int) -> None:
    """Split tensors into `n_shards` files of similar byte size plus model.safetensors.index.json."""
    names = list(tensors)
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    budget = total / n_shards
    shards: list[list[str]] = [[]]
    size = 0
    for name in names:
        nbytes = tensors[name].numel() * tensors[name].element_size()
        if size + nbytes > budget and shards[-1] and len(shards) < n_shards:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    weight_map = {}
    for k, shard in enumerate(shards):
        file = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({n: tensors[n].contiguous() for n in shard}, str(root / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, file))
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (root / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))


# Kimi K2's named special tokens as offsets from the first special id (163584 in the real vocab).
KIMI_SPECIAL_OFFSETS: dict[str, int] = {
    "[BOS]": 0, "[EOS]": 1, "<|im_end|>": 2, "<|im_user|>": 3, "<|im_assistant|>": 4,
    "<|start_header_id|>": 6, "<|end_header_id|>": 7, "[EOT]": 9, "<|im_system|>": 10,
    "<|tool_calls_section_begin|>": 11, "<|tool_calls_section_end|>": 12, "<|tool_call_begin|>": 13,
    "<|tool_call_argument_begin|>": 14, "<|tool_call_end|>": 15, "<|im_middle|>": 17,
    "<think>": 22, "</think>": 23, "[UNK]": 254, "[PAD]": 255,
}
REAL_SPECIAL_BASE = 163584

_CORPUS = (
    "the quick brown fox jumps over the lazy dog. hello world! functions get_weather city "
    "Beijing Paris {\"city\": \"Paris\", \"unit\": \"celsius\"} def main(): return 42 "
    "I think the answer is yes. The weather in Paris is sunny and warm today."
)


def train_bpe(corpus: str = _CORPUS, merges: int = 80) -> dict[bytes, int]:
    """A tiny byte-level BPE (all 256 bytes + `merges` learned pairs) in tiktoken's rank form."""
    ranks = {bytes([i]): i for i in range(256)}
    words = [[bytes([b]) for b in w.encode()] for w in corpus.replace(" ", " \x00").split("\x00") if w]
    for _ in range(merges):
        pairs: dict[tuple[bytes, bytes], int] = {}
        for w in words:
            for a, b in zip(w, w[1:], strict=False):
                pairs[(a, b)] = pairs.get((a, b), 0) + 1
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], p))
        ranks.setdefault(best[0] + best[1], len(ranks))
        words = [_merge(w, best) for w in words]
    return ranks


def _merge(word: list[bytes], pair: tuple[bytes, bytes]) -> list[bytes]:
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def write_tokenizer(path: str | Path, special_base: int | None = None, ranks: dict[bytes, int] | None = None) -> dict[str, int]:
    """Write tiktoken.model and tokenizer_config.json; specials start at `special_base` (default:
    right after the BPE ranks; pass REAL_SPECIAL_BASE for the real ids). Returns the special ids."""
    import base64

    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    ranks = ranks or train_bpe()
    base = len(ranks) if special_base is None else special_base
    lines = [f"{base64.b64encode(tok).decode()} {rank}" for tok, rank in sorted(ranks.items(), key=lambda x: x[1])]
    (root / "tiktoken.model").write_text("\n".join(lines) + "\n")
    specials = {name: base + off for name, off in KIMI_SPECIAL_OFFSETS.items()}
    config = {
        "tokenizer_class": "TikTokenTokenizer",
        "bos_token": "[BOS]",
        "eos_token": "[EOS]",
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
        "added_tokens_decoder": {
            str(i): {"content": name, "special": True, "lstrip": False, "rstrip": False, "normalized": False}
            for name, i in specials.items()
        },
    }
    (root / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return specials


def write_random_checkpoint_streaming(path: str | Path, text_config: dict[str, Any], shard_bytes: int,
                                      dtype: torch.dtype = torch.bfloat16, seed: int = 0) -> list[Path]:
    """Write a large random flat checkpoint shard by shard without ever holding all of it in
    memory (for load benchmarks); returns the shard paths."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({**text_config, "model_type": "kimi_k2",
                                                  "torch_dtype": str(dtype).removeprefix("torch.")}))
    g = torch.Generator().manual_seed(seed)
    files: list[Path] = []
    weight_map: dict[str, str] = {}
    current: dict[str, torch.Tensor] = {}
    size = total = 0

    def flush() -> None:
        nonlocal current, size
        file = root / f"model-{len(files) + 1:05d}.safetensors"
        save_file(current, str(file), metadata={"format": "pt"})
        files.append(file)
        weight_map.update(dict.fromkeys(current, file.name))
        current, size = {}, 0

    for name, tensor in _random_tensors(text_config, g, 0.05):
        t = tensor.to(dtype)
        nbytes = t.numel() * t.element_size()
        if current and size + nbytes > shard_bytes:
            flush()
        current[name] = t
        size += nbytes
        total += nbytes
    if current:
        flush()
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (root / "model.safetensors.index.json").write_text(json.dumps(index))
    return files
