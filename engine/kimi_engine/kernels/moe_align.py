"""Sort (token, slot) pairs by expert and pad each expert's run to a multiple of the GEMM block.

The grouped MoE GEMM (prefill) gives every BLOCK_M rows of the sorted list to one program, so a
block must never mix experts. Done in torch with no host synchronisation: the output sizes use an
upper bound on the number of blocks, and blocks past the real end carry expert -1 (the kernels
skip them without touching memory).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class MoEAlignment:
    """Result of moe_align.

    sorted_pairs int32 [num_blocks * block_m]: flat pair index p = token * topk + slot, grouped by
        expert, each group padded with the sentinel value num_pairs (= T * topk).
    block_expert int32 [num_blocks]: expert of each block, -1 for padding blocks past the end.
    """

    sorted_pairs: torch.Tensor
    block_expert: torch.Tensor
    block_m: int
    num_pairs: int

    @property
    def num_blocks(self) -> int:
        """Upper bound on used blocks (the grid size)."""
        return self.block_expert.shape[0]


def max_blocks(num_pairs: int, num_experts: int, block_m: int) -> int:
    """Upper bound on blocks: each non-empty expert wastes at most block_m - 1 padded rows."""
    nonempty = min(num_experts, num_pairs)
    return -(-(num_pairs + nonempty * (block_m - 1)) // block_m)


def moe_align(topk_ids: torch.Tensor, num_experts: int, block_m: int) -> MoEAlignment:
    """Group pairs by expert. topk_ids int [T, topk] with values in [-1, num_experts); -1 = skip
    (for expert parallelism: experts not on this rank)."""
    if topk_ids.dim() != 2:
        raise ValueError(f"topk_ids must be [T, topk], got shape {tuple(topk_ids.shape)}")
    if block_m <= 0:
        raise ValueError(f"block_m must be positive, got {block_m}")
    device = topk_ids.device
    flat = topk_ids.reshape(-1).to(torch.int64)  # [P]
    num_pairs = flat.numel()
    # Skipped pairs go to a trailing bucket `num_experts` that gets no blocks.
    key = torch.where(flat >= 0, flat, torch.full_like(flat, num_experts))
    counts = torch.bincount(key, minlength=num_experts + 1)[:num_experts]  # [E]
    padded = (counts + block_m - 1) // block_m * block_m  # [E]
    padded_end = torch.cumsum(padded, 0)  # [E] end row of each expert's run
    padded_start = padded_end - padded
    count_start = torch.cumsum(counts, 0) - counts  # [E] first sorted index of each expert

    order = torch.argsort(key, stable=True)  # [P] pair ids grouped by expert
    sorted_key = key[order]
    valid = sorted_key < num_experts
    safe_key = sorted_key.clamp(max=num_experts - 1)
    rank = torch.arange(num_pairs, device=device) - count_start[safe_key]  # index within expert
    position = padded_start[safe_key] + rank

    nblocks = max_blocks(num_pairs, num_experts, block_m)
    sorted_pairs = torch.full((nblocks * block_m,), num_pairs, dtype=torch.int32, device=device)
    sorted_pairs[position[valid]] = order[valid].to(torch.int32)

    block_rows = torch.arange(nblocks, device=device, dtype=torch.int64) * block_m
    owner = torch.searchsorted(padded_end, block_rows, right=True)  # [nblocks] in [0, E]
    block_expert = torch.where(owner < num_experts, owner, torch.full_like(owner, -1))
    return MoEAlignment(sorted_pairs, block_expert.to(torch.int32), block_m, num_pairs)
