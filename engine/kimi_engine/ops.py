"""The model's hot operations behind small functions, each with a plain torch path.

The torch paths here are the reference and the CPU path. On devices where
`kimi_engine.kernels.dispatch.use_triton` says so (CUDA tensors; CPU under
KIMI_ENGINE_TRITON_ON_CPU=1 + TRITON_INTERPRET=1 for tests; never with KIMI_ENGINE_TORCH_OPS=1)
the calls go to the Triton kernels instead. The model itself only ever calls these three names:

  int4_linear(x, packed, scale, shape)                     y = x @ dequant(W).T
  moe_experts(x, topk_ids, topk_weights, experts)          routed-expert mixture
  mla_decode_attention(q_latent, q_pe, kv, pe, scale)      absorbed MLA attention for one step
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .kernels import dispatch
from .quant import dequantize_int4


@dataclass
class ExpertWeights:
    """All routed experts of one MoE layer, stacked on dim 0 (E experts).

    Dense (16-bit):  w13 [E, 2I, H] (gate rows then up rows), w2 [E, H, I]; scales are None.
    INT4 packed:     w13 int32 [E, 2I, H/8], w13_scale [E, 2I, H/32],
                     w2  int32 [E, H, I/8],  w2_scale  [E, H, I/32]  (compressed-tensors layout).
    """

    w13: torch.Tensor
    w2: torch.Tensor
    w13_scale: torch.Tensor | None
    w2_scale: torch.Tensor | None
    hidden: int  # H
    intermediate: int  # I

    @property
    def packed(self) -> bool:
        return self.w13_scale is not None

    def dense(self, e: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Expert e's (w13 [2I, H], w2 [H, I]) as dense `dtype` weights (dequantising if packed)."""
        if not self.packed:
            return self.w13[e].to(dtype), self.w2[e].to(dtype)
        h, i = self.hidden, self.intermediate
        w13 = dequantize_int4(self.w13[e], self.w13_scale[e], (2 * i, h), dtype)
        w2 = dequantize_int4(self.w2[e], self.w2_scale[e], (h, i), dtype)
        return w13, w2


def int4_linear(
    x: torch.Tensor, packed: torch.Tensor, scale: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    """x [..., K] @ W.T where W [N, K] = shape is stored packed int32 [N, K/8] with scale [N, K/32].

    Returns [..., N] in x.dtype. Torch path: dequantise to x.dtype, then a dense matmul.
    """
    if dispatch.use_triton(x.device):
        return dispatch.int4_linear(x, packed, scale, shape)
    weight = dequantize_int4(packed, scale, shape, x.dtype)
    return F.linear(x, weight)


def moe_experts(
    x: torch.Tensor,
    topk_ids: torch.Tensor,
    topk_weights: torch.Tensor,
    experts: ExpertWeights,
) -> torch.Tensor:
    """Weighted sum of each token's selected experts.

    x [T, H]; topk_ids int64 [T, k] (-1 skips a slot); topk_weights fp32 [T, k] (already
    normalised and times routed_scaling_factor).
    Each expert is SwiGLU: w2 @ (silu(gate(x)) * up(x)). Returns [T, H] in x.dtype.
    Torch path: group tokens by expert, one dense matmul pair per expert that was hit.
    """
    if experts.packed and dispatch.use_triton(x.device):
        kernel_experts = dispatch.Int4Experts(experts.w13, experts.w13_scale, experts.w2, experts.w2_scale,
                                              experts.hidden, experts.intermediate)
        return dispatch.fused_moe(x, topk_ids, topk_weights, kernel_experts)
    t, k = topk_ids.shape
    n_experts = experts.w13.shape[0]
    out = torch.zeros(t, experts.hidden, dtype=torch.float32, device=x.device)
    # id -1 marks a slot whose expert lives elsewhere (expert parallel): bucket it past the end.
    flat_ids = torch.where(topk_ids < 0, n_experts, topk_ids).reshape(-1)
    order = torch.argsort(flat_ids, stable=True)
    counts = torch.bincount(flat_ids, minlength=n_experts + 1).tolist()
    token_of = order // k  # which token each sorted slot belongs to
    start = 0
    for e, n in enumerate(counts[:n_experts]):
        if n == 0:
            continue
        slots = order[start : start + n]
        tokens = token_of[start : start + n]
        start += n
        w13, w2 = experts.dense(e, x.dtype)
        gate, up = F.linear(x[tokens], w13).chunk(2, dim=-1)
        y = F.linear(F.silu(gate) * up, w2)  # [n, H]
        weight = topk_weights.reshape(-1)[slots].unsqueeze(-1)
        out.index_add_(0, tokens, y.float() * weight)
    return out.to(x.dtype)


def mla_decode_attention(
    q_latent: torch.Tensor,
    q_pe: torch.Tensor,
    kv_latent: torch.Tensor,
    k_pe: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """Weight-absorbed MLA attention of one new token per sequence over its latent cache.

    q_latent [B, Hn, C]  (q_nope already multiplied into the latent space by W_UK)
    q_pe     [B, Hn, R]  (rotated)
    kv_latent [B, T, C]  normalised compressed KV of all T visible tokens (C = kv_lora_rank)
    k_pe      [B, T, R]  rotated shared rope key of all T tokens
    Returns the attention output in latent space [B, Hn, C] (the caller applies W_UV, o_proj).
    """
    if dispatch.use_triton(q_latent.device):
        b, t = kv_latent.shape[:2]
        lengths = torch.full((b,), t, dtype=torch.int32, device=q_latent.device)
        return dispatch.mla_decode(q_latent, q_pe.to(q_latent.dtype), kv_latent.to(q_latent.dtype),
                                   k_pe.to(q_latent.dtype), lengths, scale)
    scores = torch.einsum("bhc,btc->bht", q_latent.float(), kv_latent.float())
    scores = scores + torch.einsum("bhr,btr->bht", q_pe.float(), k_pe.float())
    probs = torch.softmax(scores * scale, dim=-1)
    return torch.einsum("bht,btc->bhc", probs, kv_latent.float()).to(q_latent.dtype)
