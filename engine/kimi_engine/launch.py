"""Wiring for `kimi-engine serve`: engine + paged cache + scheduler + HTTP server.

    server = build_server(path, ServeOptions(max_batch=32))
    thread = ServerThread(server, "127.0.0.1", 0)     # or: run_forever(server, host, port)

`serve --gpus N` spawns N ranks (serve_tensor_parallel): each loads its shard (parallel.py, model
code), rank 0 runs the scheduler and the HTTP server and broadcasts each step's chunks
(BroadcastStep), the other ranks replay them (follow_steps). Imports go one way: launch ->
parallel, never back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from kimi_engine import parallel
from kimi_engine.config import load_config
from kimi_engine.engine import Engine, generation_eos_ids
from kimi_engine.model import KimiForCausalLM
from kimi_engine.paged_cache import PagedLatentCache
from kimi_engine.runner import Chunk, decode_graphs, forward_chunks
from kimi_engine.scheduler import SampleHook, Scheduler, StepFn
from kimi_engine.server import EngineServer
from kimi_engine.tokenizer import Tokenizer


@dataclass
class ServeOptions:
    """What `kimi-engine serve` (and `kimi-code serve`) configure: device, cache, batching, auth."""

    device: str | None = "cpu"  # None: cuda when available
    dtype: str | None = None  # float32 | bfloat16 | float16; default fp32 on CPU, bf16 on GPU
    max_seq_len: int = 32768
    block_size: int = 16
    cache_gb: float | None = None  # latent cache memory; default 90% of free GPU memory, 1 GiB on CPU
    max_batch: int = 32
    max_queue: int = 256
    step_tokens: int = 512  # tokens per forward step (decodes + prefill chunks)
    api_key: str | None = None
    model_name: str | None = None
    default_temperature: float = 0.6
    expert_parallel: bool = False  # with gpus > 1: each rank owns E/N whole routed experts (parallel.py)
    shutdown_grace: float = 30.0  # seconds in-flight requests get to finish after SIGTERM


def cache_bytes(opts: ServeOptions, device: torch.device) -> int:
    """The latent cache's memory budget: the flag, else 90% of free GPU memory, else 1 GiB."""
    if opts.cache_gb is not None:
        if opts.cache_gb <= 0:
            raise ValueError(f"--cache-gb must be > 0, got {opts.cache_gb}")
        return int(opts.cache_gb * (1 << 30))
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.9)
    return 1 << 30


def build_cache(engine: Engine, opts: ServeOptions) -> PagedLatentCache:
    """A paged latent cache on the model's device and dtype, as many blocks as cache_bytes allows."""
    cfg, weight = engine.model.config, engine.model.model.embed_tokens.weight
    blocks = PagedLatentCache.blocks_for_memory(cfg, cache_bytes(opts, weight.device), opts.block_size,
                                                weight.element_size())
    return PagedLatentCache(cfg, blocks, opts.block_size, weight.device, weight.dtype)


def build_server(path: str | Path, opts: ServeOptions | None = None, *, sample_hook: SampleHook | None = None,
                 engine: Engine | None = None, step_fn: StepFn | None = None,
                 cache: PagedLatentCache | None = None) -> EngineServer:
    """Load the checkpoint (unless `engine` is given) and start the scheduler thread. `step_fn`
    and `cache` replace the single-process forward (tensor parallel passes its own)."""
    opts = opts or ServeOptions()
    if engine is None:
        dtype = getattr(torch, opts.dtype) if opts.dtype else None
        device = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
        engine = Engine.from_pretrained(path, device=device, dtype=dtype, max_seq_len=opts.max_seq_len)
    cache = cache or build_cache(engine, opts)
    if step_fn is None:
        graphs = None  # KIMI_ENGINE_CUDA_GRAPHS=1 on CUDA: decode steps replay per-bucket graphs
        if cache.kv.is_cuda and os.environ.get("KIMI_ENGINE_CUDA_GRAPHS") == "1":
            graphs = decode_graphs(engine.model, cache, max_context=opts.max_seq_len)

        def step_fn(chunks: Sequence[Chunk]) -> torch.Tensor:
            return forward_chunks(engine.model, cache, chunks, graphs=graphs)

    scheduler = Scheduler(step_fn, cache, engine.stop_ids, max_batch=opts.max_batch, max_queue=opts.max_queue,
                          step_tokens=opts.step_tokens, sample_hook=sample_hook)
    scheduler.start()
    name = opts.model_name or Path(path).resolve().name
    return EngineServer(engine, scheduler, name, api_key=opts.api_key, default_temperature=opts.default_temperature)


