"""One forward step over a ragged batch: prefill chunks and decode tokens of many sequences at once.

All tokens of the step are packed into one row [1, N, H]: projections, norms, MLPs and experts run
once for the whole batch (that is where batching pays); only attention is per sequence, reading
each sequence's latents from the paged cache through its block table. Attention is the model's own
MLA code (attention.MLA's project / full_attention / absorbed_attention / output), so the numerics
are those of the model's "auto" mode: full attention for multi-token chunks, the absorbed path for
single-token decodes.

With tensor parallelism (parallel.py) every rank holds a slice of the heads and of the MLP/expert
intermediate size; `all_reduce` sums the partial outputs of attention and of the MLP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from kimi_engine.attention import MLA
from kimi_engine.kernels.cuda_graphs import DecodeGraphs, InputSpec
from kimi_engine.layers import Rotary
from kimi_engine.model import KimiForCausalLM
from kimi_engine.paged_cache import PagedLatentCache


@dataclass(frozen=True)
class Chunk:
    """`tokens` of one sequence at positions start..start+len-1; `table` is its block table."""

    tokens: list[int]
    start: int
    table: list[int]


AllReduce = Callable[[torch.Tensor], torch.Tensor]


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


@dataclass(frozen=True)
class PrefillSpan:
    """A multi-token chunk: packed rows [first, end) at positions start.., reading cache `slots`
    (int64 [start + end - first], the chunk's whole visible context)."""

    first: int
    end: int
    start: int
    slots: torch.Tensor


@dataclass(frozen=True)
class StepLayout:
    """Where every chunk of a step lives, computed once per step (every layer reuses it).

    write_slots int64 [N]: the cache slot of each packed token. decode_rows int64 [Bd]: the packed
    rows of the single-token chunks; decode_slots int64 [Bd, Tmax]: their visible cache slots,
    padded with slot 0; decode_lengths int32 [Bd, 1]: how many of those are real.
    """

    write_slots: torch.Tensor
    prefills: list[PrefillSpan]
    decode_rows: torch.Tensor
    decode_slots: torch.Tensor
    decode_lengths: torch.Tensor

    @classmethod
    def build(cls, cache: PagedLatentCache, chunks: Sequence[Chunk], device: torch.device) -> StepLayout:
        """The layout of `chunks` packed in order."""
        write = [s for c in chunks for s in cache.slots(c.table, c.start, c.start + len(c.tokens))]
        offsets = chunk_offsets(chunks)
        prefills, rows, lengths = [], [], []
        for i, c in enumerate(chunks):
            if len(c.tokens) == 1:
                rows.append(offsets[i])
                lengths.append(c.start + 1)
                continue
            ctx = torch.tensor(cache.slots(c.table, 0, c.start + len(c.tokens)), device=device)
            prefills.append(PrefillSpan(offsets[i], offsets[i + 1], c.start, ctx))
        t_max = max(lengths, default=0)
        decodes = [c for c in chunks if len(c.tokens) == 1]
        padded = [cache.slots(c.table, 0, n) + [0] * (t_max - n) for c, n in zip(decodes, lengths, strict=True)]
        return cls(
            write_slots=torch.tensor(write, device=device),
            prefills=prefills,
            decode_rows=torch.tensor(rows, device=device, dtype=torch.int64),
            decode_slots=torch.tensor(padded, device=device, dtype=torch.int64).reshape(len(rows), t_max),
            decode_lengths=torch.tensor(lengths, device=device, dtype=torch.int32).reshape(-1, 1),
        )


@torch.inference_mode()
def forward_chunks(model: KimiForCausalLM, cache: PagedLatentCache, chunks: Sequence[Chunk],
                   all_reduce: AllReduce = _identity, graphs: DecodeGraphs | None = None) -> torch.Tensor:
    """Run the chunks, write their latents into the cache; logits [len(chunks), V] of each
    chunk's last token (fp32). `graphs` (decode_graphs): an all-decode step replays a CUDA graph."""
    dev = model.device
    if graphs is not None and chunks and all(len(c.tokens) == 1 for c in chunks):
        return graphs.run(decode_inputs(cache, chunks, dev))
    ids = torch.tensor([t for c in chunks for t in c.tokens], device=dev)
    positions = torch.tensor([c.start + i for c in chunks for i in range(len(c.tokens))], device=dev)
    layout = StepLayout.build(cache, chunks, dev)
    ends = torch.tensor(chunk_offsets(chunks)[1:], device=dev) - 1
    return _run_layers(model, cache, ids, positions, layout, ends, all_reduce)


def _run_layers(model: KimiForCausalLM, cache: PagedLatentCache, ids: torch.Tensor, positions: torch.Tensor,
                layout: StepLayout, ends: torch.Tensor, all_reduce: AllReduce) -> torch.Tensor:
    """Embed ids [N], run every layer over `layout`, logits [len(ends), V] (fp32) of rows `ends`."""
    cos, sin = model.rotary.cos_sin(positions)
    h = model.model.embed_tokens(ids)[None]  # [1, N, H]
    for i, block in enumerate(model.blocks()):
        x = block.input_layernorm(h)
        h = h + all_reduce(paged_attention(block.self_attn, model.rotary, x, cos, sin, cache.layer(i), layout))
        h = h + all_reduce(block.mlp(block.post_attention_layernorm(h)))
    return model.lm_head(model.model.norm(h[0, ends])).float()


def decode_inputs(cache: PagedLatentCache, chunks: Sequence[Chunk], device: torch.device) -> dict[str, torch.Tensor]:
    """The tensor form of an all-decode step: ids/positions/write_slots int64 [B], slots int64
    [B, T] (visible cache slots, padded with slot 0), lengths int32 [B, 1]."""
    layout = StepLayout.build(cache, chunks, device)
    return {"ids": torch.tensor([c.tokens[0] for c in chunks], device=device),
            "positions": torch.tensor([c.start for c in chunks], device=device),
            "write_slots": layout.write_slots, "slots": layout.decode_slots, "lengths": layout.decode_lengths}


def decode_graphs(model: KimiForCausalLM, cache: PagedLatentCache, all_reduce: AllReduce = _identity,
                  **options: Any) -> DecodeGraphs:
    """CUDA graphs of this model's decode step (kernels/cuda_graphs.py; options go to DecodeGraphs).

    Reserves one cache block for good: padded rows write their latents to its first slot and
    attend to it, so they never touch a real sequence."""
    scratch = cache.allocate() * cache.block_size
    specs = [InputSpec("ids", torch.int64, 0), InputSpec("positions", torch.int64, 0),
             InputSpec("write_slots", torch.int64, scratch), InputSpec("slots", torch.int64, scratch, has_context=True),
             InputSpec("lengths", torch.int32, 1, tail=(1,))]

    @torch.inference_mode()
    def step(inp: Mapping[str, torch.Tensor]) -> torch.Tensor:
        rows = torch.arange(inp["ids"].shape[0], device=inp["ids"].device)
        layout = StepLayout(inp["write_slots"], [], rows, inp["slots"], inp["lengths"])
        return _run_layers(model, cache, inp["ids"], inp["positions"], layout, rows, all_reduce)

    return DecodeGraphs(step, specs, model.device, **options)


def chunk_offsets(chunks: Sequence[Chunk]) -> list[int]:
    """Packed row offsets: chunk i occupies rows [out[i], out[i + 1])."""
    out = [0]
    for c in chunks:
        out.append(out[-1] + len(c.tokens))
    return out


def paged_attention(mla: MLA, rotary: Rotary, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                    pools: tuple[torch.Tensor, torch.Tensor], layout: StepLayout) -> torch.Tensor:
    """One layer's attention over the paged cache: x [1, N, H] (normalised), cos/sin [N, R/2],
    pools (kv [slots, C], pe [slots, R]) -> [1, N, H] (this rank's partial sum under TP)."""
    n = x.shape[1]
    p = mla.project(x, rotary, cos, sin)
    kv_pool, pe_pool = pools
    kv_pool[layout.write_slots] = p.latent[0].to(kv_pool.dtype)
    pe_pool[layout.write_slots] = p.k_pe[0].to(pe_pool.dtype)
    out = torch.empty(1, n, mla.n_heads, mla.v_dim, dtype=x.dtype, device=x.device)
    for span in layout.prefills:
        rows = slice(span.first, span.end)
        out[:, rows] = mla.full_attention(p.q_nope[:, rows], p.q_pe[:, rows], kv_pool[span.slots][None],
                                          pe_pool[span.slots][None], span.start)
    if layout.decode_rows.numel():
        dec = layout.decode_rows
        kv, pe = kv_pool[layout.decode_slots], pe_pool[layout.decode_slots]  # [Bd, Tmax, C], [Bd, Tmax, R]
        decoded = mla.absorbed_attention(p.q_nope[0, dec][:, None], p.q_pe[0, dec][:, None], kv, pe,
                                         layout.decode_lengths)
        out[0, dec] = decoded[:, 0]
    return mla.output(out)
