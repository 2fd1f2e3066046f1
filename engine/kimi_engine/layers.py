"""Small building blocks: RMSNorm, YaRN rotary embedding, SwiGLU MLP."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from kimi_engine.config import ModelConfig, RopeConfig, yarn_mscale


class RMSNorm(nn.Module):
    """y = w * x / sqrt(mean(x^2) + eps), normalised in fp32, scaled in the input dtype."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [..., dim] -> [..., dim]."""
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


class MLP(nn.Module):
    """SwiGLU feed-forward: down(silu(gate(x)) * up(x)). Used for dense layers and shared experts."""

    def __init__(self, hidden: int, intermediate: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(hidden, intermediate, bias=False)
        self.up_proj = nn.Linear(hidden, intermediate, bias=False)
        self.down_proj = nn.Linear(intermediate, hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [..., H] -> [..., H]."""
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


def rope_frequencies(rope: RopeConfig, dim: int) -> tuple[torch.Tensor, float]:
    """Inverse frequencies fp32 [dim/2] and the cos/sin multiplier for a rotary of width `dim`.

    YaRN (DeepSeek-V3 flavour): low-frequency dimensions are interpolated by `factor`,
    high-frequency ones kept, with a linear ramp between the correction range given by
    beta_fast/beta_slow rotations over the original context; cos/sin are multiplied by
    mscale(factor, mscale) / mscale(factor, mscale_all_dim).
    """
    exponent = torch.arange(0, dim, 2, dtype=torch.float32) / dim
    inv_freq = 1.0 / (rope.theta**exponent)
    if rope.kind != "yarn":
        return inv_freq, 1.0

    def correction_dim(rotations: float) -> float:
        ctx = rope.original_max_position_embeddings
        return dim * math.log(ctx / (rotations * 2 * math.pi)) / (2 * math.log(rope.theta))

    low = max(math.floor(correction_dim(rope.beta_fast)), 0)
    high = min(math.ceil(correction_dim(rope.beta_slow)), dim - 1)
    if low == high:
        high += 0.001  # avoid a zero-width ramp
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    keep = 1 - ramp  # 1 where the original (extrapolated) frequency is kept
    inv_freq = inv_freq / rope.factor * (1 - keep) + inv_freq * keep
    if rope.attention_factor is not None:
        return inv_freq, float(rope.attention_factor)
    factor = yarn_mscale(rope.factor, rope.mscale) / yarn_mscale(rope.factor, rope.mscale_all_dim)
    return inv_freq, float(factor)


class Rotary(nn.Module):
    """Rotary embedding for the qk_rope_head_dim part of queries and the shared key."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        inv_freq, self.attention_factor = rope_frequencies(cfg.rope, cfg.qk_rope_head_dim)
        # Not persistent: recomputed from config, never read from the checkpoint.
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.interleaved = cfg.rope_interleave

    def reset(self, cfg: ModelConfig) -> None:
        """Recompute inv_freq in place (after the module was materialised from the meta device)."""
        inv_freq, _ = rope_frequencies(cfg.rope, cfg.qk_rope_head_dim)
        self.inv_freq = inv_freq.to(self.inv_freq.device)

    def cos_sin(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """positions int [S] -> (cos, sin) fp32 [S, R/2], already times the attention factor."""
        freqs = positions.float()[:, None] * self.inv_freq[None, :]
        return freqs.cos() * self.attention_factor, freqs.sin() * self.attention_factor

    def rotate(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Rotate x [B, S, Hn, R] with cos/sin [S, R/2].

        Interleaved checkpoints rotate pairs (x0, x1), (x2, x3)...; the result is written
        de-interleaved (all first members, then all second members). Queries and keys get the
        same permutation, so their dot products equal those of the interleaved layout.
        """
        if self.interleaved:
            x1, x2 = x[..., 0::2], x[..., 1::2]
        else:
            half = x.shape[-1] // 2
            x1, x2 = x[..., :half], x[..., half:]
        c = cos[None, :, None, :].to(x.dtype)
        s = sin[None, :, None, :].to(x.dtype)
        return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)
