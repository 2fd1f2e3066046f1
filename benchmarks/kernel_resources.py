"""Compile every shipped kernel config for Hopper (sm_90a) offline and print its resources.

No GPU needed: each Triton kernel is compiled with `triton.compile(ASTSource(...),
target=GPUTarget("cuda", 90, 32))` exactly as a launch on an H100/H200 would compile it (pointer
arguments 16-byte aligned, the sizes and strides of the K2 shapes divisible by 16). Then the PTX
goes through Triton's own ptxas with `-v` (registers, spill stores/loads, stack frame) and the
cubin through Triton's bundled `cuobjdump --dump-resource-usage` (registers as linked); shared
memory is the dynamic allocation Triton launches with.

    python benchmarks/kernel_resources.py [--family sm90|default] [--kernel NAME] [--json FILE]

One row per (kernel, token bucket, variant): REG, spill bytes (stores + loads), stack, shared
memory, and how many blocks of it fit on one SM by registers and by shared memory (H100: 64K
registers and 227 KB shared memory per SM). Exit status 1 if any config spills, so CI can use
it as a check; TRITON_INTERPRET must be unset (the interpreter cannot compile).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

REGS_PER_SM = 65536
SMEM_PER_SM = 227 * 1024
# Pointer element types by argument name (the bf16 serving configuration).
PTR_TYPES = {
    "p_ptr": "*i32", "ws_ptr": "*fp32", "lock_ptr": "*i32", "ids_ptr": "*i32", "w_ptr": "*fp32",
    "sorted_ptr": "*i32", "block_expert_ptr": "*i32", "len_ptr": "*i32", "lse_ptr": "*fp32",
}
# Integer arguments that are not multiples of 16 in general (everything else is, at K2 shapes).
UNALIGNED = {"M", "TOPK", "NUM_PAIRS", "SPLITS", "SPLIT_LEN", "HQ", "R"}


@dataclass(frozen=True)
class Resources:
    """What ptxas and cuobjdump report for one compiled variant."""

    kernel: str
    bucket: str
    variant: str
    config: str
    registers: int
    spill_bytes: int
    stack_bytes: int
    shared_bytes: int
    blocks_by_regs: int
    blocks_by_smem: int


def _nvidia_bin(name: str) -> str:
    import triton

    return os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", name)


def _signature(fn, constexprs: dict, ptr_overrides: dict) -> tuple[dict, dict]:
    """(signature, attrs) for ASTSource: bf16 pointers unless listed, i32 scalars, 16-divisible hints."""
    sig, attrs = {}, {}
    for idx, name in enumerate(fn.arg_names):
        if name in constexprs:
            sig[name] = "constexpr"
        elif name.endswith("_ptr"):
            sig[name] = ptr_overrides.get(name, PTR_TYPES.get(name, "*bf16"))
            attrs[(idx,)] = [["tt.divisibility", 16]]
        else:
            sig[name] = "i32"
            if name not in UNALIGNED:
                attrs[(idx,)] = [["tt.divisibility", 16]]
    return sig, attrs


def _ptxas_report(ptx: str) -> tuple[int, int, int]:
    """(registers, spill store + load bytes, stack frame bytes) from Triton's ptxas -v for sm_90a."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "k.ptx")
        src.write_text(ptx)
        log = subprocess.run([_nvidia_bin("ptxas-blackwell"), "-lineinfo", "-v", "--regAllocOptLevel=2",
                              "--gpu-name=sm_90a", str(src), "-o", str(Path(tmp, "k.cubin"))],
                             capture_output=True, text=True, check=True).stderr
    regs = int(re.search(r"Used (\d+) registers", log).group(1))
    stack = int(re.search(r"(\d+) bytes stack frame", log).group(1))
    spills = sum(int(v) for v in re.findall(r"(\d+) bytes spill (?:stores|loads)", log))
    return regs, spills, stack


def _cuobjdump_regs(cubin: bytes) -> int:
    """REG of the kernel in the linked cubin (cross-checks the ptxas figure)."""
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        out = subprocess.run([_nvidia_bin("cuobjdump"), "--dump-resource-usage", f.name],
                             capture_output=True, text=True, check=True).stdout
    return int(re.search(r"REG:(\d+)", out).group(1))


def measure(v) -> Resources:
    """Compile one variant (a compile_plan.CompileVariant) for sm_90a and read its resources."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    sig, attrs = _signature(v.fn, v.constexprs, v.ptr_overrides)
    src = ASTSource(fn=v.fn, signature=sig, constexprs=v.constexprs, attrs=attrs)
    ck = triton.compile(src, target=GPUTarget("cuda", 90, 32),
                        options={"num_warps": v.num_warps, "num_stages": v.num_stages})
    regs, spills, stack = _ptxas_report(ck.asm["ptx"])
    linked = _cuobjdump_regs(ck.asm["cubin"])
    if linked != regs:
        print(f"note: {v.kernel} ptxas says {regs} registers, cuobjdump {linked}", file=sys.stderr)
    # Registers are allocated per warp in units of 256 (8 per thread, rounded up).
    per_warp = ((max(regs, 1) * 32 + 255) // 256) * 256
    by_regs = REGS_PER_SM // (per_warp * v.num_warps)
    shared = int(ck.metadata.shared)
    by_smem = SMEM_PER_SM // shared if shared else 32
    cfg = " ".join(f"{k}={val}" for k, val in v.constexprs.items() if k.startswith("BLOCK") or k == "SPLIT_K")
    cfg += f" w{v.num_warps} s{v.num_stages}"
    return Resources(v.kernel, v.bucket, v.label, cfg, regs, spills, stack, shared, by_regs, min(by_smem, 32))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--family", default="sm90", help="GPU family table to compile (sm90 | default)")
    ap.add_argument("--kernel", default=None, help="only this kernel (e.g. w4a16, moe_gate_up_grouped)")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET") == "1":
        print("kernel_resources compiles for sm_90a: unset TRITON_INTERPRET", file=sys.stderr)
        return 2
    from kimi_engine.kernels.compile_plan import variants

    rows = []
    print(f"{'kernel':<20} {'bucket':>7} {'variant':<12} {'config':<44} {'REG':>4} {'spill':>6} "
          f"{'stack':>5} {'smem KB':>7} {'blk/SM r':>8} {'blk/SM s':>8}")
    for v in variants(args.family):
        if args.kernel and v.kernel != args.kernel:
            continue
        r = measure(v)
        rows.append(r)
        print(f"{r.kernel:<20} {r.bucket:>7} {r.variant:<12} {r.config:<44} {r.registers:>4} {r.spill_bytes:>6} "
              f"{r.stack_bytes:>5} {r.shared_bytes / 1024:>7.1f} {r.blocks_by_regs:>8} {r.blocks_by_smem:>8}",
              flush=True)
    spilling = [r for r in rows if r.spill_bytes]
    print(f"\n{len(rows)} variants compiled for sm_90a; {len(spilling)} spill "
          f"(max {max((r.spill_bytes for r in rows), default=0)} B/thread); max shared memory "
          f"{max((r.shared_bytes for r in rows), default=0) / 1024:.1f} KB; max registers "
          f"{max((r.registers for r in rows), default=0)}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return 1 if spilling else 0


if __name__ == "__main__":
    sys.exit(main())
