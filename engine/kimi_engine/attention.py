"""Multi-head latent attention (MLA): projections, a full path and a weight-absorbed path.

Per token the cache keeps only the normalised compressed KV c [C = kv_lora_rank] and the rotated
shared rope key k_pe [R = qk_rope_head_dim]. Keys and values of head h are
    k_h = [W_UK_h c ; k_pe],  v_h = W_UV_h c      (W_UK_h [D_nope, C], W_UV_h [D_v, C] from kv_b_proj)

Full path (prefill): expand c of every visible token through kv_b_proj, then ordinary attention.
Absorbed path (decode): q_nope_h . (W_UK_h c) = (W_UK_h^T q_nope_h) . c, so the query is moved
into latent space once and attention runs directly over the cached latents; the output
sum_t p_t c_t is mapped through W_UV_h afterwards. Per step this costs O(T * C) per head instead of
re-expanding all T cached tokens through kv_b_proj.

The steps are public methods so that every forward path composes the same code: the model's
`forward` (contiguous cache) and the serving runner (paged cache, ragged batches) both call
`project`, then `full_attention` or `absorbed_attention`, then `output`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from kimi_engine import ops
from kimi_engine.config import ModelConfig
from kimi_engine.layers import RMSNorm, Rotary

# The q/kv latent norms use a fixed eps of 1e-6 in the reference implementations (DeepSeek-V3's
# inference code and transformers construct them without passing rms_norm_eps), so we do too.
LATENT_NORM_EPS = 1e-6

ATTENTION_MODES = ("auto", "naive", "absorb")


class Projected(NamedTuple):
    """What the projections give for S new tokens of B rows (Hn heads on this rank).

    q_nope [B, S, Hn, D_nope], q_pe [B, S, Hn, R] (rotated), latent [B, S, C] (normalised),
    k_pe [B, S, R] (rotated). latent and k_pe are what the cache stores.
    """

    q_nope: torch.Tensor
    q_pe: torch.Tensor
    latent: torch.Tensor
    k_pe: torch.Tensor


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

        cos/sin [S, R/2] for those positions. cache: this layer's (kv [B, Tmax, C],
        pe [B, Tmax, R]) or None (attend within x only).
        mode: "naive" (always full), "absorb" (always absorbed), "auto" (absorbed when S == 1).
        """
        b, s, _ = x.shape
        p = self.project(x, rotary, cos, sin)
        latent, k_pe = p.latent, p.k_pe
        if cache is not None:
            kv_cache, pe_cache = cache
            kv_cache[:b, start : start + s] = latent
            pe_cache[:b, start : start + s] = k_pe
            latent, k_pe = kv_cache[:b, : start + s], pe_cache[:b, : start + s]
        if mode == "absorb" or (mode == "auto" and s == 1):
            lengths = causal_lengths(b, s, start, x.device)
            out = self.absorbed_attention(p.q_nope, p.q_pe, latent, k_pe, lengths)
        else:
            out = self.full_attention(p.q_nope, p.q_pe, latent, k_pe, start)
        return self.output(out)

    def project(self, x: torch.Tensor, rotary: Rotary, cos: torch.Tensor, sin: torch.Tensor) -> Projected:
        """x [B, S, H] (normalised) with cos/sin [S, R/2] of its positions -> Projected (shapes there)."""
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
        return Projected(q_nope, q_pe, latent, k_pe)

    def full_attention(
        self, q_nope: torch.Tensor, q_pe: torch.Tensor, latent: torch.Tensor, k_pe: torch.Tensor, start: int
    ) -> torch.Tensor:
        """Expand the latents to per-head K/V and attend causally.

        q_nope [B, S, Hn, D_nope], q_pe [B, S, Hn, R] of the queries at positions start..start+S-1;
        latent [B, T, C], k_pe [B, T, R] of positions 0..T-1 -> [B, S, Hn, D_v].
        """
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

    def absorbed_attention(
        self, q_nope: torch.Tensor, q_pe: torch.Tensor, latent: torch.Tensor, k_pe: torch.Tensor,
        lengths: torch.Tensor,
    ) -> torch.Tensor:
        """Attend in latent space (decode, and prefill in "absorb" mode).

        q_nope [B, S, Hn, D_nope], q_pe [B, S, Hn, R]; latent [B, T, C], k_pe [B, T, R];
        lengths int [B, S]: query (b, s) sees cache rows 0..lengths[b, s]-1 (rows past a length
        may be padding) -> [B, S, Hn, D_v].
        """
        w_uk, w_uv = self._absorbed_weights()
        q_latent = torch.einsum("bshd,hdc->bshc", q_nope, w_uk)  # [B, S, Hn, C]
        o_latent = ops.mla_absorbed_attention(q_latent, q_pe, latent, k_pe, lengths, self.scale)
        return torch.einsum("bshc,hdc->bshd", o_latent, w_uv)

    def output(self, out: torch.Tensor) -> torch.Tensor:
        """Per-head attention output [B, S, Hn, D_v] -> o_proj [B, S, H] (a partial sum under TP)."""
        b, s = out.shape[:2]
        return self.o_proj(out.reshape(b, s, self.n_heads * self.v_dim))

    def _absorbed_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """kv_b_proj split per head: (W_UK [Hn, D_nope, C], W_UV [Hn, D_v, C]), views, no copy."""
        w = self.kv_b_proj.weight.view(self.n_heads, self.nope + self.v_dim, self.kv_rank)
        return w[:, : self.nope], w[:, self.nope :]


def causal_lengths(batch: int, s: int, start: int, device: torch.device) -> torch.Tensor:
    """int32 [B, S]: query i (absolute position start+i) sees start+i+1 cache rows."""
    row = torch.arange(start + 1, start + s + 1, device=device, dtype=torch.int32)
    return row.repeat(batch, 1)


def _causal_mask(s: int, t: int, start: int, device: torch.device) -> torch.Tensor:
    """bool [S, T]: query i (absolute position start+i) sees keys 0..start+i."""
    q_pos = torch.arange(start, start + s, device=device)[:, None]
    return torch.arange(t, device=device)[None, :] <= q_pos
