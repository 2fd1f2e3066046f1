"""Ranking: a file graph from cached tags and a personalised PageRank over it (numpy).

Nodes are indexed files. For every name a file references and other files define, an edge runs
from the referencing file to each defining file, weighted by how often the name is used
(sqrt-damped), shared among the definers, and scaled by how telling the name is (graphdata.
name_weight; names the caller mentioned count 10x) and where it points (vendored code and tests
attract less). Only files of one language family link. Focus files and definers of mentioned
names get the random walk's restarts, so the map leans towards their neighbourhood. The rank
of a file flows along its edges to the definitions that attracted them: that per-definition
rank orders the map, with file rank, path, line and name as tie-breaks (deterministic).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from kimi_code.index.graphdata import GraphData

DAMPING = 0.85
MAX_ITERATIONS = 100
TOLERANCE = 1e-10
MENTION_BOOST = 10.0


def pagerank(n: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray,
             personal: np.ndarray) -> np.ndarray:
    """Weighted personalised PageRank by power iteration. Dangling mass returns via
    `personal` (shape [n], sums to 1). Returns ranks, shape [n], summing to 1."""
    if n == 0:
        return np.zeros(0)
    # Many names link the same two files: merge parallel edges once, iterate on fewer.
    pair, inverse = np.unique(src * n + dst, return_inverse=True)
    weight = np.bincount(inverse, weights=weight, minlength=len(pair))
    src, dst = pair // n, pair % n
    out_weight = np.bincount(src, weights=weight, minlength=n)
    share = np.zeros_like(weight)
    nz = out_weight[src] > 0
    share[nz] = weight[nz] / out_weight[src][nz]
    dangling = out_weight == 0
    rank = personal.copy()
    for _ in range(MAX_ITERATIONS):
        flow = np.bincount(dst, weights=rank[src] * share, minlength=n)
        new = DAMPING * (flow + rank[dangling].sum() * personal) + (1 - DAMPING) * personal
        done = np.abs(new - rank).sum() < TOLERANCE
        rank = new
        if done:
            break
    return rank


def _edges(g: GraphData, mentioned: np.ndarray):
    """Expand (file, name, count) references into edges to every definer of the name.
    Returns src, dst, name id and weight arrays (self-edges dropped)."""
    n_names = max(len(g.names), 1)
    pairs = np.unique(g.def_name * (len(g.paths) + 1) + g.def_node)  # sorted by name, node
    pair_name = pairs // (len(g.paths) + 1)
    pair_node = pairs % (len(g.paths) + 1)
    start = np.searchsorted(pair_name, np.arange(n_names))
    n_def = np.bincount(pair_name, minlength=n_names)
    reps = n_def[g.ref_name]
    total = int(reps.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, np.zeros(0)
    offsets = np.arange(total) - np.repeat(np.cumsum(reps) - reps, reps)
    src = np.repeat(g.ref_node, reps)
    name = np.repeat(g.ref_name, reps)
    dst = pair_node[np.repeat(start[g.ref_name], reps) + offsets]
    weight = (g.name_weight[name] * np.sqrt(np.repeat(g.ref_count, reps)) / n_def[name]
              * np.where(mentioned[name], MENTION_BOOST, 1.0)
              * g.node_weight[dst])
    # A file using its own names says nothing about importance; other languages' names are
    # coincidences.
    keep = (src != dst) & (g.node_family[src] == g.node_family[dst])
    return src[keep], dst[keep], name[keep], weight[keep]


@dataclass
class Ranking:
    file_rank: np.ndarray  # [n_files]
    def_order: np.ndarray  # indices into GraphData.def_* arrays, best first
    def_score: np.ndarray  # [n_defs] rank flowing into each definition


def rank(g: GraphData, focus_paths: Iterable[str] = (), mentioned: Iterable[str] = ()) -> Ranking:
    """Rank files and definitions, personalised towards focus files, files that define a
    mentioned identifier, and files whose name contains one."""
    n = len(g.paths)
    node_of = {p: i for i, p in enumerate(g.paths)}
    focus = np.zeros(n, dtype=bool)
    for p in focus_paths:
        if p in node_of:
            focus[node_of[p]] = True
    name_id = {nm: i for i, nm in enumerate(g.names)} if mentioned else {}
    mentioned_ids = sorted({name_id[m] for m in mentioned if m in name_id})
    is_mentioned = np.zeros(len(g.names), dtype=bool)
    is_mentioned[mentioned_ids] = True
    personal = focus.astype(np.float64)
    if mentioned_ids:
        personal[np.unique(g.def_node[is_mentioned[g.def_name]])] += 0.5
    stems = {m.lower() for m in mentioned if len(m) >= 3}
    if stems:
        for i, path in enumerate(g.paths):
            if path.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower() in stems:
                personal[i] += 0.5
    personal = personal / personal.sum() if personal.sum() > 0 else np.full(n, 1.0 / max(n, 1))
    src, dst, name, weight = _edges(g, is_mentioned)
    file_rank = pagerank(n, src, dst, weight, personal)
    def_score = np.zeros(len(g.def_node))
    if len(src):
        out_weight = np.bincount(src, weights=weight, minlength=n)
        contrib = file_rank[src] * weight / out_weight[src]
        width = max(len(g.names), 1)
        uniq, inverse = np.unique(dst * width + name, return_inverse=True)
        sums = np.bincount(inverse, weights=contrib)
        keys = g.def_node * width + g.def_name
        pos = np.clip(np.searchsorted(uniq, keys), 0, len(uniq) - 1)
        def_score = np.where(uniq[pos] == keys, sums[pos], 0.0)
    # lexsort: the last key is primary. Paths are sorted, so node order is path order.
    order = np.lexsort((g.def_name, g.def_line, g.def_node, -file_rank[g.def_node], -def_score))
    return Ranking(file_rank=file_rank, def_order=order, def_score=def_score)
