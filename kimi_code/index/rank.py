"""Ranking: a file graph from cached tags and a personalised PageRank over it (numpy).

Nodes are indexed files. For every name a file references and other files define, an edge runs
from the referencing file to each defining file, weighted by how often the name is used
(sqrt-damped), shared among the definers, and scaled by how telling the name is (graphdata.
name_weight; names the caller mentioned count 10x) and where it points (vendored code and tests
attract less). Only files of one language family link. Focus files and definers of mentioned
names get the random walk's restarts, so the map leans towards their neighbourhood. The rank
of a file flows along its edges to the definitions that attracted them: that per-definition
rank orders the map, with file rank, path, line and name as tie-breaks (deterministic).

The edges are never materialised: a name referenced by R files and defined by D files stands
for R x D edges, which grows quadratically with duplicated code (vendored copies, monorepos).
Every edge weight factors as (referencing file, name) x (name) x (defining file), so one step
of the walk goes file -> name (sum over reference rows) -> file (sum over definer rows), linear
in the number of tag rows. The file's own definition of a name it uses is subtracted back out
(no self-edges).
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from kimi_code.index.graphdata import MANY_DEFINERS, GraphData, unique

DAMPING = 0.85
MAX_ITERATIONS = 100
TOLERANCE = 1e-10
MENTION_BOOST = 10.0


@dataclass
class _Walk:
    """The walk's operator for one query: GraphData's link structure plus query weights."""

    g: GraphData
    link_weight: np.ndarray  # [l] name weight x sqrt(uses) / definers, boosts applied
    out_weight: np.ndarray  # [n] total weight of each file's edges
    own_weight: np.ndarray  # [n] node_weight x the weight of a file's links to itself
    pair_weight: np.ndarray  # [p] node_weight of each pair's defining file
    sent: np.ndarray  # [l + 1] scratch: rank sent along each link row, then a zero pad

    def send(self, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rank per unit of out-weight ([n]) and the rank each key receives ([n_keys])."""
        g = self.g
        per_weight = np.divide(rank, self.out_weight, out=np.zeros(len(rank)),
                               where=self.out_weight > 0)
        np.multiply(per_weight[g.link_src], self.link_weight, out=self.sent[:-1])
        n_keys = len(g.pair_key) and int(g.pair_key[-1]) + 1
        return per_weight, np.bincount(g.link_key, weights=self.sent[:-1], minlength=n_keys)

    def step(self, rank: np.ndarray) -> np.ndarray:
        """Rank arriving at each file ([n]) along all edges (self-edges excluded)."""
        per_weight, by_key = self.send(rank)
        flow = np.bincount(self.g.pair_node, weights=self.pair_weight * by_key[self.g.pair_key],
                           minlength=len(rank))
        return flow - per_weight * self.own_weight

    def pair_flows(self, rank: np.ndarray) -> np.ndarray:
        """Rank arriving at each (key, defining file) pair ([p])."""
        _, by_key = self.send(rank)
        return self.pair_weight * (by_key[self.g.pair_key] - self.sent[self.g.pair_self])


def _walk(g: GraphData, mentioned: np.ndarray) -> _Walk:
    """The operator for `g` with names flagged in `mentioned` ([n_names] bool) boosted."""
    name_w = (g.name_base * np.where(g.n_def > MANY_DEFINERS, 0.1, 1.0)
              * np.where(mentioned, MENTION_BOOST, 1.0))
    link_weight = name_w[g.link_name] * g.link_scale
    n = len(g.paths)
    out_weight = np.bincount(g.link_src, weights=link_weight * g.link_others, minlength=n)
    own = np.bincount(g.link_src[g.link_own], weights=link_weight[g.link_own], minlength=n)
    sent = np.zeros(len(link_weight) + 1)
    return _Walk(g, link_weight, out_weight, own * g.node_weight, g.node_weight[g.pair_node],
                 sent)


def pagerank(walk: _Walk, personal: np.ndarray) -> np.ndarray:
    """Weighted personalised PageRank by power iteration. Dangling mass returns via
    `personal` (shape [n], sums to 1). Returns ranks, shape [n], summing to 1."""
    if len(personal) == 0:
        return np.zeros(0)
    dangling = walk.out_weight == 0
    rank = personal.copy()
    for _ in range(MAX_ITERATIONS):
        new = DAMPING * (walk.step(rank) + rank[dangling].sum() * personal) \
            + (1 - DAMPING) * personal
        done = np.abs(new - rank).sum() < TOLERANCE
        rank = new
        if done:
            break
    return rank


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
    mentioned = list(mentioned)
    mentioned_ids = sorted({i for m in mentioned
                            if (i := bisect_left(g.names, m)) < len(g.names) and g.names[i] == m})
    is_mentioned = np.zeros(len(g.names), dtype=bool)
    is_mentioned[mentioned_ids] = True
    personal = focus.astype(np.float64)
    if mentioned_ids:
        personal[unique(g.def_node[is_mentioned[g.def_name]])[0]] += 0.5
    stems = {m.lower() for m in mentioned if len(m) >= 3}
    if stems:
        for i, path in enumerate(g.paths):
            if path.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower() in stems:
                personal[i] += 0.5
    personal = personal / personal.sum() if personal.sum() > 0 else np.full(n, 1.0 / max(n, 1))
    walk = _walk(g, is_mentioned)
    file_rank = pagerank(walk, personal)
    def_score = walk.pair_flows(file_rank)[g.def_pair]
    # lexsort: the last key is primary. Paths are sorted, so node order is path order.
    order = np.lexsort((g.def_name, g.def_line, g.def_node, -file_rank[g.def_node], -def_score))
    return Ranking(file_rank=file_rank, def_order=order, def_score=def_score)
