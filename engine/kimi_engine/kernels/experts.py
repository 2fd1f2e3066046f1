"""Int4Experts: the stacked INT4 routed-expert weights of one MoE layer (no triton needed)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kimi_engine.kernels._checks import (
    ACTIVATION_DTYPES,
    INDEX_DTYPES,
    SCALE_DTYPES,
    check_tensor,
    packed_cols,
    same_device,
    scale_cols,
)


@dataclass(frozen=True)
class Int4Experts:
    """Stacked INT4 routed experts of one layer (or one rank's slice of them), contiguous.

    gate_up_packed int32 [E, 2I, ceil(H/8)]   rows [0, I) gate_proj, rows [I, 2I) up_proj
    gate_up_scale  bf16/fp16/fp32 [E, 2I, ceil(H/32)]
    down_packed    int32 [E, H, ceil(I/8)]
    down_scale     bf16/fp16/fp32 [E, H, ceil(I/32)]
    hidden H, intermediate I (logical sizes: the packed widths are rounded up).
    """

    gate_up_packed: torch.Tensor
    gate_up_scale: torch.Tensor
    down_packed: torch.Tensor
    down_scale: torch.Tensor
    hidden: int
    intermediate: int

    @property
    def num_experts(self) -> int:
        return self.gate_up_packed.shape[0]

    def validate(self) -> None:
        """Raise TypeError/ValueError naming the first tensor that breaks the layout above."""
        e, h, i = self.num_experts, self.hidden, self.intermediate
        if h <= 0 or i <= 0 or e <= 0:
            raise ValueError(f"Int4Experts needs positive E, H, I; got E={e}, H={h}, I={i}")
        check_tensor("gate_up_packed", self.gate_up_packed, dtypes=(torch.int32,),
                     shape=(e, 2 * i, packed_cols(h)), contiguous=True)
        check_tensor("gate_up_scale", self.gate_up_scale, dtypes=SCALE_DTYPES,
                     shape=(e, 2 * i, scale_cols(h)), contiguous=True)
        check_tensor("down_packed", self.down_packed, dtypes=(torch.int32,),
                     shape=(e, h, packed_cols(i)), contiguous=True)
        check_tensor("down_scale", self.down_scale, dtypes=SCALE_DTYPES,
                     shape=(e, h, scale_cols(i)), contiguous=True)

    @classmethod
    def stack(
        cls,
        gate: list[tuple[torch.Tensor, torch.Tensor]],
        up: list[tuple[torch.Tensor, torch.Tensor]],
        down: list[tuple[torch.Tensor, torch.Tensor]],
        hidden: int,
        intermediate: int,
    ) -> Int4Experts:
        """Build from per-expert (weight_packed, weight_scale) pairs as stored in the checkpoint
        (gate/up [I, H/8] + [I, H/32], down [H, I/8] + [H, I/32]). Copies once, at load time."""
        if not (len(gate) == len(up) == len(down)) or not gate:
            raise ValueError(f"need the same non-zero number of gate/up/down experts, got "
                             f"{len(gate)}/{len(up)}/{len(down)}")
        gu_p = torch.stack([torch.cat([g[0], u[0]], 0) for g, u in zip(gate, up, strict=True)])
        gu_s = torch.stack([torch.cat([g[1], u[1]], 0) for g, u in zip(gate, up, strict=True)])
        experts = cls(gu_p.contiguous(), gu_s.contiguous(), torch.stack([d[0] for d in down]).contiguous(),
                      torch.stack([d[1] for d in down]).contiguous(), hidden, intermediate)
        experts.validate()
        return experts


def check_moe_inputs(
    hidden: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
    experts: Int4Experts,
    shared_output: torch.Tensor | None,
) -> torch.device:
    """Validate fused-MoE arguments (see fused_moe.py); return their common device."""
    if not isinstance(experts, Int4Experts):
        raise TypeError(f"experts must be an Int4Experts, got {type(experts).__name__}")
    experts.validate()
    check_tensor("hidden", hidden, dtypes=ACTIVATION_DTYPES, shape=(None, experts.hidden))
    t = hidden.shape[0]
    check_tensor("topk_ids", topk_ids, dtypes=INDEX_DTYPES, ndim=2, contiguous=True)
    if topk_ids.shape[0] != t:
        raise ValueError(f"topk_ids has {topk_ids.shape[0]} rows but hidden has {t} tokens")
    check_tensor("topk_weights", topk_weights, dtypes=ACTIVATION_DTYPES, shape=tuple(topk_ids.shape),
                 contiguous=True)
    tensors = [hidden, topk_ids, topk_weights, experts.gate_up_packed, experts.down_packed]
    if shared_output is not None:
        check_tensor("shared_output", shared_output, dtypes=ACTIVATION_DTYPES, shape=(t, experts.hidden))
        tensors.append(shared_output)
    device = same_device(tensors)
    # Value check only where it costs no GPU sync.
    if device.type == "cpu" and topk_ids.numel():
        lo, hi = int(topk_ids.min()), int(topk_ids.max())
        if lo < -1 or hi >= experts.num_experts:
            raise ValueError(f"topk_ids must lie in [-1, {experts.num_experts}), got [{lo}, {hi}]")
    return device
