"""Multi-head latent attention (MLA) with a full path and a weight-absorbed path.

Per token the cache keeps only the normalised compressed KV c [C = kv_lora_rank] and the rotated
shared rope key k_pe [R = qk_rope_head_dim]. Keys and values of head h are
    k_h = [W_UK_h c ; k_pe],  v_h = W_UV_h c      (W_UK_h [D_nope, C], W_UV_h [D_v, C] from kv_b_proj)

Full path (prefill): expand c of every visible token through kv_b_proj, then ordinary attention.
Absorbed path (decode): q_nope_h . (W_UK_h c) = (W_UK_h^T q_nope_h) . c, so the query is moved
into latent space once and attention runs directly over the cached latents; the output
sum_t p_t c_t is mapped through W_UV_h afterwards. Per step this costs O(T * C) per head instead of
re-expanding all T cached tokens through kv_b_proj.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import ops
from .config import ModelConfig
from .layers import RMSNorm, Rotary

# The q/kv latent norms use a fixed eps of 1e-6 in the reference implementations (DeepSeek-V3's
# inference code and transformers construct them without passing rms_norm_eps), so we do too.
LATENT_NORM_EPS = 1e-6

ATTENTION_MODES = ("auto", "naive", "absorb")


class MLA(nn.Module):
    """Tensor names follow the checkpoint: q_a_proj, q_a_layernorm, q_b_proj (or q_proj),
    kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj, o_proj."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads = cfg.num_attention_heads
        self.nope, self.rope_dim, self.v_dim = cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim
        self.kv_rank = cfg.kv_lora_rank
        self.scale = cfg.softmax_scale
        qk = cfg.qk_head_dim
        if cfg.q_lora_rank:
            self.q_a_proj = nn.Linear(cfg.hidden_size, cfg.q_lora_rank, bias=False)
            self.q_a_layernorm = RMSNorm(cfg.q_lora_rank, LATENT_NORM_EPS)
            self.q_b_proj = nn.Linear(cfg.q_lora_rank, self.n_heads * qk, bias=False)
        else:
            self.q_proj = nn.Linear(cfg.hidden_size, self.n_heads * qk, bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(cfg.hidden_size, self.kv_rank + self.rope_dim, bias=False)
        self.kv_a_layernorm = RMSNorm(self.kv_rank, LATENT_NORM_EPS)
        self.kv_b_proj = nn.Linear(self.kv_rank, self.n_heads * (self.nope + self.v_dim), bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.v_dim, cfg.hidden_size, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        rotary: Rotary,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: tuple[torch.Tensor, torch.Tensor] | None,
        start: int,
        mode: str,
    ) -> torch.Tensor:
        """x [B, S, H] at positions start..start+S-1 -> [B, S, H].

        cache: this layer's (kv [B, Tmax, C], pe [B, Tmax, R]) or None (attend within x only).
        mode: "naive" (always full), "absorb" (always absorbed), "auto" (absorbed when S == 1).
        """
        b, s, _ = x.shape
        if hasattr(self, "q_b_proj"):
            q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x)))
        else:
            q = self.q_proj(x)
        q_nope, q_pe = q.view(b, s, self.n_heads, -1).split([self.nope, self.rope_dim], dim=-1)
        q_pe = rotary.rotate(q_pe, cos, sin)
        latent, k_pe = self.kv_a_proj_with_mqa(x).split([self.kv_rank, self.rope_dim], dim=-1)
        latent = self.kv_a_layernorm(latent)
        k_pe = rotary.rotate(k_pe.unsqueeze(2), cos, sin).squeeze(2)  # [B, S, R]
        if cache is not None:
            kv_cache, pe_cache = cache
            kv_cache[:b, start : start + s] = latent
            pe_cache[:b, start : start + s] = k_pe
            latent, k_pe = kv_cache[:b, : start + s], pe_cache[:b, : start + s]
        absorb = mode == "absorb" or (mode == "auto" and s == 1)
        if absorb:
            out = self._absorbed(q_nope, q_pe, latent, k_pe, start)
        else:
            out = self._full(q_nope, q_pe, latent, k_pe, start)
        return self.o_proj(out.reshape(b, s, self.n_heads * self.v_dim))

    def _full(
        self, q_nope: torch.Tensor, q_pe: torch.Tensor, latent: torch.Tensor, k_pe: torch.Tensor, start: int
    ) -> torch.Tensor:
        """Expand latents [B, T, C] to per-head K/V and attend; q_* [B, S, Hn, *] -> [B, S, Hn, Dv]."""
        b, s, h, _ = q_nope.shape
        t = latent.shape[1]
        kv = self.kv_b_proj(latent).view(b, t, h, self.nope + self.v_dim)
        k_nope, v = kv.split([self.nope, self.v_dim], dim=-1)
        k = torch.cat([k_nope, k_pe[:, :, None, :].expand(b, t, h, self.rope_dim)], dim=-1)
        q = torch.cat([q_nope, q_pe], dim=-1)
        mask = _causal_mask(s, t, start, q.device)
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask, scale=self.scale
        )
        return out.transpose(1, 2)

    def _absorbed(
        self, q_nope: torch.Tensor, q_pe: torch.Tensor, latent: torch.Tensor, k_pe: torch.Tensor, start: int
    ) -> torch.Tensor:
        """Attend in latent space; q_* [B, S, Hn, *], latent [B, T, C], k_pe [B, T, R] -> [B, S, Hn, Dv]."""
        w = self.kv_b_proj.weight.view(self.n_heads, self.nope + self.v_dim, self.kv_rank)
        w_uk, w_uv = w[:, : self.nope], w[:, self.nope :]
        q_latent = torch.einsum("bshd,hdc->bshc", q_nope, w_uk)  # [B, S, Hn, C]
        if q_nope.shape[1] == 1:
            o_latent = ops.mla_decode_attention(q_latent[:, 0], q_pe[:, 0], latent, k_pe, self.scale)
            o_latent = o_latent.unsqueeze(1)
        else:
            scores = torch.einsum("bshc,btc->bsht", q_latent, latent)
            scores = (scores + torch.einsum("bshr,btr->bsht", q_pe, k_pe)).float() * self.scale
            mask = _causal_mask(q_nope.shape[1], latent.shape[1], start, scores.device)
            scores = scores.masked_fill(~mask[None, :, None, :], float("-inf"))
            probs = torch.softmax(scores, dim=-1).to(latent.dtype)
            o_latent = torch.einsum("bsht,btc->bshc", probs, latent)
        return torch.einsum("bshc,hdc->bshd", o_latent, w_uv)


def _causal_mask(s: int, t: int, start: int, device: torch.device) -> torch.Tensor:
    """bool [S, T]: query i (absolute position start+i) sees keys 0..start+i."""
    q_pos = torch.arange(start, start + s, device=device)[:, None]
    return torch.arange(t, device=device)[None, :] <= q_pos
