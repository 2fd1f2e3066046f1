"""Tensor (and expert) parallelism over N devices of one box with torch.distributed (NCCL on GPU,
gloo on CPU).

Tensor parallel split (Megatron style, one all-reduce after attention and one after the MLP of
every block):
  attention  q_b_proj / q_proj and kv_b_proj by heads (rows), o_proj by its input columns;
             q_a / kv_a projections and their norms are replicated, so every rank writes the same
             latents into its own copy of the paged cache.
  MLP        dense and shared-expert gate/up by rows, down by columns; routed experts the same,
             along moe_intermediate (the router is replicated, so every rank picks the same experts).
             INT4 routed experts are split in their packed form (no dequantise at load): gate/up
             weight_packed/weight_scale by rows; down's weight_packed [H, I/8] and weight_scale
             [H, I/32] by columns, on quantisation-group boundaries, so moe_intermediate / N must be
             a multiple of the group size (32). Shared experts are 16-bit in these checkpoints.
  embeddings, final norm and lm_head are replicated.
Expert parallel (`--expert-parallel`, for large batches): the same as above except for the routed
experts: rank r owns experts [r*E/N, (r+1)*E/N) whole (16-bit or INT4, any group layout) and reads
only those; it computes its experts' contributions for every token (zero rows for tokens routed
elsewhere), and the MLP's existing all-reduce sums them together with the TP-split shared expert.
Attention stays tensor parallel (it is already split and reduced; nothing new to communicate).
Each rank reads only its slices (weights.load_weights' slicer). Serving over the ranks (rank 0 runs
the scheduler and the HTTP server and broadcasts each step's chunks; the other ranks replay them)
lives in launch.py: this module is model code and never imports serving code.
Per-rank routed-expert memory is the same either way (1/N); expert parallel trades the many thin
per-expert slices of TP for whole experts (fewer, larger GEMMs, no group-size constraint).
Not done yet: no all-to-all token dispatch (every rank already holds every token after attention's
all-reduce; the routed outputs are combined by the block's all-reduce of [T, H], not an all-to-all
of only the routed tokens); no expert load balancing (a rank owning popular experts does more work;
no redundant experts); no multi-node; both paths are tested on CPU gloo ranks only, never on NCCL.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist

from kimi_engine.config import ModelConfig, load_config
from kimi_engine.layers import MLP
from kimi_engine.model import KimiForCausalLM, build_meta_model
from kimi_engine.moe import Experts, MoE
from kimi_engine.paged_cache import PagedLatentCache
from kimi_engine.runner import Chunk, forward_chunks

if TYPE_CHECKING:
    from kimi_engine.weights import Slicer

_SPLIT = r"\.(weight|weight_packed|weight_scale)$"  # 16-bit weights and INT4 words/scales alike
_ROWS = re.compile(r"(q_b_proj|q_proj|kv_b_proj|gate_proj|up_proj)" + _SPLIT)
_COLS = re.compile(r"(o_proj|down_proj)" + _SPLIT)
_ROUTED = re.compile(r"\.mlp\.experts\.\d+\.")


def shard_config(cfg: ModelConfig, world: int, expert_parallel: bool = False) -> ModelConfig:
    """The per-rank model shape: heads and intermediate sizes divided by `world` (under expert
    parallel the routed experts keep their full moe_intermediate: see expert_parallel_experts)."""
    if world < 1:
        raise ValueError(f"need at least one rank, got {world}")
    for name in ("num_attention_heads", "intermediate_size", "moe_intermediate_size"):
        if getattr(cfg, name) % world:
            raise ValueError(f"{name}={getattr(cfg, name)} is not divisible by {world} ranks")
    if expert_parallel and cfg.n_routed_experts % world:
        raise ValueError(f"expert parallel: n_routed_experts={cfg.n_routed_experts} is not divisible by "
                         f"{world} ranks (each rank owns an equal contiguous range); use a rank count "
                         f"that divides it, or tensor parallel (drop --expert-parallel)")
    if cfg.int4 is not None and not expert_parallel and world > 1:
        g, part = cfg.int4.group_size, cfg.moe_intermediate_size // world
        if part % g:
            raise ValueError(
                f"tensor parallel over {world} ranks splits the INT4 experts' moe_intermediate_size="
                f"{cfg.moe_intermediate_size} into parts of {part}, not a multiple of the quantisation "
                f"group size {g} (down_proj is split along its grouped input dim); use a rank count that "
                f"divides {cfg.moe_intermediate_size // g}, or --expert-parallel")
    return dataclasses.replace(cfg, num_attention_heads=cfg.num_attention_heads // world,
                               intermediate_size=cfg.intermediate_size // world,
                               moe_intermediate_size=cfg.moe_intermediate_size // world)


def slicer_for(rank: int, world: int, expert_parallel: bool = False) -> Slicer:
    """weights.Slicer: this rank's rows or columns of the split tensors, None for replicated ones
    (and, under expert parallel, for routed experts: a rank holds its own experts whole)."""
    def part(n: int) -> slice:
        return slice(rank * n // world, (rank + 1) * n // world)

    def slicer(name: str, shape: tuple[int, ...]) -> tuple[slice, ...] | None:
        if expert_parallel and _ROUTED.search(name):
            return None
        if _ROWS.search(name):
            return (part(shape[0]), slice(None))
        if _COLS.search(name):
            return (slice(None), part(shape[1]))
        return None

    return slicer


def expert_parallel_experts(model: KimiForCausalLM, full: ModelConfig, rank: int, world: int,
                            dtype: torch.dtype) -> None:
    """On the meta model of shard_config(full, world): give every MoE layer this rank's experts
    [rank*E/world, (rank+1)*E/world) at full moe_intermediate, and a TP-split shared expert."""
    count = full.n_routed_experts // world
    with torch.device("meta"):
        for block in model.blocks():
            if not isinstance(block.mlp, MoE):
                continue
            block.mlp.experts = Experts(full, rank * count, count).to(dtype)  # int32 words stay int32
            if block.mlp.shared_experts is not None:
                size = full.moe_intermediate_size * full.n_shared_experts // world
                block.mlp.shared_experts = MLP(full.hidden_size, size).requires_grad_(False).to(dtype)


def load_shard(path: str | Path, rank: int, world: int, device: torch.device, dtype: torch.dtype,
               expert_parallel: bool = False) -> KimiForCausalLM:
    """This rank's slice of the model, read straight from the shards."""
    from kimi_engine.weights import load_weights

    full = load_config(path)
    local = shard_config(full, world, expert_parallel)
    if expert_parallel:
        # Built from the TP shape but with full moe_intermediate, so an INT4 layout that TP could
        # not split still builds; the experts and shared expert are then replaced per rank.
        model = build_meta_model(dataclasses.replace(local, moe_intermediate_size=full.moe_intermediate_size), dtype)
        expert_parallel_experts(model, full, rank, world, dtype)
    else:
        model = build_meta_model(local, dtype)
    model.to_empty(device=device)
    model.rotary.reset(local)
    if local.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    load_weights(model, path, local, slicer=slicer_for(rank, world, expert_parallel))
    model.config = full  # the cache and the tokenizer-facing code see the full model
    return model.eval()


