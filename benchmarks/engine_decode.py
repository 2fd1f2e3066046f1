"""CPU speed of a small random model: prefill tokens/s, and decode tokens/s of the naive path
(re-expand the whole latent cache through kv_b_proj every step) vs. the weight-absorbed path
(attend directly over the latent cache), side by side at 128, 1k and 4k tokens of context.

    .venv/bin/python benchmarks/engine_decode.py [--threads 1] [--steps 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

TEXT = {  # MLA proportions close to the real model's (kv_lora 4x the per-head nope+v), small widths
    "vocab_size": 4096, "hidden_size": 512, "intermediate_size": 1024, "moe_intermediate_size": 256,
    "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 8, "q_lora_rank": 192,
    "kv_lora_rank": 256, "qk_nope_head_dim": 64, "qk_rope_head_dim": 32, "v_head_dim": 64,
    "n_routed_experts": 8, "n_shared_experts": 1, "num_experts_per_tok": 2, "n_group": 1, "topk_group": 1,
    "routed_scaling_factor": 2.827, "first_k_dense_replace": 1, "rms_norm_eps": 1e-6, "rope_theta": 50000.0,
    "rope_scaling": {"type": "yarn", "factor": 32.0, "original_max_position_embeddings": 4096,
                     "mscale": 1.0, "mscale_all_dim": 1.0},
    "max_position_embeddings": 16384, "eos_token_id": 1,
}


def decode_rate(model: torch.nn.Module, context: int, steps: int, mode: str) -> float:
    """Tokens/s of single-token decode after a `context`-token prefill, in `mode`."""
    model.set_attention_mode("auto")
    cache = model.new_cache(1, context + steps + 1)
    ids = torch.randint(0, TEXT["vocab_size"], (1, context))
    model(ids, cache)
    model.set_attention_mode(mode)
    token = torch.randint(0, TEXT["vocab_size"], (1, 1))
    model(token, cache)  # warm-up step
    t0 = time.perf_counter()
    for _ in range(steps):
        token = model(token, cache)[:, -1].argmax(-1, keepdim=True)
    return steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from kimi_engine import load_model
    from kimi_engine.synthetic import random_state_dict, write_checkpoint

    path = write_checkpoint(tempfile.mkdtemp(prefix="kimi-decode-"), random_state_dict(TEXT, std=0.05), TEXT)
    model = load_model(path)
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M params fp32, "
          f"{args.threads} thread(s), {args.steps} decode steps per point")
    for n in (128, 512):
        ids = torch.randint(0, TEXT["vocab_size"], (1, n))
        model(ids)
        t0 = time.perf_counter()
        model(ids)
        print(f"prefill {n:5d} tokens: {n / (time.perf_counter() - t0):9.1f} tokens/s")
    print(f"{'context':>8} {'naive tok/s':>12} {'absorbed tok/s':>15} {'absorbed/naive':>15}")
    for context in (128, 1024, 4096):
        naive = decode_rate(model, context, args.steps, "naive")
        absorbed = decode_rate(model, context, args.steps, "absorb")
        print(f"{context:8d} {naive:12.1f} {absorbed:15.1f} {absorbed / naive:15.2f}x")


if __name__ == "__main__":
    main()
