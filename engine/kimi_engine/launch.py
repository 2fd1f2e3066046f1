"""Wiring for `kimi-engine serve`: engine + paged cache + scheduler + HTTP server.

    server = build_server(path, ServeOptions(max_batch=32))
    thread = ServerThread(server, "127.0.0.1", 0)     # or: run_forever(server, host, port)
"""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from .engine import Engine
from .paged_cache import PagedLatentCache
from .runner import forward_chunks
from .scheduler import SampleHook, Scheduler, StepFn
from .server import EngineServer


@dataclass
class ServeOptions:
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
        def step_fn(chunks):  # type: ignore[no-untyped-def]
            return forward_chunks(engine.model, cache, chunks)

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
    import os

    opts = opts or ServeOptions()
    opts.api_key = opts.api_key or os.environ.get("KIMI_ENGINE_API_KEY") or None
    if opts.device is None:
        opts.device = "cuda" if torch.cuda.is_available() else "cpu"
    if gpus < 1:
        raise ValueError(f"--gpus must be >= 1, got {gpus}")
    if opts.expert_parallel and gpus < 2:
        raise ValueError("--expert-parallel splits the routed experts over ranks: it needs --gpus 2 or more")
    if gpus > 1:
        from .parallel import serve_tensor_parallel

        return serve_tensor_parallel(path, host, port, gpus, opts)
    run_forever(build_server(path, opts), host, port, grace=opts.shutdown_grace)
    return 0
