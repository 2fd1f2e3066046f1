"""End-to-end decode on a K2-shaped slice: tokens/s with and without CUDA graphs vs the bandwidth floor.

The slice is the real model's width (hidden 7168, 64 heads, q_lora 1536, kv_lora 512, rope 64,
384 routed experts top-8 + 1 shared, moe_intermediate 2048, INT4 experts) but only --layers
layers (the first dense, the rest MoE) and a --vocab-sized lm_head (the real 163840-row head
would dominate a 2-4 layer slice; in the 61-layer model it is ~4% of the bytes). Random weights
are made in memory on the GPU (nothing is written to disk). Each batch size decodes --steps
tokens per sequence after a --context-token prefill through the paged runner
(runner.forward_chunks), eagerly and then replaying CUDA graphs (runner.decode_graphs), and
prints tokens/s, step time, the step's bytes-moved floor (every weight it reads once: attention,
router, dense/shared MLP, the routed experts the batch touches, the lm_head, plus the latent
cache it attends over) over peak HBM bandwidth, and the % of that floor reached.

    python benchmarks/decode_slice_bench.py [--layers 4] [--batches 1,8] [--steps 32]
    python benchmarks/decode_slice_bench.py --dry-run     # CPU: a tiny slice, checks the logic

Without a GPU it refuses (exit 2) unless --dry-run (tiny widths, CPU, no graphs captured: the
graph path runs eagerly on its padded buffers and must give the eager logits).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

import torch  # noqa: E402

K2 = {
    "vocab_size": 32768, "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
    "num_hidden_layers": 4, "num_attention_heads": 64, "num_key_value_heads": 64, "q_lora_rank": 1536,
    "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
    "n_routed_experts": 384, "n_shared_experts": 1, "num_experts_per_tok": 8, "n_group": 1, "topk_group": 1,
    "routed_scaling_factor": 2.827, "norm_topk_prob": True, "first_k_dense_replace": 1, "moe_layer_freq": 1,
    "hidden_act": "silu", "scoring_func": "sigmoid", "topk_method": "noaux_tc", "rms_norm_eps": 1e-6,
    "rope_theta": 50000.0, "max_position_embeddings": 262144, "tie_word_embeddings": False,
    "rope_scaling": {"type": "yarn", "factor": 64.0, "original_max_position_embeddings": 4096,
                     "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0},
    "bos_token_id": 0, "eos_token_id": 1, "num_nextn_predict_layers": 0,
}
TINY = {**K2, "vocab_size": 512, "hidden_size": 256, "intermediate_size": 512, "moe_intermediate_size": 64,
        "num_attention_heads": 4, "num_key_value_heads": 4, "q_lora_rank": 64, "kv_lora_rank": 64,
        "qk_nope_head_dim": 32, "qk_rope_head_dim": 32, "v_head_dim": 32, "n_routed_experts": 16,
        "num_hidden_layers": 2}


def build_slice(text: dict, device: torch.device, dtype: torch.dtype):
    """KimiForCausalLM with random weights made on `device` (INT4 routed experts, 16-bit rest)."""
    from kimi_engine.config import load_config
    from kimi_engine.model import build_meta_model
    from kimi_engine.synthetic import INT4_QUANTIZATION_CONFIG

    with tempfile.TemporaryDirectory() as tmp:
        cfg_json = {**text, "model_type": "kimi_k2", "architectures": ["DeepseekV3ForCausalLM"],
                    "quantization_config": INT4_QUANTIZATION_CONFIG}
        Path(tmp, "config.json").write_text(json.dumps(cfg_json))
        cfg = load_config(tmp)
    model = build_meta_model(cfg, dtype)
    model.to_empty(device=device)
    model.rotary.reset(cfg)
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if t.dtype == torch.int32:  # packed INT4 words: any bit pattern is a valid weight
                t.copy_(torch.randint(-2**31, 2**31 - 1, t.shape, generator=gen, device=device, dtype=torch.int32))
            elif name.endswith("_scale"):
                t.copy_(torch.rand(t.shape, generator=gen, device=device) * 2e-3 + 1e-3)
            elif "norm" in name:
                t.fill_(1.0)
            elif "correction_bias" in name:
                t.zero_()
            elif t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=gen, device=device) * 0.02)
    model.eval()
    return model, cfg


def floor_bytes(model, cfg, batch: int, context: int) -> float:
    """Bytes one decode step must move at least: all non-routed weights but the embedding
    (one row per token), the routed experts the batch touches (expected distinct ones under
    uniform routing), the latent cache rows attended, and the embedding rows."""
    from kimi_engine.moe import Experts

    # Routed experts are buffers (moe.Experts), not parameters: `dense` is everything else.
    dense = sum(p.numel() * p.element_size() for n, p in model.named_parameters() if "embed_tokens" not in n)
    experts = [m for m in model.modules() if isinstance(m, Experts)]
    routed = 0.0
    for m in experts:
        per_expert = sum(b[0].numel() * b.element_size() for _, b in m.named_buffers())
        e, k = m.count, cfg.num_experts_per_tok
        distinct = e * (1 - (1 - k / e) ** batch)
        routed += distinct * per_expert
    cache = cfg.num_hidden_layers * batch * context * (cfg.kv_lora_rank + cfg.qk_rope_head_dim) * 2
    emb = batch * cfg.hidden_size * 2
    return dense + routed + cache + emb


def decode_run(model, cfg, batch: int, context: int, steps: int, graphs: bool, seed: int = 0):
    """(seconds per step, logits of the last step [B, V]) for `steps` decode steps of `batch` rows."""
    from kimi_engine.paged_cache import PagedLatentCache
    from kimi_engine.runner import Chunk, decode_graphs, forward_chunks

    dev = model.device
    block = 16
    per_seq = math.ceil((context + steps + 2) / block)
    weight = model.model.embed_tokens.weight
    cache = PagedLatentCache(cfg, batch * per_seq + 1, block, dev, weight.dtype)
    tables = [[cache.allocate() for _ in range(per_seq)] for _ in range(batch)]
    gen = torch.Generator().manual_seed(seed)
    prompts = torch.randint(2, cfg.vocab_size, (batch, context), generator=gen).tolist()
    for b in range(batch):  # prefill one sequence at a time (bounded activation memory)
        forward_chunks(model, cache, [Chunk(prompts[b], 0, tables[b])])
    g = decode_graphs(model, cache, batch_buckets=(batch,), max_context=context + steps + 1) if graphs else None
    if g is not None and dev.type == "cuda":
        g.warm_up([g.key_for(batch, context + steps)])
    tokens = [p[-1] for p in prompts]
    logits = None
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for s in range(steps):
        chunks = [Chunk([tokens[b]], context + s, tables[b]) for b in range(batch)]
        logits = forward_chunks(model, cache, chunks, graphs=g)
        tokens = logits.argmax(-1).tolist()
    sync()
    per_step = (time.perf_counter() - t0) / steps
    if g is not None and g.stats.failed:
        print(f"  note: CUDA graph capture failed, ran eagerly: {g.stats.failed}")
    return per_step, logits


def peak_gbs(device: torch.device, override: float | None) -> float:
    if override:
        return override
    if device.type != "cuda":
        return 4800.0
    name = torch.cuda.get_device_name(device)
    table = [("H200", 4800.0), ("H100 NVL", 3900.0), ("H100 PCIe", 2000.0), ("H100", 3350.0), ("H800", 3350.0)]
    return next((g for frag, g in table if frag in name), 3350.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=32768)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--peak-gbs", type=float, default=None)
    ap.add_argument("--dry-run", action="store_true", help="CPU: tiny widths, check the logic")
    args = ap.parse_args(argv)
    if args.dry_run:
        device, dtype, text = torch.device("cpu"), torch.float32, dict(TINY)
        args.context, args.steps = min(args.context, 24), min(args.steps, 3)
    elif not torch.cuda.is_available():
        print("decode_slice_bench needs a CUDA GPU; use --dry-run to check it on the CPU", file=sys.stderr)
        return 2
    else:
        device, dtype = torch.device("cuda"), torch.bfloat16
        text = {**K2, "num_hidden_layers": args.layers, "vocab_size": args.vocab}
    model, cfg = build_slice(text, device, dtype)
    peak = peak_gbs(device, args.peak_gbs)
    print(f"slice: {cfg.num_hidden_layers} layers, hidden {cfg.hidden_size}, {cfg.n_routed_experts} INT4 experts "
          f"top-{cfg.num_experts_per_tok}, vocab {cfg.vocab_size}; context {args.context}; peak {peak:.0f} GB/s")
    print(f"{'B':>3} {'mode':>7} | {'ms/step':>8} {'tok/s':>8} | {'floor ms':>8} {'% floor':>8}")
    for batch in (int(b) for b in args.batches.split(",")):
        floor_ms = floor_bytes(model, cfg, batch, args.context) / (peak * 1e6)
        results = {}
        for graphs in (False, True):
            per_step, logits = decode_run(model, cfg, batch, args.context, args.steps, graphs)
            results[graphs] = logits
            mode = "graphs" if graphs else "eager"
            print(f"{batch:>3} {mode:>7} | {per_step * 1e3:>8.2f} {batch / per_step:>8.1f} | {floor_ms:>8.3f} "
                  f"{100 * floor_ms / (per_step * 1e3):>7.1f}%", flush=True)
        diff = (results[True].float() - results[False].float()).abs().max().item()
        scale = results[False].float().abs().max().item()
        print(f"    graphs vs eager logits: max abs diff {diff:.3g} (scale {scale:.3g})")
        if args.dry_run and diff > 1e-4 * max(scale, 1.0):
            print("dry run: the graph path changed the logits", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
