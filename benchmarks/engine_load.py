"""Loading a ~2 GB synthetic checkpoint: peak RSS of kimi_engine's loader vs. a naive
load-everything-then-copy baseline, each in a fresh subprocess.

The loader copies each tensor from a mmap'd shard straight into the preallocated model, so the
host memory beyond the model itself ("overhead") should stay near one shard; the naive baseline
holds the whole checkpoint next to the model. On CPU the model's own parameters are of course
resident too, so the target is checked on the overhead (and on the raw peak when loading to CUDA).

    .venv/bin/python benchmarks/engine_load.py [--size-gb 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEXT = {
    "vocab_size": 32000, "hidden_size": 1024, "intermediate_size": 2816, "moe_intermediate_size": 512,
    "num_hidden_layers": 8, "num_attention_heads": 8, "num_key_value_heads": 8, "q_lora_rank": 384,
    "kv_lora_rank": 256, "qk_nope_head_dim": 64, "qk_rope_head_dim": 32, "v_head_dim": 64,
    "n_routed_experts": 80, "n_shared_experts": 1, "num_experts_per_tok": 4, "n_group": 1, "topk_group": 1,
    "routed_scaling_factor": 2.827, "first_k_dense_replace": 1, "rms_norm_eps": 1e-6, "rope_theta": 50000.0,
    "max_position_embeddings": 8192, "eos_token_id": 1,
}


def _rss_now() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def child(mode: str, path: str, device: str) -> None:
    """Runs in a fresh process: load once, report peak RSS (bytes) as JSON."""
    import resource

    import torch
    from kimi_engine.config import load_config
    from kimi_engine.model import build_meta_model, load_model
    from kimi_engine.weights import expected_tensors, shard_map

    cfg = load_config(path)
    build_meta_model(cfg, torch.bfloat16)  # warm up imports/allocator before the baseline
    base = _rss_now()
    t0 = time.perf_counter()
    if mode == "engine":
        model = load_model(path, device=device, dtype=torch.bfloat16)
    else:  # naive: every shard fully in RAM, then copied into the model
        from safetensors.torch import load_file

        state: dict[str, torch.Tensor] = {}
        for file in sorted(set(shard_map(path).values())):
            state.update(load_file(file))
        model = build_meta_model(cfg, torch.bfloat16)
        model.to_empty(device=device)
        for name, target in expected_tensors(model, cfg).items():  # (no grads: requires_grad is off)
            if target.dest is not None:
                target.dest.copy_(state[name])
        del state
    seconds = time.perf_counter() - t0
    params = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))
    on_host = params if torch.device(device).type == "cpu" else 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"mode": mode, "seconds": seconds, "base": base, "peak": peak, "model_on_host": on_host}))


def run(path: Path, mode: str, device: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(path), "--device", device],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=2, metavar=("MODE", "PATH"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--shard-mb", type=int, default=256)
    ap.add_argument("--keep", default=None, help="write/reuse the checkpoint here instead of a temp dir")
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.device)
        return
    from kimi_engine.synthetic import write_random_checkpoint_streaming

    path = Path(args.keep or tempfile.mkdtemp(prefix="kimi-load-"))
    if not (path / "model.safetensors.index.json").exists():
        t0 = time.perf_counter()
        write_random_checkpoint_streaming(path, TEXT, args.shard_mb << 20)
        print(f"wrote checkpoint in {time.perf_counter() - t0:.1f}s")
    shards = sorted(path.glob("*.safetensors"))
    total, largest = sum(f.stat().st_size for f in shards), max(f.stat().st_size for f in shards)
    mb = 1 << 20
    print(f"checkpoint {total / mb:.0f} MiB in {len(shards)} shards, largest {largest / mb:.0f} MiB; device {args.device}")
    print(f"{'loader':8} {'time s':>7} {'peak MiB':>9} {'overhead MiB':>13} {'overhead/largest shard':>24}")
    for mode in ("engine", "naive"):
        r = run(path, mode, args.device)
        overhead = r["peak"] - r["base"] - r["model_on_host"]
        print(f"{mode:8} {r['seconds']:7.2f} {r['peak'] / mb:9.0f} {overhead / mb:13.0f} {overhead / largest:24.2f}")
    print("target: engine overhead <= 1.3 x largest shard (naive holds the whole checkpoint)")
    if not args.keep:
        shutil.rmtree(path)


if __name__ == "__main__":
    main()
