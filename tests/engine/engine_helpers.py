"""Shared helpers: tiny random checkpoints in the real on-disk format, and transformers' reference
DeepseekV3ForCausalLM loaded from a flat dense copy of the same weights."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from kimi_engine.synthetic import TINY_TEXT_CONFIG, write_checkpoint


def tiny_config(**overrides: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(TINY_TEXT_CONFIG)
    cfg.update(overrides)
    return cfg


def hf_reference(path: Path) -> torch.nn.Module:
    """transformers' own DeepseekV3ForCausalLM.from_pretrained on a flat dense checkpoint."""
    from transformers import DeepseekV3ForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()
    model = DeepseekV3ForCausalLM.from_pretrained(path, dtype=torch.float32)
    return model.eval()


def write_reference(path: Path, dense: dict[str, torch.Tensor], text: dict[str, Any]) -> Path:
    """A flat deepseek_v3 fp32 checkpoint (one shard) that transformers can load directly."""
    return write_checkpoint(path, dense, text, model_type="deepseek_v3", n_shards=1)

