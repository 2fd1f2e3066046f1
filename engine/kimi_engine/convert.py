"""`kimi-engine convert --int4 SRC DST`: quantise the routed experts of a 16-bit checkpoint into
compressed-tensors pack-quantized INT4 (group 32, symmetric, bf16 scales), everything else copied.

Works shard by shard (one source shard in memory at a time), keeps shard names, rewrites the index
and adds `quantization_config` to config.json. Tokenizer and other side files are copied.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from kimi_engine.config import load_config
from kimi_engine.quant import quantize_int4
from kimi_engine.synthetic import INT4_QUANTIZATION_CONFIG
from kimi_engine.weights import shard_map

_EXPERT = re.compile(r"model\.layers\.(\d+)\.mlp\.experts\.\d+\.(gate|up|down)_proj\.weight$")


class ConvertError(ValueError):
    """The source cannot be converted (already quantised, destination exists, ...)."""


def convert_int4(src: str | Path, dst: str | Path, progress: Callable[[str], None] | None = None) -> int:
    """Write the INT4 version of `src` into the new directory `dst`; returns experts quantised."""
    src, dst = Path(src), Path(dst)
    cfg = load_config(src)
    if cfg.int4 is not None:
        raise ConvertError(f"{src} is already INT4 (config.json has a quantization_config)")
    if dst.exists() and any(dst.iterdir()):
        raise ConvertError(f"destination {dst} exists and is not empty")
    dst.mkdir(parents=True, exist_ok=True)
    files = shard_map(src)
    weight_map: dict[str, str] = {}
    total, converted = 0, 0
    for shard in sorted(set(files.values())):
        out: dict[str, torch.Tensor] = {}
        with safe_open(shard, framework="pt") as f:
            for name in f.keys():
                tensor = f.get_tensor(name)
                m = _EXPERT.search(name)
                if m and cfg.is_moe_layer(int(m.group(1))) and name.startswith(cfg.tensor_prefix):
                    base = name[: -len(".weight")]
                    packed, scale = quantize_int4(tensor, scale_dtype=torch.bfloat16)
                    out[base + ".weight_packed"] = packed
                    out[base + ".weight_scale"] = scale
                    out[base + ".weight_shape"] = torch.tensor(list(tensor.shape), dtype=torch.int64)
                    converted += 1
                else:
                    out[name] = tensor
        save_file(out, str(dst / shard.name), metadata={"format": "pt"})
        total += sum(t.numel() * t.element_size() for t in out.values())
        weight_map.update(dict.fromkeys(out, shard.name))
        if progress:
            progress(f"{shard.name}: {len(out)} tensors")
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (dst / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    config = json.loads((src / "config.json").read_text())
    config["quantization_config"] = INT4_QUANTIZATION_CONFIG
    (dst / "config.json").write_text(json.dumps(config, indent=2))
    for side in src.iterdir():
        if side.is_file() and side.suffix != ".safetensors" and side.name not in (
            "config.json", "model.safetensors.index.json"
        ):
            shutil.copy2(side, dst / side.name)
    return converted
