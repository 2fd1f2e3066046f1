"""Launch configurations and a benchmark-once autotuner for the kernels in this package.

Three tables: Hopper (sm_90: H100/H200, 132 SMs, ~3.35-4.8 TB/s HBM), a conservative default for
every other GPU, and one for the Triton interpreter (large blocks, because the interpreter pays per
program, not per element). On a GPU the first call for a given (kernel, shape key) times each
candidate with triton.testing.do_bench on the real arguments and caches the winner in-process;
KIMI_ENGINE_AUTOTUNE=0 skips timing and uses the first (heuristic) candidate. Timing is skipped
while a CUDA graph is being captured, so warm the engine up before capturing.

A config is a plain dict of constexpr block sizes plus "num_warps" / "num_stages".
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import torch

Config = dict[str, int]
_log = logging.getLogger(__name__)

_LAUNCH_KEYS = ("num_warps", "num_stages")


def split_launch(cfg: Config) -> tuple[dict[str, int], dict[str, int]]:
    """(constexpr meta-parameters, launch options) from one config dict."""
    meta = {k: v for k, v in cfg.items() if k not in _LAUNCH_KEYS}
    opts = {k: v for k, v in cfg.items() if k in _LAUNCH_KEYS}
    return meta, opts


def _cfg(num_warps: int = 4, num_stages: int = 2, **meta: int) -> Config:
    return {**meta, "num_warps": num_warps, "num_stages": num_stages}


def arch_of(device: torch.device, interpreted: bool) -> str:
    """'interp' under TRITON_INTERPRET, 'sm90' on Hopper, 'default' on any other GPU."""
    if interpreted or device.type != "cuda":
        return "interp"
    major, minor = torch.cuda.get_device_capability(device)
    return "sm90" if (major, minor) == (9, 0) else "default"


def sm_count(device: torch.device) -> int:
    """Streaming multiprocessors on `device` (132 on H100 SXM); 1 off-GPU."""
    if device.type != "cuda":
        return 1
    return torch.cuda.get_device_properties(device).multi_processor_count


# --- candidate tables -----------------------------------------------------------------------

_INTERP: dict[str, list[Config]] = {
    "w4a16": [_cfg(BLOCK_N=128, BLOCK_K=256, SPLIT_K=1, GEMM_BLOCK_M=32)],
    "moe_gate_up_decode": [_cfg(BLOCK_N=128, BLOCK_K=256)],
    "moe_down_decode": [_cfg(BLOCK_N=256, BLOCK_K=256)],
    "moe_gate_up_grouped": [_cfg(BLOCK_N=64, BLOCK_K=128)],
    "moe_down_grouped": [_cfg(BLOCK_N=128, BLOCK_K=128)],
    "mla_decode": [_cfg(BLOCK_H=16, BLOCK_S=64)],
}

_HOPPER: dict[str, list[Config]] = {
    # Decode GEMV: many small-N tiles + split-K so ~4+ programs per SM keep HBM busy.
    "w4a16": [
        _cfg(BLOCK_N=bn, BLOCK_K=bk, SPLIT_K=0, GEMM_BLOCK_M=64, num_warps=4, num_stages=st)
        for bn in (32, 64) for bk in (128, 256) for st in (3, 4)
    ],
    "w4a16_gemm": [
        _cfg(BLOCK_N=128, BLOCK_K=64, SPLIT_K=1, GEMM_BLOCK_M=128, num_warps=8, num_stages=4),
        _cfg(BLOCK_N=128, BLOCK_K=64, SPLIT_K=1, GEMM_BLOCK_M=64, num_warps=4, num_stages=4),
        _cfg(BLOCK_N=64, BLOCK_K=64, SPLIT_K=1, GEMM_BLOCK_M=64, num_warps=4, num_stages=4),
        _cfg(BLOCK_N=256, BLOCK_K=64, SPLIT_K=1, GEMM_BLOCK_M=128, num_warps=8, num_stages=3),
    ],
    "moe_gate_up_decode": [
        _cfg(BLOCK_N=bn, BLOCK_K=bk, num_warps=4, num_stages=st)
        for bn in (16, 32, 64) for bk in (128, 256) for st in (3,)
    ],
    "moe_down_decode": [
        _cfg(BLOCK_N=bn, BLOCK_K=bk, num_warps=4, num_stages=3) for bn in (16, 32, 64) for bk in (128, 256)
    ],
    "moe_gate_up_grouped": [
        _cfg(BLOCK_N=64, BLOCK_K=64, num_warps=4, num_stages=4),
        _cfg(BLOCK_N=128, BLOCK_K=64, num_warps=8, num_stages=4),
        _cfg(BLOCK_N=64, BLOCK_K=128, num_warps=4, num_stages=3),
    ],
    "moe_down_grouped": [
        _cfg(BLOCK_N=128, BLOCK_K=64, num_warps=4, num_stages=4),
        _cfg(BLOCK_N=128, BLOCK_K=64, num_warps=8, num_stages=4),
        _cfg(BLOCK_N=64, BLOCK_K=128, num_warps=4, num_stages=3),
    ],
    "mla_decode": [
        _cfg(BLOCK_H=16, BLOCK_S=32, num_warps=4, num_stages=2),
        _cfg(BLOCK_H=16, BLOCK_S=64, num_warps=4, num_stages=2),
        _cfg(BLOCK_H=32, BLOCK_S=32, num_warps=8, num_stages=2),
        _cfg(BLOCK_H=64, BLOCK_S=32, num_warps=8, num_stages=1),
    ],
}

_DEFAULT: dict[str, list[Config]] = {
    "w4a16": [_cfg(BLOCK_N=64, BLOCK_K=128, SPLIT_K=0, GEMM_BLOCK_M=64, num_warps=4, num_stages=2)],
    "w4a16_gemm": [_cfg(BLOCK_N=64, BLOCK_K=64, SPLIT_K=1, GEMM_BLOCK_M=64, num_warps=4, num_stages=2)],
    "moe_gate_up_decode": [_cfg(BLOCK_N=32, BLOCK_K=128, num_warps=4, num_stages=2)],
    "moe_down_decode": [_cfg(BLOCK_N=32, BLOCK_K=128, num_warps=4, num_stages=2)],
    "moe_gate_up_grouped": [_cfg(BLOCK_N=64, BLOCK_K=64, num_warps=4, num_stages=2)],
    "moe_down_grouped": [_cfg(BLOCK_N=64, BLOCK_K=64, num_warps=4, num_stages=2)],
    "mla_decode": [_cfg(BLOCK_H=16, BLOCK_S=32, num_warps=4, num_stages=1)],
}


def candidates(kernel: str, arch: str) -> list[Config]:
    """Candidate configs for `kernel` on `arch` ('interp' | 'sm90' | 'default'), best guess first."""
    table = {"interp": _INTERP, "sm90": _HOPPER}.get(arch, _DEFAULT)
    if kernel not in table:
        if arch == "interp" and kernel == "w4a16_gemm":
            return [dict(c) for c in _INTERP["w4a16"]]
        raise KeyError(f"no launch configs for kernel {kernel!r} on {arch}")
    return [dict(c) for c in table[kernel]]


# --- benchmark-once autotuner ---------------------------------------------------------------

_TUNED: dict[tuple, Config] = {}


def autotune_enabled() -> bool:
    """KIMI_ENGINE_AUTOTUNE=0 disables timing (the first candidate is used)."""
    return os.environ.get("KIMI_ENGINE_AUTOTUNE", "1").strip().lower() not in {"0", "false", "no", "off"}


def choose(
    kernel: str,
    device: torch.device,
    interpreted: bool,
    key: tuple,
    launch: Callable[[Config], object],
    fixup: Callable[[Config], Config] | None = None,
) -> Config:
    """Pick the config for `kernel` at shape `key`; time candidates once per key on a GPU.

    launch(cfg) must run the kernel with cfg and be safe to repeat (it only writes outputs).
    fixup(cfg) fills shape-dependent fields (e.g. SPLIT_K) before a config is timed or used.
    """
    arch = arch_of(device, interpreted)
    cands = [fixup(c) if fixup else c for c in candidates(kernel, arch)]
    if arch == "interp" or len(cands) == 1 or not autotune_enabled():
        return cands[0]
    if torch.cuda.is_current_stream_capturing():
        return _TUNED.get((kernel, arch, key), cands[0])
    tuned = _TUNED.get((kernel, arch, key))
    if tuned is not None:
        return tuned
    from triton.testing import do_bench

    best, best_ms = cands[0], float("inf")
    for cfg in cands:
        try:
            ms = do_bench(lambda cfg=cfg: launch(cfg), warmup=5, rep=25)
        except Exception as exc:  # a config can exceed shared memory/registers on some GPUs
            _log.debug("config %s for %s failed: %s", cfg, kernel, exc)
            continue
        if ms < best_ms:
            best, best_ms = cfg, ms
    _TUNED[(kernel, arch, key)] = best
    return best


def shipped(family: str) -> dict[str, list[tuple[str, Config]]]:
    """(label, config) pairs per kernel shipped for `family` (TEMPORARY: old candidate tables)."""
    table = {"sm90": _HOPPER, "default": _DEFAULT}[family]
    return {k: [(f"c{i}", dict(c)) for i, c in enumerate(v)] for k, v in table.items()}
