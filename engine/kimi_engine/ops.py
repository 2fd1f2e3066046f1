"""The model's hot operations behind small functions, each with a plain torch path.

The torch paths here are the reference and the CPU path. On devices where
`kimi_engine.kernels.dispatch.use_triton` says so (CUDA tensors; CPU under
KIMI_ENGINE_TRITON_ON_CPU=1 + TRITON_INTERPRET=1 for tests; never with KIMI_ENGINE_TORCH_OPS=1)
the calls go to the Triton kernels instead. The model itself only ever calls these three names:

  int4_linear(x, packed, scale, shape)                            y = x @ dequant(W).T
  moe_experts(x, topk_ids, topk_weights, experts)                 routed-expert mixture
  mla_absorbed_attention(q_latent, q_pe, kv, pe, lengths, scale)  absorbed MLA attention

The MLA torch path is kernels/reference.py's mla_decode_reference, the same function the kernel's
tests compare against (one definition of the absorbed softmax).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from kimi_engine.kernels import dispatch
from kimi_engine.kernels.reference import mla_decode_reference
from kimi_engine.quant import dequantize_int4


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
        """True for INT4 pack-quantized experts (scales present)."""
        return self.w13_scale is not None

    def dense(self, e: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Expert e's (w13 [2I, H], w2 [H, I]) as dense `dtype` weights (dequantising if packed)."""
        if self.w13_scale is None or self.w2_scale is None:  # 16-bit experts
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
    w13_scale, w2_scale = experts.w13_scale, experts.w2_scale
    if w13_scale is not None and w2_scale is not None and dispatch.use_triton(x.device):
        kernel_experts = dispatch.Int4Experts(experts.w13, w13_scale, experts.w2, w2_scale,
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


def mla_absorbed_attention(
    q_latent: torch.Tensor,
    q_pe: torch.Tensor,
    kv_latent: torch.Tensor,
    k_pe: torch.Tensor,
    lengths: torch.Tensor,
    scale: float,
) -> torch.Tensor:
    """Weight-absorbed MLA attention of Sq query positions per row over its latent cache.

    q_latent  [B, Sq, Hn, C]  q_nope already multiplied into the latent space by W_UK
    q_pe      [B, Sq, Hn, R]  rotated
    kv_latent [B, T, C]       normalised compressed KV of the cache rows (C = kv_lora_rank)
    k_pe      [B, T, R]       rotated shared rope key of the cache rows
    lengths   int [B, Sq]     query (b, q) sees rows 0..lengths[b, q]-1 (later rows may be padding)
    Returns the attention output in latent space [B, Sq, Hn, C] (the caller applies W_UV, o_proj).
    Single-token decodes (Sq == 1) go through dispatch (the Triton kernel where selected); longer
    query runs (prefill in "absorb" mode) use the torch reference, there is no prefill kernel.
    """
    if q_latent.shape[1] != 1:
        return mla_decode_reference(q_latent, q_pe, kv_latent, k_pe, lengths, scale)
    dtype = q_latent.dtype
    out = dispatch.mla_decode(q_latent[:, 0], q_pe[:, 0].to(dtype), kv_latent.to(dtype), k_pe.to(dtype),
                              lengths[:, 0].contiguous(), scale)
    return out[:, None]
