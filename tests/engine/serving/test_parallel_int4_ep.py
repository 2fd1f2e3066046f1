"""Tensor parallel with packed INT4 experts, and expert parallel, on real gloo ranks (CPU, fp32).

Logits of 2 ranks must equal the unsplit model's (<= 1e-4). In-process checks look at what each
rank loaded: its slice of the packed words and scales (never dequantised), or its own experts.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from kimi_engine.config import load_config
from kimi_engine.launch import ServeOptions, serve_main
from kimi_engine.model import load_model
from kimi_engine.paged_cache import PagedLatentCache
from kimi_engine.parallel import load_shard, shard_config, tp_forward_cpu
from kimi_engine.runner import Chunk, forward_chunks
from kimi_engine.synthetic import (
    TINY_TEXT_CONFIG,
    quantize_experts,
    random_state_dict,
    write_checkpoint,
)
from kimi_engine.weights import WeightsError


def write_int4(path: Path, moe_intermediate: int, **overrides: object) -> Path:
    text = {**TINY_TEXT_CONFIG, "moe_intermediate_size": moe_intermediate, **overrides}
    packed, _ = quantize_experts(random_state_dict(text, seed=5))
    return write_checkpoint(path, packed, text, int4=True)


@pytest.fixture(scope="module")
def int4_wide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """moe_intermediate 64: two ranks get 32 columns each, one whole quantisation group."""
    return write_int4(tmp_path_factory.mktemp("int4-wide"), 64)


@pytest.fixture(scope="module")
def int4_narrow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """moe_intermediate 32 (one group): tensor parallel cannot split it, expert parallel can."""
    return write_int4(tmp_path_factory.mktemp("int4-narrow"), 32)


def steps() -> list[list[Chunk]]:
    """Two prefills (one chunked) then batched decodes: tokens hit many different experts."""
    a, b = list(range(3, 25)), list(range(60, 69))
    return [[Chunk(a[:14], 0, [0, 1]), Chunk(b, 0, [4, 5])],
            [Chunk(a[14:], 14, [0, 1]), Chunk([9], 9, [4, 5])],
            [Chunk([11], 22, [0, 1]), Chunk([12], 10, [4, 5])]]


def one_rank(path: Path) -> list[torch.Tensor]:
    model = load_model(path)
    cache = PagedLatentCache(model.config, 16, 16)
    return [forward_chunks(model, cache, s) for s in steps()]


def assert_close(want: list[torch.Tensor], got: list[torch.Tensor]) -> None:
    assert len(want) == len(got)
    for w, g in zip(want, got, strict=True):
        assert w.shape == g.shape
        assert (w - g).abs().max().item() <= 1e-4


def test_int4_tensor_parallel_two_ranks_match_one(int4_wide: Path, tmp_path: Path) -> None:
    got = tp_forward_cpu(int4_wide, 2, steps(), blocks=16, block_size=16, workdir=tmp_path)
    assert_close(one_rank(int4_wide), got)


def test_expert_parallel_two_ranks_match_one(int4_narrow: Path, tmp_path: Path) -> None:
    got = tp_forward_cpu(int4_narrow, 2, steps(), blocks=16, block_size=16, workdir=tmp_path,
                         expert_parallel=True)
    assert_close(one_rank(int4_narrow), got)


def test_int4_shard_holds_packed_slices(int4_wide: Path) -> None:
    full = load_model(int4_wide).model.layers[1].mlp
    part = load_shard(int4_wide, 1, 2, torch.device("cpu"), torch.float32).model.layers[1].mlp
    ex, fx = part.experts, full.experts
    assert ex.w13.dtype == torch.int32 and ex.intermediate == 32  # still packed, half of 64
    gate_up = torch.cat([fx.w13[:, 32:64], fx.w13[:, 96:128]], 1)  # rows of gate, then of up
    assert torch.equal(ex.w13, gate_up)
    assert torch.equal(ex.w13_scale, torch.cat([fx.w13_scale[:, 32:64], fx.w13_scale[:, 96:128]], 1))
    assert torch.equal(ex.w2, fx.w2[:, :, 4:8])  # down: input columns 32..63 = words 4..7
    assert torch.equal(ex.w2_scale, fx.w2_scale[:, :, 1:2])  # ... = group 1
    assert part.shared_experts.down_proj.weight.shape == (64, 32)


def test_expert_parallel_shard_holds_its_experts(int4_narrow: Path) -> None:
    full = load_model(int4_narrow).model.layers[2].mlp
    part = load_shard(int4_narrow, 1, 2, torch.device("cpu"), torch.float32, expert_parallel=True)
    mlp = part.model.layers[2].mlp
    assert (mlp.experts.first, mlp.experts.count, mlp.experts.intermediate) == (4, 4, 32)
    for name in ("w13", "w13_scale", "w2", "w2_scale"):
        assert torch.equal(getattr(mlp.experts, name), getattr(full.experts, name)[4:8])
    assert torch.equal(mlp.gate.weight, full.gate.weight)  # the router stays whole
    assert mlp.shared_experts.gate_proj.weight.shape == (16, 64)  # shared expert split like TP
    ids = torch.tensor([[0, 4, 7], [3, 5, 1]])
    assert mlp.experts.local_ids(ids).tolist() == [[-1, 0, 3], [-1, 1, -1]]


def test_bad_splits_are_explained(int4_narrow: Path, tiny_path: Path, tmp_path: Path) -> None:
    cfg = load_config(int4_narrow)
    with pytest.raises(ValueError, match="not a multiple of the quantisation group size 32"):
        shard_config(cfg, 2)
    with pytest.raises(ValueError, match="not a multiple of the quantisation group size"):
        tp_forward_cpu(int4_narrow, 2, steps(), workdir=tmp_path)  # refused before any rank starts
    shard_config(cfg, 2, expert_parallel=True)  # whole experts: the group layout does not matter
    with pytest.raises(ValueError, match="n_routed_experts=6 is not divisible by 4 ranks"):
        shard_config(dataclasses.replace(cfg, n_routed_experts=6), 4, expert_parallel=True)
    with pytest.raises(ValueError, match="--expert-parallel .* needs --gpus 2 or more"):
        serve_main(tiny_path, gpus=1, opts=ServeOptions(expert_parallel=True))


def test_sliced_weight_shape_is_verified(tmp_path: Path) -> None:
    text = {**TINY_TEXT_CONFIG, "moe_intermediate_size": 64}
    packed, _ = quantize_experts(random_state_dict(text, seed=5))
    packed["model.layers.1.mlp.experts.2.down_proj.weight_shape"] = torch.tensor([64, 96], dtype=torch.int32)
    path = write_checkpoint(tmp_path / "bad", packed, text, int4=True)
    with pytest.raises(WeightsError, match=r"experts.2.down_proj.weight_shape = \[64, 96\] \(this rank's part: "
                                           r"\[64, 48\]\), model expects \[64, 32\]"):
        load_shard(path, 0, 2, torch.device("cpu"), torch.float32)


KERNEL_SCRIPT = """
import os, sys, torch
from kimi_engine.kernels import dispatch
from kimi_engine.parallel import load_shard
calls = []
fused = dispatch.fused_moe
dispatch.fused_moe = lambda *a, **k: calls.append(1) or fused(*a, **k)
for ep in (False, True):
    for rank in (0, 1):
        mlp = load_shard(sys.argv[1], rank, 2, torch.device("cpu"), torch.float32, ep).model.layers[1].mlp
        for n in (3, 20):  # the per-pair decode kernels and the grouped (sorted by expert) ones
            x = torch.randn(1, n, 64, generator=torch.Generator().manual_seed(n))
            os.environ.pop("KIMI_ENGINE_TORCH_OPS", None)
            kernel = mlp(x)
            os.environ["KIMI_ENGINE_TORCH_OPS"] = "1"
            print(ep, rank, n, (kernel - mlp(x)).abs().max().item())
print("calls", len(calls))
"""


def test_triton_kernels_take_sliced_and_local_experts(int4_wide: Path) -> None:
    """Interpreted Triton fused MoE on each rank's packed slice (TP) and own experts (EP, ids of
    other ranks' experts = -1) equals the torch path."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "KIMI_ENGINE_TRITON_ON_CPU": "1", "KIMI_ENGINE_AUTOTUNE": "0"}
    env.pop("KIMI_ENGINE_TORCH_OPS", None)
    out = subprocess.run([sys.executable, "-c", KERNEL_SCRIPT, str(int4_wide)], env=env, capture_output=True,
                         text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "calls 8"
    diffs = [float(line.split()[-1]) for line in lines[:-1]]
    assert len(diffs) == 8 and max(diffs) <= 1e-4


def test_cli_flag_reaches_the_launcher(tiny_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kimi_engine.cli import main

    assert main(["serve", str(tiny_path), "--expert-parallel"]) == 1
    assert "--expert-parallel splits the routed experts over ranks" in capsys.readouterr().err
