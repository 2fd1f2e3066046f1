"""INT4 kernel benchmark: W4A16 GEMV/GEMM and the fused MoE decode step vs bytes-moved floors.

On a CUDA GPU (the figures issue 8 asks for):
    python benchmarks/kernels_bench.py [--batches 1,4,16,64] [--experts 64] [--peak-gbs 3350]
prints, for the K2 expert shapes (gate/up [2048 x 7168], fused gate_up [4096 x 7168], down
[7168 x 2048]) and each batch: our Triton INT4 kernel, torch bf16 matmul and a torch
dequantise-then-matmul baseline, each as microseconds, effective GB/s (bytes it must move / time)
and % of peak HBM bandwidth, plus the speed-up over bf16; then the fused MoE decode step of one
layer (8 routed experts + shared expert) next to its bytes-moved floor (bytes / peak bandwidth);
then MLA decode over a --context-token latent cache (64 and 8 heads) vs the torch reference.

Timing: every variant runs from a CUDA graph (how a decode engine runs) over enough copies of
the weights (or routings over distinct experts) that the 50 MB L2 cannot serve repeats.

Without a GPU it refuses (exit 2), except with --dry-run: it prints the bytes model and runs
each benchmarked call once in the Triton interpreter (set TRITON_INTERPRET=1), checking it
against the torch reference; --shrink N divides H and I by N to make that quick.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

import torch  # noqa: E402

HIDDEN, INTER, TOPK = 7168, 2048, 8
# Spec HBM bandwidth (GB/s) by device-name fragment; first match wins.
PEAK_GBS = [("H200", 4800.0), ("H100 NVL", 3900.0), ("H100 PCIe", 2000.0), ("H100", 3350.0),
            ("H800", 3350.0), ("A100-SXM4-80GB", 2039.0), ("A100", 1555.0), ("L40S", 864.0)]


def int4_bytes(n: int, k: int) -> int:
    """Bytes of one INT4 weight in the checkpoint layout: packed nibbles + bf16 group scales."""
    return n * ((k + 7) // 8) * 4 + n * ((k + 31) // 32) * 2


def gemv_bytes(m: int, n: int, k: int, weight_bytes: int) -> int:
    """Bytes a y = x @ W^T must move at least: the weight once, x in and y out (16-bit)."""
    return weight_bytes + 2 * m * k + 2 * m * n


def expert_bytes(h: int, i: int) -> int:
    return int4_bytes(2 * i, h) + int4_bytes(h, i)


def moe_floor_bytes(tokens: int, unique_experts: int, h: int, i: int, shared: bool) -> int:
    """Routed experts read once each (+ the bf16 shared expert) + activations in and out."""
    shared_b = 3 * h * i * 2 if shared else 0
    return unique_experts * expert_bytes(h, i) + shared_b + 2 * 2 * tokens * h


# --- timing -----------------------------------------------------------------------------------

def time_graph(fns: list[Callable[[], object]], reps: int = 20) -> float:
    """Mean microseconds per call of `fns`, all captured in one CUDA graph and replayed."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up (and autotuning) outside the capture
        for _ in range(2):
            for f in fns:
                f()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for f in fns:
            f()
    graph.replay()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        graph.replay()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) * 1000.0 / (reps * len(fns))


def run_once(fns: list[Callable[[], object]], reps: int = 0) -> float:
    """Dry run: call the first variant once (exercises the exact call path); no timing."""
    fns[0]()
    return float("nan")


def copies_for(nbytes: int, device: torch.device) -> int:
    """How many distinct copies make a rotation at least 4x larger than L2."""
    if device.type != "cuda":
        return 1
    l2 = getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 50 << 20)
    return max(2, math.ceil(4 * l2 / nbytes))


# --- baselines --------------------------------------------------------------------------------

_SHIFTS: dict[torch.device, torch.Tensor] = {}


