"""The Kimi K2.x / DeepSeek-V3 decoder: embeddings, MLA + (dense | MoE) blocks, final norm, lm_head.

Module names mirror the Hugging Face tensor names (model.layers.{i}.self_attn.q_a_proj, ...), so the
loader maps checkpoint names one to one, except routed experts which are stacked (moe.Experts).
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import torch
from torch import nn

from kimi_engine.attention import ATTENTION_MODES, MLA
from kimi_engine.config import ModelConfig
from kimi_engine.kv_cache import KVCache
from kimi_engine.layers import MLP, RMSNorm, Rotary
from kimi_engine.moe import MoE


class Block(nn.Module):
    """Pre-norm residual block: x + attn(norm(x)), then h + mlp(norm(h))."""

    def __init__(self, cfg: ModelConfig, index: int) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = MLA(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.mlp: nn.Module = MoE(cfg) if cfg.is_moe_layer(index) else MLP(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x: torch.Tensor, rotary: Rotary, cos: torch.Tensor, sin: torch.Tensor,
                cache: tuple[torch.Tensor, torch.Tensor] | None, start: int, mode: str) -> torch.Tensor:
        """x [B, S, H] -> [B, S, H]."""
        x = x + self.self_attn(self.input_layernorm(x), rotary, cos, sin, cache, start, mode)
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    """`model.*` in the checkpoint: embed_tokens, layers, norm."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Block(cfg, i) for i in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class KimiForCausalLM(nn.Module):
    """Call with input ids [B, S] -> logits [B, S, vocab] (fp32 if the model is fp32)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.model = Backbone(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.rotary = Rotary(cfg)
        self.attention_mode = "auto"

    def set_attention_mode(self, mode: str) -> None:
        """"auto": full attention for prefill, absorbed for single-token decode; "naive": always
        expand the latent cache; "absorb": always attend in latent space."""
        if mode not in ATTENTION_MODES:
            raise ValueError(f"attention mode {mode!r} is not one of {ATTENTION_MODES}")
        self.attention_mode = mode

    @torch.inference_mode()
    def forward(self, input_ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """input_ids int [B, S] -> logits [B, S, V].

        Without a cache this is a full causal prefill of the S tokens. With a cache the tokens
        continue the cached sequences at position cache.length, their latents are written into
        the cache, and cache.length advances by S.
        """
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [batch, seq], got shape {tuple(input_ids.shape)}")
        b, s = input_ids.shape
        start = cache.reserve(b, s) if cache is not None else 0
        positions = torch.arange(start, start + s, device=input_ids.device)
        cos, sin = self.rotary.cos_sin(positions)
        h = self.model.embed_tokens(input_ids)
        for i, layer in enumerate(self.blocks()):
            layer_cache = cache.layer(i) if cache is not None else None
            h = layer(h, self.rotary, cos, sin, layer_cache, start, self.attention_mode)
        if cache is not None:
            cache.length = start + s
        return self.lm_head(self.model.norm(h))

    def blocks(self) -> list[Block]:
        """The decoder blocks in order (model.layers, typed)."""
        return [cast(Block, layer) for layer in self.model.layers]

    @property
    def device(self) -> torch.device:
        """Where the weights live (the embedding table's device)."""
        return self.model.embed_tokens.weight.device

    def new_cache(self, batch_size: int, max_len: int) -> KVCache:
        """A preallocated latent cache on the model's device and dtype."""
        p = self.model.embed_tokens.weight
        return KVCache(self.config, batch_size, max_len, p.device, p.dtype)


def build_meta_model(cfg: ModelConfig, dtype: torch.dtype) -> KimiForCausalLM:
    """The model's structure on the meta device (no memory), floating tensors in `dtype`;
    packed INT4 words stay int32 and the router's correction bias stays fp32."""
    with torch.device("meta"):
        model = KimiForCausalLM(cfg)
    model.requires_grad_(False)  # inference only
    model.to(dtype)
    for module in model.modules():
        if hasattr(module, "e_score_correction_bias"):
            module.e_score_correction_bias = module.e_score_correction_bias.float()
    return model


def load_model(
    path: str | Path,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> KimiForCausalLM:
    """Load a Hugging Face Kimi K2.x / DeepSeek-V3 directory: config, then every tensor straight
    from the mmap'd safetensors shards into its preallocated destination on `device`."""
    from kimi_engine.config import load_config
    from kimi_engine.weights import load_weights

    cfg = load_config(path)
    model = build_meta_model(cfg, dtype)
    model.to_empty(device=device)
    model.rotary.reset(cfg)
    if cfg.tie_word_embeddings:  # to_empty materialises each module separately: re-tie
        model.lm_head.weight = model.model.embed_tokens.weight
    load_weights(model, path, cfg)
    model.eval()
    return model
