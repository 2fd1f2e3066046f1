"""Mixture of experts: DeepSeek-V3 "noaux_tc" router, routed experts (16-bit or INT4), shared expert."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kimi_engine import ops
from kimi_engine.config import ModelConfig
from kimi_engine.layers import MLP


class Router(nn.Module):
    """Sigmoid scores; the correction bias steers *selection* only, never the mixing weights.

    Checkpoint tensors: `gate.weight` [E, H], `gate.e_score_correction_bias` [E] (kept fp32).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.top_k = cfg.num_experts_per_tok
        self.n_group, self.topk_group = cfg.n_group, cfg.topk_group
        self.norm = cfg.norm_topk_prob
        self.scaling = cfg.routed_scaling_factor
        self.weight = nn.Parameter(torch.empty(cfg.n_routed_experts, cfg.hidden_size))
        self.register_buffer("e_score_correction_bias", torch.zeros(cfg.n_routed_experts))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [T, H] -> (topk_ids int64 [T, k], topk_weights fp32 [T, k])."""
        scores = F.linear(x.float(), self.weight.float()).sigmoid()  # [T, E]
        choice = scores + self.e_score_correction_bias.float()
        if self.n_group > 1:
            choice = self._limit_groups(choice)
        ids = torch.topk(choice, self.top_k, dim=-1, sorted=False).indices
        weights = scores.gather(1, ids)
        if self.norm:
            weights = weights / (weights.sum(-1, keepdim=True) + 1e-20)
        return ids, weights * self.scaling

    def _limit_groups(self, choice: torch.Tensor) -> torch.Tensor:
        """Keep only experts in the `topk_group` groups with the best top-2 sums; choice [T, E]."""
        t, e = choice.shape
        grouped = choice.view(t, self.n_group, e // self.n_group)
        group_scores = grouped.topk(2, dim=-1).values.sum(-1)  # [T, G]
        keep = torch.topk(group_scores, self.topk_group, dim=-1, sorted=False).indices
        mask = torch.zeros_like(group_scores, dtype=torch.bool).scatter_(1, keep, True)
        return grouped.masked_fill(~mask[:, :, None], float("-inf")).view(t, e)


class Experts(nn.Module):
    """Routed experts [first, first + count) of a layer stacked for batched kernels (see
    ops.ExpertWeights); all of them (first=0, count=E) unless expert parallel gives a rank a range.

    The loader fills w13 rows [0, I) from experts.{e}.gate_proj and [I, 2I) from up_proj, and w2
    from down_proj; INT4 checkpoints fill the packed words and scales, kept packed in memory.
    """

    def __init__(self, cfg: ModelConfig, first: int = 0, count: int | None = None) -> None:
        super().__init__()
        total, h, i = cfg.n_routed_experts, cfg.hidden_size, cfg.moe_intermediate_size
        e = total - first if count is None else count
        if first < 0 or e <= 0 or first + e > total:
            raise ValueError(f"expert range [{first}, {first + e}) is not inside the layer's {total} experts")
        self.hidden, self.intermediate = h, i
        self.first, self.count, self.total = first, e, total
        self.packed = cfg.int4 is not None
        if self.packed:
            g = cfg.int4.group_size
            for dim in (h, i):
                if dim % g:
                    raise ValueError(f"INT4 experts need hidden/intermediate sizes divisible by {g}, got {dim}")
            self.register_buffer("w13", torch.empty(e, 2 * i, h // 8, dtype=torch.int32))
            self.register_buffer("w2", torch.empty(e, h, i // 8, dtype=torch.int32))
            self.register_buffer("w13_scale", torch.empty(e, 2 * i, h // g))
            self.register_buffer("w2_scale", torch.empty(e, h, i // g))
        else:
            self.register_buffer("w13", torch.empty(e, 2 * i, h))
            self.register_buffer("w2", torch.empty(e, h, i))
            self.w13_scale = self.w2_scale = None

    def weights(self) -> ops.ExpertWeights:
        """The stacked expert tensors (w13 [E, 2I, H], w2 [E, H, I], or their packed INT4 form)."""
        return ops.ExpertWeights(self.w13, self.w2, self.w13_scale, self.w2_scale, self.hidden, self.intermediate)

    def local_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Router ids (global, int [T, k]) -> indices into this module's experts; -1 for experts
        held by another rank (the expert ops skip those slots, so their rows stay zero here)."""
        if self.count == self.total:
            return ids
        local = ids - self.first
        return torch.where((local >= 0) & (local < self.count), local, torch.full_like(local, -1))


class MoE(nn.Module):
    """routed(x) + shared_experts(x); tensor names: gate, experts.{e}.*, shared_experts."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.gate = Router(cfg)
        self.experts = Experts(cfg)
        self.shared_experts = (
            MLP(cfg.hidden_size, cfg.moe_intermediate_size * cfg.n_shared_experts)
            if cfg.n_shared_experts
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, S, H] -> [B, S, H]."""
        flat = x.reshape(-1, x.shape[-1])
        ids, weights = self.gate(flat)
        ids = self.experts.local_ids(ids)
        out = ops.moe_experts(flat, ids, weights, self.experts.weights()).view_as(x)
        if self.shared_experts is not None:
            out = out + self.shared_experts(x)
        return out
