"""kimi_engine: the embedded Kimi K2.x inference engine.

Public API (imported lazily so that `kimi_engine.tokenizer` and friends do not pull in torch):
  load_model(path, device="cpu", dtype=torch.float32) -> KimiForCausalLM
  Engine.from_pretrained(path, ...) -> Engine (model + tokenizer + cache, generation and chat)
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_model": ("kimi_engine.model", "load_model"),
    "KimiForCausalLM": ("kimi_engine.model", "KimiForCausalLM"),
    "Engine": ("kimi_engine.engine", "Engine"),
    "SamplingParams": ("kimi_engine.sampling", "SamplingParams"),
    "load_config": ("kimi_engine.config", "load_config"),
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'kimi_engine' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    return getattr(importlib.import_module(module), attr)
