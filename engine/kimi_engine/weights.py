"""Safetensors loading: every checkpoint tensor straight into its preallocated destination.

Shards are opened one at a time with safetensors' mmap-backed `safe_open`; a tensor is read,
copied (with dtype/device conversion) into its slot of the already-allocated model and dropped,
so the host never holds more than one shard's mapping plus one tensor beyond the model itself.

Before any data is read, every header is checked against the model: missing, unexpected,
mis-shaped and wrongly-typed tensors are all reported together in one WeightsError.

Tensor parallel hook: `slicer(name, full_shape)` may return the index (a tuple of slices) of the
part of a tensor this rank holds; only that part is read (safetensors `get_slice`) and it must
match the shape of the rank's destination. INT4 `weight_packed`/`weight_scale` are sliced like any
tensor (the slicer keeps to group boundaries); their `weight_shape` [N, K] holds the full logical
shape, so it is checked after applying the slicer to the logical `weight` name.
Expert parallel: a layer's moe.Experts may hold only experts [first, first + count); the other
experts' tensors are header-checked like the rest but never read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from kimi_engine.config import ModelConfig

Slicer = Callable[[str, tuple[int, ...]], "tuple[slice, ...] | None"]

_FLOAT_DTYPES = {"BF16", "F16", "F32"}
_EXPERT_RE = re.compile(r"^model\.layers\.(\d+)\.mlp\.experts\.(\d+)\.(gate_proj|up_proj|down_proj)\.(\w+)$")


class WeightsError(ValueError):
    """The checkpoint's tensors do not match the model the config describes."""


@dataclass
class Target:
    """Where one checkpoint tensor goes: `dest` is the destination view; `shape` what the file must
    hold (after slicing); `check_shape` marks compressed-tensors `weight_shape` (verified, not stored);
    `skip` marks a tensor held by another rank (expert parallel: header checked, never read)."""

    dest: torch.Tensor | None
    shape: tuple[int, ...]
    int_data: bool = False
    check_shape: tuple[int, int] | None = None
    skip: bool = False


@contextmanager
def _open(file: Path) -> Iterator[Any]:
    """safe_open(file) on the CPU; a truncated or corrupt shard becomes a WeightsError naming it."""
    hint = "the file is probably truncated or corrupt (an interrupted download?): download it again"
    try:
        handle = safe_open(file, framework="pt", device="cpu")
    except SafetensorError as e:
        raise WeightsError(f"{file} is not a readable safetensors file ({e}); {hint}") from None
    with handle as f:
        try:
            yield f
        except SafetensorError as e:
            raise WeightsError(f"reading {file} failed ({e}); {hint}") from None


def expected_tensors(model: nn.Module, cfg: ModelConfig) -> dict[str, Target]:
    """Checkpoint name (without the kimi_k25 `language_model.` prefix) -> Target, for every tensor
    the model needs."""
    targets: dict[str, Target] = {}
    for name, tensor in _named_tensors(model):
        if ".mlp.experts." in name or name.startswith("rotary."):
            continue
        targets[name] = Target(tensor, tuple(tensor.shape))
    for i, layer in enumerate(model.model.layers):
        if cfg.is_moe_layer(i):
            targets.update(_expert_targets(i, layer.mlp.experts, cfg))
    return targets


def _named_tensors(model: nn.Module) -> Iterable[tuple[str, torch.Tensor]]:
    yield from model.named_parameters()
    yield from ((n, b) for n, b in model.named_buffers() if not n.endswith("inv_freq"))


