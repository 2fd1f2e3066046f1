"""Host side of split-K: the per-device arrival counters and how many splits a launch gets.

The kernels' epilogue (_int4.split_k_reduce) elects the last split of each output tile with an
arrival counter and re-arms it to 0, so one zeroed counter array per device serves every
launch. Launches are stream-ordered on one stream; concurrent split-K launches on different
streams of one device would share counters and must not use split-K. Warm the engine up before
capturing CUDA graphs, so the array exists before capture (it only grows outside capture).
"""

from __future__ import annotations

import torch

from kimi_engine.kernels import configs

_LOCKS: dict[torch.device, torch.Tensor] = {}
# Programs per SM a split-K launch aims for: enough to cover DRAM latency on Hopper.
PROGRAMS_PER_SM = 4


def locks(device: torch.device, tiles: int) -> torch.Tensor:
    """Zeroed int32 arrival counters, at least `tiles` of them, shared by all calls on `device`."""
    counters = _LOCKS.get(device)
    if counters is None or counters.numel() < tiles:
        counters = torch.zeros(max(tiles, 4096), dtype=torch.int32, device=device)
        _LOCKS[device] = counters
    return counters


def auto_splits(tiles: int, k: int, block_k: int, device: torch.device) -> int:
    """Splits of K so that `tiles` output tiles give ~PROGRAMS_PER_SM programs per SM (>= 1,
    never more than the K loop has blocks)."""
    want = -(-PROGRAMS_PER_SM * configs.sm_count(device) // max(1, tiles))
    return max(1, min(want, -(-k // block_k)))


def split_length(k: int, splits: int, block_k: int) -> tuple[int, int]:
    """(K elements per split, rounded up to whole BLOCK_K; the number of non-empty splits)."""
    per_split = _cdiv(k, max(1, splits))
    per = _cdiv(per_split, block_k) * block_k
    return per, _cdiv(k, per)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)
