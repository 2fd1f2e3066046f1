"""moe_align (torch): sorted pair lists padded per expert, and Int4Experts packing/validation."""

from __future__ import annotations

import pytest
import torch
from kimi_engine.kernels.experts import Int4Experts
from kimi_engine.kernels.moe_align import max_blocks, moe_align
from kimi_engine.quant import quantize_int4


@pytest.mark.parametrize(("tokens", "topk", "experts", "block_m"), [(1, 8, 384, 16), (37, 3, 6, 4), (50, 2, 3, 16)])
def test_every_pair_once_in_its_experts_blocks(tokens, topk, experts, block_m):
    gen = torch.Generator().manual_seed(tokens)
    ids = torch.randint(-1, experts, (tokens, topk), generator=gen)
    ids[0, 0] = -1
    al = moe_align(ids, experts, block_m)
    flat = ids.reshape(-1)
    npairs = flat.numel()
    assert al.num_blocks == max_blocks(npairs, experts, block_m)
    rows = al.sorted_pairs.view(al.num_blocks, block_m).long()
    seen = []
    for b in range(al.num_blocks):
        real = rows[b][rows[b] < npairs]
        e = int(al.block_expert[b])
        if e < 0:
            assert real.numel() == 0  # padding blocks past the end hold only sentinels
            continue
        assert (flat[real] == e).all()  # a block never mixes experts
        seen += real.tolist()
    assert sorted(seen) == [p for p in range(npairs) if flat[p] >= 0]  # each valid pair once
    used = {int(e) for e in al.block_expert if e >= 0}
    assert used == {int(e) for e in flat if e >= 0}  # experts with zero tokens get no block


def test_int4_experts_stack_and_validate():
    h, i = 64, 32
    gate = [quantize_int4(torch.randn(i, h)) for _ in range(3)]
    up = [quantize_int4(torch.randn(i, h)) for _ in range(3)]
    down = [quantize_int4(torch.randn(h, i)) for _ in range(3)]
    ex = Int4Experts.stack(gate, up, down, h, i)
    assert ex.num_experts == 3 and ex.gate_up_packed.shape == (3, 2 * i, h // 8)
    assert torch.equal(ex.gate_up_packed[1, i:], up[1][0])  # up rows follow gate rows
    assert torch.equal(ex.down_scale[2], down[2][1])
    bad = Int4Experts(ex.gate_up_packed, ex.gate_up_scale, ex.down_packed, ex.down_scale, h, 40)
    with pytest.raises(ValueError, match=r"gate_up_packed must have shape \[3, 80, 8\]"):
        bad.validate()
    with pytest.raises(ValueError, match="same non-zero number"):
        Int4Experts.stack(gate, up[:2], down, h, i)
