"""The engine's entry points to the kernels: Triton on CUDA tensors, the torch reference elsewhere.

    int4_linear(x, packed, scale, shape)                    x [..., K] -> [..., N]
    fused_moe(hidden, topk_ids, topk_weights, experts, shared_output=None)   -> [T, H]
    mla_decode(q_latent, q_rope, c_kv, k_rope, lengths, softmax_scale)       -> [B, Hq, L]

Shapes and layouts are documented in int4_matmul.py, fused_moe.py (+ experts.py) and
mla_decode.py. Switches, read on every call:
    KIMI_ENGINE_TORCH_OPS=1      torch reference everywhere (debugging a suspected kernel bug)
    KIMI_ENGINE_TRITON_ON_CPU=1  Triton kernels on CPU tensors; needs TRITON_INTERPRET=1 set
                                 before triton is first imported (tests)
    KIMI_ENGINE_AUTOTUNE=1       time each table entry's alternatives on first use (configs.py);
                                 default: the shipped table only, no timing on the request path
Triton is imported only when a kernel is actually used, so this module works where triton is
not installed (CPU-only machines, macOS).
"""

from __future__ import annotations

import functools
import logging

import torch

from kimi_engine.kernels._checks import (
    ACTIVATION_DTYPES,
    check_int4_weight,
    check_mla_inputs,
    check_tensor,
    env_flag,
    torch_ops_forced,
    triton_on_cpu_requested,
)
from kimi_engine.kernels.experts import Int4Experts, check_moe_inputs
from kimi_engine.kernels.reference import (
    fused_moe_reference,
    int4_matmul_reference,
    mla_decode_reference,
)

__all__ = ["Int4Experts", "fused_moe", "int4_linear", "mla_decode", "use_triton"]

_log = logging.getLogger(__name__)


@functools.cache
def _triton_importable() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        _log.warning("triton is not installed: using the (slow) torch reference ops on the GPU")
        return False
    return True


def use_triton(device: torch.device) -> bool:
    """Whether ops on `device` go to the Triton kernels under the current switches."""
    if torch_ops_forced():
        return False
    if device.type == "cuda":
        return _triton_importable()
    if device.type == "cpu" and triton_on_cpu_requested():
        if not env_flag("TRITON_INTERPRET"):
            raise RuntimeError(
                "KIMI_ENGINE_TRITON_ON_CPU=1 needs TRITON_INTERPRET=1 in the environment before "
                "triton is imported (Triton cannot compile for the CPU)"
            )
        return _triton_importable()
    return False


def int4_linear(
    x: torch.Tensor, packed: torch.Tensor, scale: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    """y = x @ W^T for an INT4 pack-quantized W of logical shape (N, K).

    x [..., K] (bf16/fp16/fp32), packed int32 [N, ceil(K/8)], scale [N, ceil(K/32)] -> [..., N]
    in x's dtype. Leading dimensions are flattened (a copy only if x is not viewable as [M, K]).
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 1:
        raise ValueError("x must be a tensor with at least one dimension [..., K]")
    n, k = int(shape[0]), int(shape[1])
    if x.shape[-1] != k:
        raise ValueError(f"x has {x.shape[-1]} features but the weight shape is (N={n}, K={k})")
    lead = x.shape[:-1]
    x2 = x.reshape(-1, k)
    if use_triton(x.device):
        from kimi_engine.kernels.int4_matmul import int4_matmul

        if x2.stride(-1) != 1:
            x2 = x2.contiguous()
        y = int4_matmul(x2, packed, scale, (n, k))
    else:
        check_int4_weight("int4_linear", packed, scale, (n, k))
        check_tensor("x", x2, dtypes=ACTIVATION_DTYPES, last_dim_contiguous=False)
        y = int4_matmul_reference(x2, packed, scale, (n, k))
    return y.reshape(*lead, n)


def fused_moe(
    hidden: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
    experts: Int4Experts,
    shared_output: torch.Tensor | None = None,
) -> torch.Tensor:
    """Routed INT4 experts of one layer (+ shared expert output, if given) -> [T, H].

    hidden [T, H], topk_ids int [T, topk] in [-1, E) (-1 = skip), topk_weights [T, topk] with the
    routed scaling factor already applied, shared_output [T, H] or None. See fused_moe.py.
    """
    if use_triton(hidden.device):
        from kimi_engine.kernels.fused_moe import fused_moe_triton

        return fused_moe_triton(hidden, topk_ids, topk_weights, experts, shared_output)
    check_moe_inputs(hidden, topk_ids, topk_weights, experts, shared_output)
    return fused_moe_reference(hidden, topk_ids, topk_weights, experts, shared_output)


def mla_decode(
    q_latent: torch.Tensor,
    q_rope: torch.Tensor,
    c_kv: torch.Tensor,
    k_rope: torch.Tensor,
    lengths: torch.Tensor,
    softmax_scale: float,
) -> torch.Tensor:
    """Absorbed MLA decode attention -> [B, Hq, kv_lora] (see mla_decode.py for shapes)."""
    if use_triton(q_latent.device):
        from kimi_engine.kernels.mla_decode import mla_decode_triton

        return mla_decode_triton(q_latent, q_rope, c_kv, k_rope, lengths, softmax_scale)
    check_mla_inputs(q_latent, q_rope, c_kv, k_rope, lengths)
    return mla_decode_reference(q_latent, q_rope, c_kv, k_rope, lengths, softmax_scale)
