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
        if t.dim() != len(shape) or any(s is not None and s != d for s, d in zip(shape, t.shape)):
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
