"""Argument checks and environment switches shared by the kernel wrappers.

Nothing here imports triton, so the torch path works where triton is absent (macOS, Windows).
Errors say what was expected and what was given, so a caller can fix the call site without
reading kernel code.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import torch

ACTIVATION_DTYPES = (torch.bfloat16, torch.float16, torch.float32)
SCALE_DTYPES = (torch.bfloat16, torch.float16, torch.float32)
INDEX_DTYPES = (torch.int32, torch.int64)


def env_flag(name: str) -> bool:
    """True when environment variable `name` is set to 1/true/yes/on (case-insensitive)."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def torch_ops_forced() -> bool:
    """KIMI_ENGINE_TORCH_OPS=1 forces every op onto its torch reference (debugging)."""
    return env_flag("KIMI_ENGINE_TORCH_OPS")


def triton_on_cpu_requested() -> bool:
    """KIMI_ENGINE_TRITON_ON_CPU=1 runs the Triton kernels on CPU tensors (needs TRITON_INTERPRET=1)."""
    return env_flag("KIMI_ENGINE_TRITON_ON_CPU")


def check_tensor(
    name: str,
    t: object,
    *,
    dtypes: Sequence[torch.dtype] | None = None,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    device: torch.device | None = None,
    last_dim_contiguous: bool = True,
    contiguous: bool = False,
) -> torch.Tensor:
    """Validate one kernel argument; raise TypeError/ValueError naming `name` on any mismatch.

    shape entries of None match any size. last_dim_contiguous: stride(-1) must be 1 (the kernels
    take row strides but assume unit stride along the last axis).
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if dtypes is not None and t.dtype not in dtypes:
        allowed = ", ".join(str(d).replace("torch.", "") for d in dtypes)
        raise TypeError(f"{name} must have dtype in ({allowed}), got {str(t.dtype).replace('torch.', '')}")
    if ndim is not None and t.dim() != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(t.shape)}")
    if shape is not None:
        if t.dim() != len(shape) or any(s is not None and s != d for s, d in zip(shape, t.shape, strict=True)):
            want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
            raise ValueError(f"{name} must have shape {want}, got {list(t.shape)}")
    if device is not None and t.device != device:
        raise ValueError(f"{name} is on {t.device} but the other inputs are on {device}")
    if contiguous and not t.is_contiguous():
        raise ValueError(f"{name} must be contiguous (call .contiguous() once at load time)")
    if last_dim_contiguous and t.dim() > 0 and t.shape[-1] > 1 and t.stride(-1) != 1:
        raise ValueError(f"{name} must have unit stride along its last dimension, got strides {t.stride()}")
    return t


def same_device(tensors: Iterable[torch.Tensor]) -> torch.device:
    """The one device all `tensors` live on; ValueError if they disagree."""
    devices = {t.device for t in tensors}
    if len(devices) != 1:
        raise ValueError(f"all inputs must be on one device, got {sorted(str(d) for d in devices)}")
    return devices.pop()


def packed_cols(k: int) -> int:
    """int32 words per row holding K int4 values (8 per word)."""
    return (k + 7) // 8


def scale_cols(k: int) -> int:
    """Scale columns per row for group size 32."""
    return (k + 31) // 32


def require_runnable(device: torch.device, interpreted: bool) -> None:
    """Refuse to launch a Triton kernel where it cannot run, with the fix in the message."""
    # CUDA always runs (the interpreter copies CUDA tensors to the host and back: slow, correct).
    if device.type == "cuda" or (device.type == "cpu" and interpreted):
        return
    if device.type == "cpu":
        raise RuntimeError(
            "Triton kernels were called on CPU tensors but the Triton interpreter is off: set "
            "TRITON_INTERPRET=1 before triton is first imported, or use kimi_engine.kernels.dispatch "
            "(it falls back to the torch reference on CPU)"
        )
    raise RuntimeError(f"Triton kernels support CUDA tensors (or CPU under the interpreter), got {device}")


def check_int4_weight(
    name: str, packed: torch.Tensor, scale: torch.Tensor, shape: tuple[int, int], lead: tuple[int, ...] = ()
) -> tuple[int, int]:
    """Validate packed [*lead, N, ceil(K/8)] int32 and scale [*lead, N, ceil(K/32)]; return (N, K)."""
    if len(shape) != 2 or any(int(s) <= 0 for s in shape):
        raise ValueError(f"{name} shape must be (N, K) with positive sizes, got {tuple(shape)}")
    n, k = int(shape[0]), int(shape[1])
    check_tensor(f"{name} weight_packed", packed, dtypes=(torch.int32,), shape=(*lead, n, packed_cols(k)),
                 contiguous=True)
    check_tensor(f"{name} weight_scale", scale, dtypes=SCALE_DTYPES, shape=(*lead, n, scale_cols(k)),
                 contiguous=True)
    return n, k


def check_mla_inputs(
    q_latent: torch.Tensor,
    q_rope: torch.Tensor,
    c_kv: torch.Tensor,
    k_rope: torch.Tensor,
    lengths: torch.Tensor,
) -> torch.device:
    """Validate MLA decode arguments (shapes in mla_decode.py); return their common device."""
    check_tensor("q_latent", q_latent, dtypes=ACTIVATION_DTYPES, ndim=3)
    b, hq, lat = q_latent.shape
    check_tensor("q_rope", q_rope, dtypes=(q_latent.dtype,), shape=(b, hq, None))
    check_tensor("c_kv", c_kv, dtypes=(q_latent.dtype,), shape=(b, None, lat))
    check_tensor("k_rope", k_rope, dtypes=(q_latent.dtype,), shape=(b, c_kv.shape[1], q_rope.shape[2]))
    check_tensor("lengths", lengths, dtypes=INDEX_DTYPES, shape=(b,))
    device = same_device((q_latent, q_rope, c_kv, k_rope, lengths))
    if device.type == "cpu" and b:
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 0 or hi > c_kv.shape[1]:
            raise ValueError(f"lengths must lie in [0, {c_kv.shape[1]}] (the cache's S), got [{lo}, {hi}]")
    return device