def run_forever(server: EngineServer, host: str, port: int, announce: bool = True, grace: float | None = None) -> None:
    """Serve until SIGTERM or SIGINT (Ctrl-C), then shut down gracefully: stop listening, let
    in-flight requests finish for `grace` seconds (default ServeOptions.shutdown_grace), end the
    rest cleanly, stop the scheduler. No traceback either way."""
    grace = ServeOptions.shutdown_grace if grace is None else grace

    async def main() -> None:
        bound = await server.start(host, port)
        if announce:
            print(f"kimi-engine: serving {server.model_name!r} on http://{host}:{bound}/v1", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (ValueError, RuntimeError, NotImplementedError):  # not the main thread / platform
                pass
        await stop.wait()
        print(f"kimi-engine: shutting down ({server.open_connections} connection(s) open, {grace:g}s grace)", file=sys.stderr, flush=True)
        await server.shutdown(grace)
        await loop.run_in_executor(None, server.scheduler.shutdown)  # no step after the loop is gone

    try:
        asyncio.run(main())
    except KeyboardInterrupt:  # a second Ctrl-C, or no signal handler could be installed
        pass
    finally:
        server.scheduler.shutdown()


def serve_main(path: str | Path, host: str = "127.0.0.1", port: int = 8000, gpus: int = 1,
               opts: ServeOptions | None = None) -> int:
    """`serve` entry point: one process for one device, or `gpus` tensor-parallel ranks (routed
    experts split by expert instead of along moe_intermediate when opts.expert_parallel)."""
    opts = opts or ServeOptions()
    opts.api_key = opts.api_key or os.environ.get("KIMI_ENGINE_API_KEY") or None
    if opts.device is None:
        opts.device = "cuda" if torch.cuda.is_available() else "cpu"
    if gpus < 1:
        raise ValueError(f"--gpus must be >= 1, got {gpus}")
    if opts.expert_parallel and gpus < 2:
        raise ValueError("--expert-parallel splits the routed experts over ranks: it needs --gpus 2 or more")
    if gpus > 1:
        return serve_tensor_parallel(path, host, port, gpus, opts)
    run_forever(build_server(path, opts), host, port, grace=opts.shutdown_grace)
    return 0


class BroadcastStep:
    """Rank 0's step function: send the chunks to every rank, then run its own shard."""

    def __init__(self, model: KimiForCausalLM, cache: PagedLatentCache) -> None:
        self.model, self.cache = model, cache

    def __call__(self, chunks: Sequence[Chunk]) -> torch.Tensor:
        """Logits [len(chunks), V] of each chunk's last token (the ranks' partial sums reduced)."""
        dist.broadcast_object_list([list(chunks)], src=0)
        return forward_chunks(self.model, self.cache, chunks, parallel.all_reduce)

    def stop(self) -> None:
        """Tell the other ranks that no step follows."""
        dist.broadcast_object_list([None], src=0)


def follow_steps(model: KimiForCausalLM, cache: PagedLatentCache) -> None:
    """Ranks > 0: replay rank 0's steps until it sends None."""
    while True:
        box: list[Any] = [None]
        dist.broadcast_object_list(box, src=0)
        if box[0] is None:
            return
        forward_chunks(model, cache, box[0], parallel.all_reduce)


def _rank_device_type(opts: ServeOptions) -> str:
    """"cuda" when the ranks serve on GPUs (the flag, else whatever is available), else "cpu"."""
    if (opts.device or "").startswith("cuda") or (opts.device is None and torch.cuda.is_available()):
        return "cuda"
    return "cpu"


def _serve_rank(rank: int, world: int, port: int, path: str, host: str, http_port: int,
                opts: ServeOptions) -> None:
    """One spawned rank of `serve --gpus N`: load the shard, then serve (rank 0) or follow."""
    device_type = _rank_device_type(opts)
    device = parallel.init_rank(rank, world, port, device_type)
    dtype = getattr(torch, opts.dtype) if opts.dtype else (torch.bfloat16 if device_type == "cuda" else torch.float32)
    model = parallel.load_shard(path, rank, world, device, dtype, opts.expert_parallel)
    engine = Engine(model, Tokenizer.from_pretrained(path), opts.max_seq_len, generation_eos_ids(path))
    try:
        if rank == 0:
            cache = build_cache(engine, opts)
            dist.broadcast_object_list([cache.num_blocks], src=0)
            step = BroadcastStep(model, cache)
            server = build_server(path, opts, engine=engine, step_fn=step, cache=cache)
            try:
                run_forever(server, host, http_port, grace=opts.shutdown_grace)
            finally:
                step.stop()
        else:
            box: list[Any] = [None]
            dist.broadcast_object_list(box, src=0)
            follow_steps(model, PagedLatentCache(model.config, box[0], opts.block_size, device, dtype))
    finally:
        dist.destroy_process_group()


def serve_tensor_parallel(path: str | Path, host: str, port: int, world: int, opts: ServeOptions) -> int:
    """`serve --gpus N [--expert-parallel]`: spawn N ranks (no torchrun needed); rank 0 serves HTTP."""
    import torch.multiprocessing as mp

    parallel.shard_config(load_config(path), world, opts.expert_parallel)  # fail before spawning
    if opts.device and opts.device.startswith("cuda") and torch.cuda.device_count() < world:
        raise ValueError(f"--gpus {world} but only {torch.cuda.device_count()} CUDA devices are visible")
    args = (world, parallel.free_port(), str(path), host, port, opts)
    mp.spawn(_serve_rank, args=args, nprocs=world, join=True)
    return 0