def dequant_matmul(x: torch.Tensor, packed: torch.Tensor, scale: torch.Tensor, k: int) -> torch.Tensor:
    """Baseline: unpack to bf16 in torch (graph-safe), then a bf16 matmul."""
    if packed.device not in _SHIFTS:  # created once, outside any graph capture
        _SHIFTS[packed.device] = torch.arange(0, 32, 4, dtype=torch.int32, device=packed.device)
    shifts = _SHIFTS[packed.device]
    q = ((packed.unsqueeze(-1) >> shifts) & 0xF).reshape(packed.shape[0], -1)[:, :k] - 8
    w = (q.view(packed.shape[0], -1, 32).to(x.dtype) * scale.unsqueeze(-1).to(x.dtype)).reshape(q.shape)
    return x @ w.t()


# --- benchmarks -------------------------------------------------------------------------------

def bench_gemv(batches, device, dtype, peak, timer, shrink: int) -> None:
    from kimi_engine.kernels.int4_matmul import int4_matmul, int4_matmul_reference
    from kimi_engine.quant import quantize_int4

    h, i = HIDDEN // shrink, INTER // shrink
    shapes = [("gate/up", i, h), ("gate_up", 2 * i, h), ("down", h, i)]
    print(f"\nINT4 W4A16 matmul ({dtype}, bf16 scales); GB/s = bytes it must move / time")
    print(f"{'shape':>9} {'N x K':>12} {'M':>3} | {'int4 us':>8} {'GB/s':>7} {'%peak':>6} | "
          f"{'bf16 us':>8} {'GB/s':>7} {'%peak':>6} | {'deq+mm us':>9} | {'vs bf16':>7}")
    for name, n, k in shapes:
        p, s = quantize_int4(torch.randn(n, k, device=device) * 0.02)
        s = s.to(torch.bfloat16)
        w16 = torch.randn(n, k, device=device, dtype=dtype) * 0.02
        cq, cw = copies_for(int4_bytes(n, k), device), copies_for(n * k * 2, device)
        packs = [(p.clone(), s.clone()) for _ in range(cq)]
        dense = [w16.clone() for _ in range(cw)]
        for m in batches:
            x = torch.randn(m, k, device=device, dtype=dtype)
            err = rel_err(int4_matmul(x, p, s, (n, k)), int4_matmul_reference(x, p, s, (n, k)))
            err = max(err, rel_err(dequant_matmul(x, p, s, k), int4_matmul_reference(x, p, s, (n, k))))
            t4 = timer([lambda pp=pp, x=x, n=n, k=k: int4_matmul(x, pp[0], pp[1], (n, k)) for pp in packs])
            t16 = timer([lambda w=w, x=x: x @ w.t() for w in dense])
            tdq = timer([lambda pp=pp, x=x, k=k: dequant_matmul(x, pp[0], pp[1], k) for pp in packs])
            b4, b16 = gemv_bytes(m, n, k, int4_bytes(n, k)), gemv_bytes(m, n, k, n * k * 2)
            print(f"{name:>9} {f'{n}x{k}':>12} {m:>3} | {fmt_row(b4, t4, peak)} | {fmt_row(b16, t16, peak)} | "
                  f"{tdq:>9.1f} | {t16 / t4:>6.2f}x   (rel err {err:.1e})")


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """Max abs error over the reference's max magnitude (checks each benchmarked path is right)."""
    want = want.float()
    return (got.float() - want).abs().max().item() / max(want.abs().max().item(), 1e-30)


def fmt_row(nbytes: int, us: float, peak: float) -> str:
    gbs = nbytes / (us * 1e3) if us == us else float("nan")
    return f"{us:>8.1f} {gbs:>7.0f} {100 * gbs / peak:>5.1f}%"