def all_reduce(x: torch.Tensor) -> torch.Tensor:
    """Sum x over all ranks in place (the runner's AllReduce under tensor parallel); returns x."""
    dist.all_reduce(x)
    return x


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for the process group's rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_rank(rank: int, world: int, port: int, device_type: str) -> torch.device:
    """Join the process group (NCCL for "cuda", else gloo) and return this rank's device."""
    backend = "nccl" if device_type == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    if device_type == "cuda":
        torch.cuda.set_device(rank)
        return torch.device("cuda", rank)
    return torch.device("cpu")


def _forward_rank(rank: int, world: int, port: int, path: str, steps: list[list[Chunk]], blocks: int,
                  block_size: int, out: str, expert_parallel: bool) -> None:
    device = init_rank(rank, world, port, "cpu")
    try:
        model = load_shard(path, rank, world, device, torch.float32, expert_parallel)
        cache = PagedLatentCache(model.config, blocks, block_size)
        logits = [forward_chunks(model, cache, s, all_reduce) for s in steps]
        if rank == 0:
            torch.save(logits, out)
    finally:
        dist.destroy_process_group()


def tp_forward_cpu(path: str | Path, world: int, steps: list[list[Chunk]], blocks: int = 64,
                   block_size: int = 16, workdir: str | Path | None = None,
                   expert_parallel: bool = False) -> list[torch.Tensor]:
    """Run `steps` (each a ragged batch of chunks) on `world` gloo ranks; rank 0's logits per step.
    A check and benchmark helper: compare with forward_chunks on the unsplit model."""
    import tempfile

    import torch.multiprocessing as mp

    shard_config(load_config(path), world, expert_parallel)  # a bad split fails here, not in a child
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        out = os.path.join(tmp, "logits.pt")
        args = (world, free_port(), str(path), steps, blocks, block_size, out, expert_parallel)
        mp.spawn(_forward_rank, args=args, nprocs=world, join=True)
        return torch.load(out)
