"""Preallocated MLA latent cache: per layer and token only kv_lora_rank + qk_rope_head_dim values."""

from __future__ import annotations

import torch

from kimi_engine.config import ModelConfig


class CacheFullError(RuntimeError):
    """The request would write past the cache's preallocated length."""


class KVCache:
    """kv [L, B, Tmax, C] (normalised latents) and pe [L, B, Tmax, R] (rotated rope keys).

    `length` is how many positions are filled (shared by the batch: sequences advance together).
    The model writes the new tokens' entries and advances `length` on every cached forward.
    """

    def __init__(
        self,
        cfg: ModelConfig,
        batch_size: int,
        max_len: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if max_len > cfg.max_position_embeddings:
            raise ValueError(
                f"max_len={max_len} exceeds the model's max_position_embeddings={cfg.max_position_embeddings}"
            )
        shape = (cfg.num_hidden_layers, batch_size, max_len)
        self.kv = torch.zeros(*shape, cfg.kv_lora_rank, device=device, dtype=dtype)
        self.pe = torch.zeros(*shape, cfg.qk_rope_head_dim, device=device, dtype=dtype)
        self.batch_size, self.max_len = batch_size, max_len
        self.length = 0

    def layer(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Views (kv [B, Tmax, C], pe [B, Tmax, R]) of layer i."""
        return self.kv[i], self.pe[i]

    def reserve(self, batch: int, new_tokens: int) -> int:
        """Check room for `new_tokens` more tokens of `batch` sequences; returns the start position."""
        if batch > self.batch_size:
            raise CacheFullError(f"batch {batch} exceeds the cache's batch size {self.batch_size}")
        if self.length + new_tokens > self.max_len:
            raise CacheFullError(
                f"cache holds {self.length} of {self.max_len} tokens; {new_tokens} more do not fit"
            )
        return self.length

    def reset(self) -> None:
        """Forget every cached position (the tensors are overwritten, not cleared)."""
        self.length = 0

    @staticmethod
    def bytes_per_token(cfg: ModelConfig, dtype_bytes: int = 2) -> int:
        """Cache bytes one token costs across all layers."""
        return cfg.num_hidden_layers * (cfg.kv_lora_rank + cfg.qk_rope_head_dim) * dtype_bytes
