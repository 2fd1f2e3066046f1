"""One forward step over a ragged batch: prefill chunks and decode tokens of many sequences at once.

All tokens of the step are packed into one row [1, N, H]: projections, norms, MLPs and experts run
once for the whole batch (that is where batching pays); only attention is per sequence, reading
each sequence's latents from the paged cache through its block table. Numerics match the model's
"auto" mode: full attention for multi-token chunks, the absorbed path for single-token decodes.

With tensor parallelism (parallel.py) every rank holds a slice of the heads and of the MLP/expert
intermediate size; `all_reduce` sums the partial outputs of attention and of the MLP.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .attention import MLA
from .kernels import dispatch
from .model import KimiForCausalLM
from .paged_cache import PagedLatentCache


@dataclass(frozen=True)
class Chunk:
    """`tokens` of one sequence at positions start..start+len-1; `table` is its block table."""

    tokens: list[int]
    start: int
    table: list[int]


AllReduce = Callable[[torch.Tensor], torch.Tensor]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


@torch.inference_mode()
def forward_chunks(model: KimiForCausalLM, cache: PagedLatentCache, chunks: Sequence[Chunk],
                   all_reduce: AllReduce = _identity) -> torch.Tensor:
    """Run the chunks, write their latents into the cache; logits [len(chunks), V] of each
    chunk's last token (fp32)."""
    dev = model.device
    ids = torch.tensor([t for c in chunks for t in c.tokens], device=dev)
    positions = torch.tensor([c.start + i for c in chunks for i in range(len(c.tokens))], device=dev)
    write_slots = torch.tensor([s for c in chunks for s in cache.slots(c.table, c.start, c.start + len(c.tokens))],
                               device=dev)
    cos, sin = model.rotary.cos_sin(positions)
    h = model.model.embed_tokens(ids)[None]  # [1, N, H]
    for i, layer in enumerate(model.model.layers):
        attn = _attention(layer.self_attn, model, layer.input_layernorm(h), cos, sin, cache, i, chunks, write_slots)
        h = h + all_reduce(attn)
        h = h + all_reduce(layer.mlp(layer.post_attention_layernorm(h)))
    ends = torch.tensor(_offsets(chunks)[1:], device=dev) - 1
    return model.lm_head(model.model.norm(h[0, ends])).float()


def _offsets(chunks: Sequence[Chunk]) -> list[int]:
    out = [0]
    for c in chunks:
        out.append(out[-1] + len(c.tokens))
    return out


def _attention(mla: MLA, model: KimiForCausalLM, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
               cache: PagedLatentCache, layer: int, chunks: Sequence[Chunk], write_slots: torch.Tensor
               ) -> torch.Tensor:
    """x [1, N, H] (normalised) -> attention output [1, N, H] (this rank's partial sum under TP)."""
    n = x.shape[1]
    if hasattr(mla, "q_b_proj"):
        q = mla.q_b_proj(mla.q_a_layernorm(mla.q_a_proj(x)))
    else:
        q = mla.q_proj(x)
    q_nope, q_pe = q.view(1, n, mla.n_heads, -1).split([mla.nope, mla.rope_dim], dim=-1)
    q_pe = model.rotary.rotate(q_pe, cos, sin)
    latent, k_pe = mla.kv_a_proj_with_mqa(x).split([mla.kv_rank, mla.rope_dim], dim=-1)
    latent = mla.kv_a_layernorm(latent)
    k_pe = model.rotary.rotate(k_pe.unsqueeze(2), cos, sin).squeeze(2)  # [1, N, R]
    kv_pool, pe_pool = cache.layer(layer)
    kv_pool[write_slots] = latent[0].to(kv_pool.dtype)
    pe_pool[write_slots] = k_pe[0].to(pe_pool.dtype)
    out = torch.empty(1, n, mla.n_heads, mla.v_dim, dtype=x.dtype, device=x.device)
    offsets = _offsets(chunks)
    decodes = [i for i, c in enumerate(chunks) if len(c.tokens) == 1]
    for i, c in enumerate(chunks):
        if len(c.tokens) == 1:
            continue
        a, b = offsets[i], offsets[i + 1]
        ctx = torch.tensor(cache.slots(c.table, 0, c.start + len(c.tokens)), device=x.device)
        out[:, a:b] = mla._full(q_nope[:, a:b], q_pe[:, a:b], kv_pool[ctx][None], pe_pool[ctx][None], c.start)
    if decodes:
        rows = torch.tensor([offsets[i] for i in decodes], device=x.device)
        out[0, rows] = _decode(mla, q_nope[0, rows], q_pe[0, rows], kv_pool, pe_pool, cache,
                               [chunks[i] for i in decodes])
    return mla.o_proj(out.reshape(1, n, mla.n_heads * mla.v_dim))


def _decode(mla: MLA, q_nope: torch.Tensor, q_pe: torch.Tensor, kv_pool: torch.Tensor, pe_pool: torch.Tensor,
            cache: PagedLatentCache, chunks: Sequence[Chunk]) -> torch.Tensor:
    """Absorbed attention of B single-token decodes: q_nope [B, Hn, D], q_pe [B, Hn, R] -> [B, Hn, Dv].

    Latents are gathered into a padded [B, Tmax, C] batch; padding is masked by length."""
    lengths = [c.start + 1 for c in chunks]
    t_max = max(lengths)
    slots = [cache.slots(c.table, 0, n) + [0] * (t_max - n) for c, n in zip(chunks, lengths, strict=True)]
    idx = torch.tensor(slots, device=q_nope.device)
    kv, pe = kv_pool[idx], pe_pool[idx]  # [B, T, C], [B, T, R]
    w = mla.kv_b_proj.weight.view(mla.n_heads, mla.nope + mla.v_dim, mla.kv_rank)
    w_uk, w_uv = w[:, : mla.nope], w[:, mla.nope :]
    q_latent = torch.einsum("bhd,hdc->bhc", q_nope, w_uk)
    lens = torch.tensor(lengths, device=q_nope.device, dtype=torch.int32)
    if dispatch.use_triton(q_nope.device):
        o_latent = dispatch.mla_decode(q_latent, q_pe.to(q_latent.dtype), kv.to(q_latent.dtype),
                                       pe.to(q_latent.dtype), lens, mla.scale)
    else:
        scores = torch.einsum("bhc,btc->bht", q_latent.float(), kv.float())
        scores = (scores + torch.einsum("bhr,btr->bht", q_pe.float(), pe.float())) * mla.scale
        pad = torch.arange(t_max, device=q_nope.device)[None, :] >= lens[:, None]
        scores = scores.masked_fill(pad[:, None, :], float("-inf"))
        o_latent = torch.einsum("bht,btc->bhc", torch.softmax(scores, dim=-1), kv.float()).to(q_latent.dtype)
    return torch.einsum("bhc,hdc->bhd", o_latent, w_uv)
