"""Tensor parallelism over N devices of one box with torch.distributed (NCCL on GPU, gloo on CPU).

Split (Megatron style, one all-reduce after attention and one after the MLP of every block):
  attention  q_b_proj / q_proj and kv_b_proj by heads (rows), o_proj by its input columns;
             q_a / kv_a projections and their norms are replicated, so every rank writes the same
             latents into its own copy of the paged cache.
  MLP        dense and shared-expert gate/up by rows, down by columns; routed experts the same,
             along moe_intermediate (the router is replicated, so every rank picks the same experts).
  embeddings, final norm and lm_head are replicated.
Each rank reads only its slices (weights.load_weights' slicer). Rank 0 runs the scheduler and the
HTTP server and broadcasts each step's chunks; the other ranks replay them.
Not done yet: INT4 experts under TP (their `weight_shape` check wants the full shape), expert parallel.
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from .config import ModelConfig, load_config
from .model import KimiForCausalLM, build_meta_model
from .paged_cache import PagedLatentCache
from .runner import Chunk, forward_chunks

_ROWS = re.compile(r"(q_b_proj|q_proj|kv_b_proj|gate_proj|up_proj)\.weight$")
_COLS = re.compile(r"(o_proj|down_proj)\.weight$")


def shard_config(cfg: ModelConfig, world: int) -> ModelConfig:
    """The per-rank model shape: heads and intermediate sizes divided by `world`."""
    if cfg.int4 is not None and world > 1:
        raise ValueError("tensor parallel with INT4 experts is not supported yet; use a 16-bit checkpoint or --gpus 1")
    for name in ("num_attention_heads", "intermediate_size", "moe_intermediate_size"):
        if getattr(cfg, name) % world:
            raise ValueError(f"{name}={getattr(cfg, name)} is not divisible by {world} ranks")
    return dataclasses.replace(cfg, num_attention_heads=cfg.num_attention_heads // world,
                               intermediate_size=cfg.intermediate_size // world,
                               moe_intermediate_size=cfg.moe_intermediate_size // world)


def slicer_for(rank: int, world: int):  # type: ignore[no-untyped-def]
    """weights.Slicer: this rank's rows or columns of the split tensors, None for replicated ones."""
    def part(n: int) -> slice:
        return slice(rank * n // world, (rank + 1) * n // world)

    def slicer(name: str, shape: tuple[int, ...]) -> tuple[slice, ...] | None:
        if _ROWS.search(name):
            return (part(shape[0]), slice(None))
        if _COLS.search(name):
            return (slice(None), part(shape[1]))
        return None

    return slicer


def load_shard(path: str | Path, rank: int, world: int, device: torch.device, dtype: torch.dtype) -> KimiForCausalLM:
    """This rank's slice of the model, read straight from the shards."""
    from .weights import load_weights

    full = load_config(path)
    local = shard_config(full, world)
    model = build_meta_model(local, dtype)
    model.to_empty(device=device)
    model.rotary.reset(local)
    if local.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    load_weights(model, path, local, slicer=slicer_for(rank, world))
    model.config = full  # the cache and the tokenizer-facing code see the full model
    return model.eval()


def all_reduce(x: torch.Tensor) -> torch.Tensor:
    dist.all_reduce(x)
    return x


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _init(rank: int, world: int, port: int, device_type: str) -> torch.device:
    backend = "nccl" if device_type == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    if device_type == "cuda":
        torch.cuda.set_device(rank)
        return torch.device("cuda", rank)
    return torch.device("cpu")


class BroadcastStep:
    """Rank 0's step function: send the chunks to every rank, then run its own shard."""

    def __init__(self, model: KimiForCausalLM, cache: PagedLatentCache) -> None:
        self.model, self.cache = model, cache

    def __call__(self, chunks: Sequence[Chunk]) -> torch.Tensor:
        dist.broadcast_object_list([list(chunks)], src=0)
        return forward_chunks(self.model, self.cache, chunks, all_reduce)

    def stop(self) -> None:
        dist.broadcast_object_list([None], src=0)


def follow(model: KimiForCausalLM, cache: PagedLatentCache) -> None:
    """Ranks > 0: replay rank 0's steps until it sends None."""
    while True:
        box: list[Any] = [None]
        dist.broadcast_object_list(box, src=0)
        if box[0] is None:
            return
        forward_chunks(model, cache, box[0], all_reduce)


def _forward_rank(rank: int, world: int, port: int, path: str, steps: list[list[Chunk]], blocks: int,
                  block_size: int, out: str) -> None:
    device = _init(rank, world, port, "cpu")
    try:
        model = load_shard(path, rank, world, device, torch.float32)
        cache = PagedLatentCache(model.config, blocks, block_size)
        logits = [forward_chunks(model, cache, s, all_reduce) for s in steps]
        if rank == 0:
            torch.save(logits, out)
    finally:
        dist.destroy_process_group()


def tp_forward_cpu(path: str | Path, world: int, steps: list[list[Chunk]], blocks: int = 64,
                   block_size: int = 16, workdir: str | Path | None = None) -> list[torch.Tensor]:
    """Run `steps` (each a ragged batch of chunks) on `world` gloo ranks; rank 0's logits per step.
    A check and benchmark helper: compare with forward_chunks on the unsplit model."""
    import tempfile

    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        out = os.path.join(tmp, "logits.pt")
        mp.spawn(_forward_rank, args=(world, free_port(), str(path), steps, blocks, block_size, out),
                 nprocs=world, join=True)
        return torch.load(out)


def _serve_rank(rank: int, world: int, port: int, path: str, host: str, http_port: int, opts: Any) -> None:
    from .engine import Engine
    from .launch import build_cache, build_server, run_forever
    from .tokenizer import Tokenizer

    device_type = "cuda" if (opts.device or "").startswith("cuda") or (opts.device is None and torch.cuda.is_available()) else "cpu"
    device = _init(rank, world, port, device_type)
    dtype = getattr(torch, opts.dtype) if opts.dtype else (torch.bfloat16 if device_type == "cuda" else torch.float32)
    model = load_shard(path, rank, world, device, dtype)
    engine = Engine(model, Tokenizer.from_pretrained(path), opts.max_seq_len, _extra_eos(path))
    try:
        if rank == 0:
            cache = build_cache(engine, opts)
            dist.broadcast_object_list([cache.num_blocks], src=0)
            step = BroadcastStep(model, cache)
            server = build_server(path, opts, engine=engine, step_fn=step, cache=cache)
            try:
                run_forever(server, host, http_port)
            finally:
                step.stop()
        else:
            box: list[Any] = [None]
            dist.broadcast_object_list(box, src=0)
            follow(model, PagedLatentCache(model.config, box[0], opts.block_size, device, dtype))
    finally:
        dist.destroy_process_group()


def _extra_eos(path: str | Path) -> list[int]:
    import json

    gen = Path(path) / "generation_config.json"
    eos = json.loads(gen.read_text()).get("eos_token_id") if gen.is_file() else None
    return list(eos) if isinstance(eos, list) else ([eos] if isinstance(eos, int) else [])


def serve_tensor_parallel(path: str | Path, host: str, port: int, world: int, opts: Any) -> int:
    """`serve --gpus N`: spawn N ranks (no torchrun needed); rank 0 serves HTTP."""
    import torch.multiprocessing as mp

    if opts.device and opts.device.startswith("cuda") and torch.cuda.device_count() < world:
        raise ValueError(f"--gpus {world} but only {torch.cuda.device_count()} CUDA devices are visible")
    mp.spawn(_serve_rank, args=(world, free_port(), str(path), host, port, opts), nprocs=world, join=True)
    return 0
