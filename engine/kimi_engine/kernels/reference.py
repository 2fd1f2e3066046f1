"""Plain torch references for every kernel in this package (fp32 math, no triton import).

They define what the kernels compute, serve as the CPU path in dispatch.py, and are re-exported
by the kernel modules beside the kernel they specify. Shapes are documented in those modules.
"""

from __future__ import annotations

import torch

from kimi_engine.kernels.experts import Int4Experts
from kimi_engine.quant import dequantize_int4


def int4_matmul_reference(
    x: torch.Tensor, packed: torch.Tensor, scale: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    """Torch reference: x [..., K] @ dequant(W)[N, K]^T -> [..., N] in x.dtype (fp32 math)."""
    w = dequantize_int4(packed, scale, shape, torch.float32)
    return (x.to(torch.float32) @ w.t()).to(x.dtype)


def fused_moe_reference(
    hidden: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
    experts: Int4Experts,
    shared_output: torch.Tensor | None = None,
) -> torch.Tensor:
    """Torch reference (fp32 math, one dequantise per used expert) -> [T, H] in hidden.dtype."""
    h, i = experts.hidden, experts.intermediate
    x = hidden.to(torch.float32)
    out = torch.zeros_like(x)
    for e in torch.unique(topk_ids[topk_ids >= 0]).tolist():
        rows, slots = torch.nonzero(topk_ids == e, as_tuple=True)
        w_gu = dequantize_int4(experts.gate_up_packed[e], experts.gate_up_scale[e], (2 * i, h), torch.float32)
        w_d = dequantize_int4(experts.down_packed[e], experts.down_scale[e], (h, i), torch.float32)
        gate, up = (x[rows] @ w_gu.t()).split(i, dim=1)
        y = (torch.nn.functional.silu(gate) * up) @ w_d.t()
        out.index_add_(0, rows, y * topk_weights[rows, slots].to(torch.float32)[:, None])
    if shared_output is not None:
        out += shared_output.to(torch.float32)
    return out.to(hidden.dtype)


def mla_decode_reference(
    q_latent: torch.Tensor,
    q_rope: torch.Tensor,
    c_kv: torch.Tensor,
    k_rope: torch.Tensor,
    lengths: torch.Tensor,
    softmax_scale: float,
) -> torch.Tensor:
    """The one definition of weight-absorbed MLA attention (what kernels/mla_decode.py computes).

    Decode form (the kernel's), one new token per row:
        q_latent [B, Hq, L], q_rope [B, Hq, R], lengths int [B]          -> [B, Hq, L]
    Prefill form (attention.MLA in "absorb" mode), Sq query positions per row:
        q_latent [B, Sq, Hq, L], q_rope [B, Sq, Hq, R], lengths int [B, Sq] -> [B, Sq, Hq, L]
    Both read c_kv [B, S, L] (normalised latents, also the values) and k_rope [B, S, R] (rotated
    rope keys, shared by all heads); a query sees cache rows 0..length-1 (rows past it may be
    padding; a length of 0 gives zeros). out = softmax(scale * (q_latent.c_kv + q_rope.k_rope))
    @ c_kv, computed in fp32 and returned in q_latent's dtype; the caller applies W_UV, o_proj.
    """
    if q_latent.dim() == 3:  # decode form: one query position per row
        out = mla_decode_reference(q_latent[:, None], q_rope[:, None], c_kv, k_rope, lengths[:, None],
                                   softmax_scale)
        return out[:, 0]
    ckv = c_kv.to(torch.float32)
    scores = torch.einsum("bqhl,bsl->bqhs", q_latent.to(torch.float32), ckv)
    scores = scores + torch.einsum("bqhr,bsr->bqhs", q_rope.to(torch.float32), k_rope.to(torch.float32))
    scores = scores * softmax_scale
    pos = torch.arange(c_kv.shape[1], device=c_kv.device)
    valid = pos[None, None, :] < lengths.to(c_kv.device)[:, :, None]  # [B, Sq, S]
    scores = scores.masked_fill(~valid[:, :, None, :], float("-inf"))
    probs = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # empty rows -> 0, not NaN
    return torch.einsum("bqhs,bsl->bqhl", probs, ckv).to(q_latent.dtype)