def _expert_targets(layer: int, experts: nn.Module, cfg: ModelConfig) -> dict[str, Target]:
    """Per-expert checkpoint tensors -> rows of the stacked expert buffers, in this rank's sizes
    (experts.intermediate is already divided under tensor parallel); experts outside
    [experts.first, experts.first + experts.count) become skip targets (expert parallel)."""
    h, i = experts.hidden, experts.intermediate
    parts = {"gate_proj": (slice(0, i), (i, h)), "up_proj": (slice(i, 2 * i), (i, h)), "down_proj": (slice(None), (h, i))}
    out: dict[str, Target] = {}
    for e in range(cfg.n_routed_experts):
        local = e - experts.first
        mine = 0 <= local < experts.count
        for proj, (rows, (n, k)) in parts.items():
            base = f"model.layers.{layer}.mlp.experts.{e}.{proj}"
            words, scale = (experts.w2, experts.w2_scale) if proj == "down_proj" else (experts.w13, experts.w13_scale)
            if cfg.int4 is None:
                out[f"{base}.weight"] = Target(words[local, rows] if mine else None, (n, k), skip=not mine)
                continue
            g = cfg.int4.group_size
            out[f"{base}.weight_packed"] = Target(words[local, rows] if mine else None, (n, k // 8),
                                                  int_data=True, skip=not mine)
            out[f"{base}.weight_scale"] = Target(scale[local, rows] if mine else None, (n, k // g), skip=not mine)
            out[f"{base}.weight_shape"] = Target(None, (2,), int_data=True, check_shape=(n, k), skip=not mine)
    return out


def shard_map(path: str | Path) -> dict[str, Path]:
    """Tensor name -> shard file, from model.safetensors.index.json or a single model.safetensors."""
    root = Path(path)
    index = root / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text()).get("weight_map")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise WeightsError(f"{index} is not a valid safetensors index ({e}); download it again") from None
        if not isinstance(weight_map, dict):
            raise WeightsError(f"{index} has no 'weight_map' object")
        missing = sorted({f for f in weight_map.values() if not (root / f).is_file()})
        if missing:
            raise WeightsError(f"{index} names shard files that do not exist: {', '.join(missing)}")
        return {name: root / f for name, f in weight_map.items()}
    single = root / "model.safetensors"
    if not single.is_file():
        raise WeightsError(f"{root} has neither model.safetensors.index.json nor model.safetensors")
    with _open(single) as f:
        return {name: single for name in f.keys()}


def _ignorable(name: str, cfg: ModelConfig) -> bool:
    """Tensors that legitimately exist in real checkpoints but are not part of the text model."""
    if cfg.tensor_prefix and not name.startswith(cfg.tensor_prefix):
        return True  # kimi_k25: vision_tower.*, mm_projector.*
    m = re.match(r"^(?:language_model\.)?model\.layers\.(\d+)\.", name)
    if m and cfg.num_nextn_predict_layers and int(m.group(1)) >= cfg.num_hidden_layers:
        return True  # multi-token-prediction layers (DeepSeek-V3), not used for decoding
    return name.endswith("rotary_emb.inv_freq") or (cfg.tie_word_embeddings and name.endswith("lm_head.weight"))


def _sliced_shape(shape: tuple[int, ...], index: tuple[slice, ...]) -> tuple[int, ...]:
    dims = list(shape)
    for d, sl in enumerate(index):
        dims[d] = len(range(*sl.indices(shape[d])))
    return tuple(dims)


def _plan(
    files: dict[str, Path], targets: dict[str, Target], cfg: ModelConfig, slicer: Slicer | None
) -> dict[Path, list[tuple[str, str, tuple[slice, ...] | None]]]:
    """Check every header against the targets; return per shard (file name, key, slice) to load."""
    problems: dict[str, list[str]] = {"unexpected": [], "mis-shaped": [], "wrong dtype": [], "not in shard": []}
    plan: dict[Path, list[tuple[str, str, tuple[slice, ...] | None]]] = {}
    seen: set[str] = set()
    by_file: dict[Path, list[str]] = {}
    for name, file in files.items():
        by_file.setdefault(file, []).append(name)
    for file, names in by_file.items():
        with _open(file) as f:
            present = set(f.keys())
            for name in names:
                if name not in present:
                    problems["not in shard"].append(f"{name} (index says {file.name})")
                    continue
                if _ignorable(name, cfg):
                    continue
                key = name[len(cfg.tensor_prefix) :]
                target = targets.get(key)
                if target is None:
                    problems["unexpected"].append(name)
                    continue
                index = _check_header(f.get_slice(name), name, key, target, slicer, problems)
                seen.add(key)
                if not target.skip:
                    plan.setdefault(file, []).append((name, key, index))
    missing = sorted(k for k in targets if k not in seen)
    hint = ""
    if cfg.int4 is None and any(n.endswith(".weight_packed") for n in problems["unexpected"]):
        hint = "hint: the shards hold INT4 weight_packed tensors but config.json has no quantization_config"
    elif cfg.int4 is not None and any(n.endswith("_proj.weight") and ".experts." in n for n in problems["unexpected"]):
        hint = "hint: config.json declares INT4 experts but the shards hold 16-bit expert weights"
    _raise_if_problems({"missing": [cfg.tensor_prefix + k for k in missing], **problems}, hint=hint)
    return plan


def _check_header(view: Any, name: str, key: str, target: Target, slicer: Slicer | None,
                  problems: dict[str, list[str]]) -> tuple[slice, ...] | None:
    """Compare one tensor's header (shape after this rank's slice, dtype) with its target;
    record problems; return the slice to read (None: the whole tensor)."""
    shape, dtype = tuple(view.get_shape()), view.get_dtype()
    index = slicer(key, shape) if slicer and target.check_shape is None and not target.skip else None
    got = _sliced_shape(shape, index) if index else shape
    if target.check_shape is not None:
        allowed, want = {"I32", "I64"}, "int32/int64"
    elif target.int_data:
        allowed, want = {"I32"}, "int32"
    else:
        allowed, want = _FLOAT_DTYPES, "bf16/fp16/fp32"
    if got != target.shape:
        problems["mis-shaped"].append(f"{name}: checkpoint {list(got)}, model expects {list(target.shape)}")
    elif dtype not in allowed:
        problems["wrong dtype"].append(f"{name}: {dtype}, expected {want}")
    return index


def _raise_if_problems(problems: dict[str, list[str]], limit: int = 20, hint: str = "") -> None:
    lines = []
    for kind, items in problems.items():
        if items:
            shown = "\n    ".join(items[:limit])
            more = f"\n    ... and {len(items) - limit} more" if len(items) > limit else ""
            lines.append(f"  {len(items)} {kind} tensor(s):\n    {shown}{more}")
    if lines:
        lines += [f"  {hint}"] if hint else []
        raise WeightsError("checkpoint does not match the model config:\n" + "\n".join(lines))


def load_weights(model: nn.Module, path: str | Path, cfg: ModelConfig, slicer: Slicer | None = None) -> None:
    """Fill every tensor of a materialised (uninitialised) model from the checkpoint at `path`."""
    targets = expected_tensors(model, cfg)
    plan = _plan(shard_map(path), targets, cfg, slicer)
    for file, entries in plan.items():
        with _open(file) as f:
            for name, key, index in entries:
                target = targets[key]
                tensor = f.get_slice(name)[index] if index else f.get_tensor(name)
                if target.check_shape is not None:
                    _check_weight_shape(name, key, tensor, target.check_shape, slicer)
                    continue
                with torch.no_grad():
                    target.dest.copy_(tensor)
                del tensor


def _check_weight_shape(name: str, key: str, tensor: torch.Tensor, want: tuple[int, int],
                        slicer: Slicer | None) -> None:
    """A compressed-tensors `weight_shape` holds the full logical [N, K]; this rank's part of it
    (the slicer applied to the logical weight) must be the shape the model allocated."""
    full = tuple(int(v) for v in tensor.tolist())
    index = slicer(key.removesuffix("_shape"), full) if slicer and len(full) == 2 else None
    got = _sliced_shape(full, index) if index else full
    if got != want:
        part = f" (this rank's part: {list(got)})" if got != full else ""
        raise WeightsError(f"{name} = {list(full)}{part}, model expects {list(want)}")