def make_experts(num_experts: int, h: int, i: int, device: torch.device):
    """Random INT4 experts in the checkpoint layout, stacked (values do not matter for speed)."""
    from kimi_engine.kernels.experts import Int4Experts

    def rand(n, k):
        packed = torch.randint(-2**31, 2**31 - 1, (num_experts, n, k // 8), device=device, dtype=torch.int32)
        return packed, torch.rand(num_experts, n, k // 32, device=device, dtype=torch.bfloat16) * 1e-3

    gu, d = rand(2 * i, h), rand(h, i)
    return Int4Experts(gu[0], gu[1], d[0], d[1], h, i)


def bench_moe(token_counts, num_experts, device, dtype, peak, timer, shrink: int) -> None:
    from kimi_engine.kernels.fused_moe import fused_moe_reference, fused_moe_triton

    h, i = HIDDEN // shrink, INTER // shrink
    topk = min(TOPK, num_experts)
    ex = make_experts(num_experts, h, i, device)
    w_gu = torch.randn(2 * i, h, device=device, dtype=dtype) * 0.02  # shared expert, 16-bit
    w_d = torch.randn(h, i, device=device, dtype=dtype) * 0.02
    print(f"\nFused MoE decode step: {num_experts} experts on device, top-{topk} + 1 shared (bf16), "
          f"H={h} I={i}; floor = bytes / peak")
    print(f"{'T':>3} {'experts':>7} | {'routed us':>9} {'floor us':>8} {'ratio':>6} | "
          f"{'step us':>8} {'floor us':>8} {'ratio':>6}")
    for t in token_counts:
        gen = torch.Generator().manual_seed(t)
        routings = []
        for _ in range(4 if device.type == "cuda" else 1):  # distinct experts per replay: no L2 reuse
            ids = torch.stack([torch.randperm(num_experts, generator=gen)[:topk] for _ in range(t)])
            routings.append((ids.to(device, torch.int32), torch.rand(t, topk, device=device)))
        x = torch.randn(t, h, device=device, dtype=dtype)
        ids0, w0 = routings[0]
        err = rel_err(fused_moe_triton(x, ids0, w0, ex), fused_moe_reference(x, ids0, w0, ex))

        def step(ids, w, x=x):
            g, u = (x @ w_gu.t()).chunk(2, dim=-1)
            shared = (torch.nn.functional.silu(g) * u) @ w_d.t()
            return fused_moe_triton(x, ids, w, ex, shared)

        t_routed = timer([lambda r=r, x=x: fused_moe_triton(x, r[0], r[1], ex) for r in routings])
        t_step = timer([lambda r=r: step(*r) for r in routings])
        unique = sum(len(torch.unique(r[0])) for r in routings) / len(routings)
        f_routed = moe_floor_bytes(t, round(unique), h, i, shared=False) / (peak * 1e3)
        f_step = moe_floor_bytes(t, round(unique), h, i, shared=True) / (peak * 1e3)
        print(f"{t:>3} {unique:>7.1f} | {t_routed:>9.1f} {f_routed:>8.1f} {t_routed / f_routed:>5.2f}x | "
              f"{t_step:>8.1f} {f_step:>8.1f} {t_step / f_step:>5.2f}x   (rel err {err:.1e})")


def bench_mla(batches, context: int, heads: int, device, dtype, peak, timer, shrink: int) -> None:
    """MLA decode (absorbed, over the latent cache) at K2 sizes: kv_lora 512, rope 64, `heads`
    query heads on this rank (64 = TP1, 8 = TP8). Floor = the cache rows it must read / peak."""
    from kimi_engine.kernels.mla_decode import mla_decode_reference, mla_decode_triton

    lat, rope, s = 512 // shrink, 64 // shrink, context
    scale = 1.0 / math.sqrt(192)
    print(f"\nMLA decode: {heads} heads, kv_lora {lat}, rope {rope}, context {s} (every row full); "
          "GB/s = cache bytes read / time")
    print(f"{'B':>3} | {'triton us':>9} {'GB/s':>7} {'%peak':>6} | {'torch us':>9} | {'vs torch':>8}")
    for b in batches:
        q = torch.randn(b, heads, lat, device=device, dtype=dtype)
        qr = torch.randn(b, heads, rope, device=device, dtype=dtype)
        nbytes = b * s * (lat + rope) * (2 if dtype != torch.float32 else 4)
        caches = [(torch.randn(b, s, lat, device=device, dtype=dtype), torch.randn(b, s, rope, device=device, dtype=dtype))
                  for _ in range(copies_for(nbytes, device))]
        lengths = torch.full((b,), s, device=device, dtype=torch.int32)
        ckv, kr = caches[0]
        err = rel_err(mla_decode_triton(q, qr, ckv, kr, lengths, scale),
                      mla_decode_reference(q, qr, ckv, kr, lengths, scale))
        args = (q, qr, lengths)
        tt = timer([lambda c=c, a=args: mla_decode_triton(a[0], a[1], c[0], c[1], a[2], scale) for c in caches])
        tr = timer([lambda c=c, a=args: mla_decode_reference(a[0], a[1], c[0], c[1], a[2], scale) for c in caches])
        print(f"{b:>3} | {fmt_row(nbytes, tt, peak)} | {tr:>9.1f} | {tr / tt:>7.2f}x"
              f"   (rel err {err:.1e})")


def peak_bandwidth(device: torch.device, override: float | None) -> tuple[float, str]:
    """(GB/s, where it came from): --peak-gbs, the spec table, or a measured device copy."""
    if override:
        return override, "--peak-gbs"
    if device.type != "cuda":
        return 3350.0, "H100 SXM spec (dry run)"
    name = torch.cuda.get_device_name(device)
    for frag, gbs in PEAK_GBS:
        if frag in name:
            return gbs, f"spec for {name}"
    buf = torch.empty(1 << 30, dtype=torch.uint8, device=device)
    out = torch.empty_like(buf)
    us = time_graph([lambda: out.copy_(buf)])
    return 2 * buf.numel() / (us * 1e3), f"measured 1 GiB copy on {name} (unknown spec)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="no GPU: bytes model + one interpreted run")
    ap.add_argument("--batches", default="1,4,16,64", help="GEMV/GEMM batch sizes (comma-separated)")
    ap.add_argument("--tokens", default="1,4,16", help="MoE decode token counts")
    ap.add_argument("--experts", type=int, default=64, help="experts resident for the MoE step")
    ap.add_argument("--peak-gbs", type=float, default=None, help="peak HBM GB/s (default: spec table)")
    ap.add_argument("--shrink", type=int, default=1, help="divide H and I by this (dry runs)")
    ap.add_argument("--context", type=int, default=4096, help="MLA decode context length")
    ap.add_argument("--mla-heads", default="64,8", help="MLA query heads per rank (64 = TP1, 8 = TP8)")
    args = ap.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    tokens = [int(t) for t in args.tokens.split(",")]
    args.mla_heads = [int(h) for h in args.mla_heads.split(",")] if args.mla_heads else []
    if args.dry_run:
        if os.environ.get("TRITON_INTERPRET") != "1":
            print("--dry-run runs the kernels in the Triton interpreter: set TRITON_INTERPRET=1", file=sys.stderr)
            return 2
        device, dtype, timer = torch.device("cpu"), torch.float32, run_once
    elif not torch.cuda.is_available():
        print("kernels_bench needs a CUDA GPU (none found). Use --dry-run with TRITON_INTERPRET=1 "
              "to check the script's logic on the CPU.", file=sys.stderr)
        return 2
    else:
        device, dtype, timer = torch.device("cuda"), torch.bfloat16, time_graph
    peak, source = peak_bandwidth(device, args.peak_gbs)
    print(f"device: {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu (dry run)'}; "
          f"peak HBM {peak:.0f} GB/s ({source})")
    print("bytes model (K2 shapes): INT4 gate_up+down per expert "
          f"{expert_bytes(HIDDEN, INTER) / 1e6:.1f} MB; decode step floor at T=1 (8 experts + shared) "
          f"{moe_floor_bytes(1, TOPK, HIDDEN, INTER, True) / 1e6:.1f} MB = "
          f"{moe_floor_bytes(1, TOPK, HIDDEN, INTER, True) / (peak * 1e3):.1f} us")
    bench_gemv(batches, device, dtype, peak, timer, args.shrink)
    bench_moe(tokens, args.experts, device, dtype, peak, timer, args.shrink)
    for heads in args.mla_heads:
        bench_mla(batches, args.context, heads, device, dtype, peak, timer, args.shrink)
    return 0


if __name__ == "__main__":
    sys.exit(main())
