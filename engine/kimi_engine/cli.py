"""`kimi-engine` command line: info, generate, convert, synth.

    kimi-engine info PATH                     config summary, parameter counts, per-GPU memory plan
    kimi-engine plan --model PATH [--gpus N] [--gpu-memory GiB]   does it fit: weights per GPU, cache tokens
    kimi-engine generate PATH --prompt TEXT   stream a completion (or a chat turn with --chat)
    kimi-engine convert --int4 SRC DST        quantise routed experts to compressed-tensors INT4
    kimi-engine synth DST                     write a tiny random checkpoint + tokenizer to try these
    kimi-engine serve PATH [--port 8000]      OpenAI-compatible server (continuous batching, --gpus N)

argparse only: the engine distribution does not depend on the agent's CLI stack.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

_DTYPES = ("float32", "bfloat16", "float16")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kimi-engine", description="Embedded Kimi K2.x inference engine")
    sub = p.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="config summary, parameter counts and memory plan (reads no weights)")
    info.add_argument("path")
    info.add_argument("--gpu-gb", type=float, default=80.0, help="memory per GPU for the plan (default 80)")

    _add_plan(sub)
    gen = sub.add_parser("generate", help="generate text from a checkpoint")
    gen.add_argument("path")
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--chat", action="store_true", help="wrap the prompt in the Kimi chat template")
    gen.add_argument("--system", default=None, help="system message (with --chat)")
    think = gen.add_mutually_exclusive_group()
    think.add_argument("--thinking", dest="thinking", action="store_true", default=None)
    think.add_argument("--no-thinking", dest="thinking", action="store_false")
    gen.add_argument("--max-tokens", type=int, default=128)
    gen.add_argument("--temperature", type=float, default=0.0)
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--top-k", type=int, default=0)
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    gen.add_argument("--device", default="cpu")
    gen.add_argument("--dtype", choices=_DTYPES, default=None, help="default: float32 on CPU, bfloat16 on GPU")
    gen.add_argument("--max-seq-len", type=int, default=4096)

    conv = sub.add_parser("convert", help="convert a 16-bit checkpoint")
    conv.add_argument("--int4", action="store_true", required=True, help="quantise routed experts to INT4")
    conv.add_argument("src")
    conv.add_argument("dst")

    syn = sub.add_parser("synth", help="write a tiny random checkpoint (real on-disk format) and tokenizer")
    syn.add_argument("dst")
    syn.add_argument("--int4", action="store_true")
    syn.add_argument("--model-type", choices=("deepseek_v3", "kimi_k2", "kimi_k25"), default="kimi_k2")
    syn.add_argument("--seed", type=int, default=0)
    _add_serve(sub)
    return p


def _add_plan(sub: argparse._SubParsersAction) -> None:
    plan = sub.add_parser("plan", help="does the model fit: weights per GPU, KV bytes per token, cache tokens "
                                       "(reads config.json only); exit 1 when it does not fit")
    plan.add_argument("--model", required=True, metavar="PATH", help="checkpoint directory (or its config.json)")
    plan.add_argument("--gpus", type=int, default=None, help="GPUs to split over (default: the visible CUDA GPUs, else 1)")
    plan.add_argument("--gpu-memory", type=float, default=None, metavar="GiB",
                      help="free memory per GPU (default: the smallest free memory of the visible GPUs)")
    plan.add_argument("--expert-parallel", action="store_true", help="plan for serve --expert-parallel")
    plan.add_argument("--min-cache-tokens", type=int, default=4096, help="cache a fit must leave room for")


def _plan(args: argparse.Namespace) -> int:
    from kimi_engine.config import load_config
    from kimi_engine.plan import GIB, fit, format_fit

    cfg = load_config(args.model)
    visible: list[int] = []  # free bytes of each visible CUDA GPU
    if args.gpu_memory is None or args.gpus is None:
        import torch

        if torch.cuda.is_available():
            visible = [torch.cuda.mem_get_info(i)[0] for i in range(torch.cuda.device_count())]
    gpus = args.gpus or max(1, len(visible))
    if args.gpu_memory is not None:
        if args.gpu_memory <= 0:
            raise ValueError(f"--gpu-memory must be > 0 GiB, got {args.gpu_memory}")
        free: int | None = int(args.gpu_memory * GIB)
    else:
        free = min(visible[:gpus]) if visible else None
        if visible and len(visible) < gpus:
            print(f"kimi-engine: only {len(visible)} CUDA GPU(s) visible; planning {gpus} with their free memory",
                  file=sys.stderr)
    report = fit(cfg, gpus, free, expert_parallel=args.expert_parallel, min_cache_tokens=args.min_cache_tokens)
    print(format_fit(cfg, report))
    return 1 if report.fits is False else 0


def _add_serve(sub: argparse._SubParsersAction) -> None:
    srv = sub.add_parser("serve", help="OpenAI-compatible server with continuous batching and prefix caching")
    srv.add_argument("path")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument("--gpus", type=int, default=1, help="tensor-parallel ranks to spawn (gloo on CPU)")
    srv.add_argument("--expert-parallel", action="store_true",
                     help="with --gpus N: each rank owns E/N whole routed experts instead of a slice of every expert")
    srv.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    srv.add_argument("--dtype", choices=_DTYPES, default=None)
    srv.add_argument("--max-seq-len", type=int, default=32768)
    srv.add_argument("--cache-gb", type=float, default=None, help="latent cache memory (default: 90%% of free GPU memory)")
    srv.add_argument("--block-size", type=int, default=16)
    srv.add_argument("--max-batch", type=int, default=32)
    srv.add_argument("--max-queue", type=int, default=256)
    srv.add_argument("--api-key", default=None, help="require this bearer token (default: $KIMI_ENGINE_API_KEY)")
    srv.add_argument("--model-name", default=None, help="model id served (default: the directory name)")
    srv.add_argument("--shutdown-grace", type=float, default=30.0,
                     help="seconds in-flight requests get to finish on SIGTERM/Ctrl-C (default: 30)")


def _serve(args: argparse.Namespace) -> int:
    from kimi_engine.launch import ServeOptions, serve_main

    opts = ServeOptions(device=args.device, dtype=args.dtype, max_seq_len=args.max_seq_len, cache_gb=args.cache_gb,
                        block_size=args.block_size, max_batch=args.max_batch, max_queue=args.max_queue,
                        api_key=args.api_key, model_name=args.model_name, expert_parallel=args.expert_parallel,
                        shutdown_grace=args.shutdown_grace)
    if args.shutdown_grace < 0:
        raise ValueError(f"--shutdown-grace must be >= 0, got {args.shutdown_grace:g}")
    return serve_main(args.path, args.host, args.port, args.gpus, opts)


def _info(args: argparse.Namespace) -> int:
    from kimi_engine.config import load_config
    from kimi_engine.plan import describe

    print(describe(load_config(args.path), gpu_gb=args.gpu_gb))
    return 0


def _generate(args: argparse.Namespace) -> int:
    import torch

    from kimi_engine.engine import Engine, Finish
    from kimi_engine.sampling import SamplingParams

    dtype = getattr(torch, args.dtype) if args.dtype else None
    start = time.perf_counter()
    engine = Engine.from_pretrained(args.path, device=args.device, dtype=dtype, max_seq_len=args.max_seq_len)
    loaded = time.perf_counter()
    params = SamplingParams(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                            max_tokens=args.max_tokens, stop=args.stop, seed=args.seed)
    count = 0
    if args.chat:
        messages = ([{"role": "system", "content": args.system}] if args.system else [])
        messages.append({"role": "user", "content": args.prompt})
        kind = None
        for event in engine.chat(messages, sampling=params, thinking=args.thinking):
            if isinstance(event, Finish):
                count = event.completion_tokens
                continue
            if event.kind != kind:
                kind = event.kind
                print(f"\n[{kind}] ", end="")
            print(event.text if event.tool_call is None else event.tool_call.to_openai(), end="", flush=True)
        print()
    else:
        for piece in engine.complete(args.prompt, params):
            count += 1
            print(piece, end="", flush=True)
        print()
    done = time.perf_counter()
    rate = count / max(done - loaded, 1e-9)
    print(f"[load {loaded - start:.2f}s, {count} chunks in {done - loaded:.2f}s, {rate:.1f}/s]", file=sys.stderr)
    return 0


def _convert(args: argparse.Namespace) -> int:
    from kimi_engine.convert import convert_int4

    n = convert_int4(args.src, args.dst, progress=lambda m: print(m, file=sys.stderr))
    print(f"quantised {n} expert weights to INT4 into {args.dst}")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from kimi_engine.synthetic import (
        TINY_TEXT_CONFIG,
        quantize_experts,
        random_state_dict,
        train_bpe,
        write_checkpoint,
        write_tokenizer,
    )

    ranks = train_bpe()
    text = {**TINY_TEXT_CONFIG, "vocab_size": len(ranks) + 256, "eos_token_id": len(ranks) + 1}
    state = random_state_dict(text, seed=args.seed)
    if args.int4:
        state, _ = quantize_experts(state)
    write_checkpoint(args.dst, state, text, model_type=args.model_type, int4=args.int4)
    write_tokenizer(args.dst, ranks=ranks)
    print(f"wrote a tiny random {args.model_type} checkpoint{' (INT4 experts)' if args.int4 else ''} to {args.dst}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"info": _info, "plan": _plan, "generate": _generate, "convert": _convert, "synth": _synth, "serve": _serve}
    try:
        return handlers[args.command](args)
    except (ValueError, KeyError, OSError) as e:
        # Config/weights/tokenizer errors are ValueErrors with actionable messages: no traceback.
        print(f"kimi-engine: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
