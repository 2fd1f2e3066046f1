"""The graph snapshot is patched after changes, and the patch equals a build from scratch.

Each step edits a real git repository, updates the real SQLite cache, and checks that:
the snapshot was patched (only changed files re-read), the patched arrays equal a from-scratch
build of the same cache byte for byte, and every map equals the map of a cold index of the
same tree in a separate, empty cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from kimi_code.index import snapshot
from kimi_code.index.cache import db_path_for
from kimi_code.index.graphdata import GraphData, empty_graph
from kimi_code.index.rank import rank
from kimi_code.index.repo_map import RepoIndex
from kimi_code.index.snapshot import build_graph_data, load_graph_data
from tests.support.index_repos import write

FILES = {
    "core/engine.py": "class Engine:\n    def start(self):\n        pass\n\n    def stop(self):\n"
                      "        pass\n",
    "billing/ledger.py": "class LedgerEntry:\n    pass\n\n\ndef post_ledger_entry(amount):\n"
                         "    return LedgerEntry()\n",
    "billing/invoice.py": "from billing.ledger import post_ledger_entry\n\n\ndef send_invoice():\n"
                          "    post_ledger_entry(10)\n",
    "web/app.js": "function renderInvoice() { return sendInvoiceNow(); }\n",
    "web/api.js": "function sendInvoiceNow() { return 1; }\n",
    "tests/test_engine.py": "from core.engine import Engine\n\ndef test_start():\n"
                            "    Engine().start()\n",
}
FILES["vendor/shim.py"] = "class Engine:\n    pass\n"  # a weak (vendored) second definer
for _i in range(5):
    FILES[f"app/user{_i}.py"] = (f"from core.engine import Engine\n\ndef use{_i}():\n"
                                 "    Engine().start()\n")

QUERIES = [((), ()), (("billing/invoice.py",), ()), ((), ("LedgerEntry",)),
           (("app/user1.py",), ("Engine", "stop")), (("web/app.js",), ())]


def maps(index: RepoIndex) -> list[str]:
    return [index.render_map(list(f), list(s), max_tokens=400) for f, s in QUERIES]


def cold_maps(repo: Path, home: Path) -> list[str]:
    """Maps of `repo` from a fresh cache (another database file)."""
    with RepoIndex(repo, cache_path=home / "cold.sqlite") as index:
        index.update(workers=1)
        out = maps(index)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{home / 'cold.sqlite'}{suffix}").unlink(missing_ok=True)
    return out


def edit_steps(repo: Path) -> list:
    """Edits that change references, definitions, definer counts, languages and the file set."""
    return [
        # users stop using Engine and use the ledger instead: edges move between files
        lambda: [write(repo, f"app/user{i}.py",
                       "from billing.ledger import LedgerEntry\n\ndef use():\n"
                       "    return LedgerEntry()\n") for i in range(3)],
        # a second definer of Engine (changes its definer count and edge split)
        lambda: write(repo, "core/engine2.py", "class Engine:\n    def start(self):\n"
                      "        return 2\n"),
        # a new name that an unchanged file already referenced: its old refs must link now
        lambda: write(repo, "billing/send.py", "def sendInvoiceNow():\n    pass\n"
                      "def send_invoice():\n    pass\n"),
        lambda: os.remove(repo / "core/engine.py"),
        lambda: os.rename(repo / "billing/ledger.py", repo / "billing/ledger2.py"),
        # becomes binary: skipped files leave the graph
        lambda: write(repo, "web/api.js", b"\0\1\2binary"),
        lambda: write(repo, "app/user4.py", ""),
    ]


def test_incremental_snapshot_equals_cold_build(make_repo, tmp_path, monkeypatch):
    repo = make_repo(FILES)
    patched: list[tuple[int, int]] = []
    real_patch = snapshot.patch_graph

    def spy(old, since, files, defs, refs):
        patched.append((since, len({d[1] for d in defs} | {r[0] for r in refs})))
        return real_patch(old, since, files, defs, refs)

    monkeypatch.setattr(snapshot, "patch_graph", spy)
    with RepoIndex(repo) as index:
        index.update(workers=1)
        assert maps(index) == cold_maps(repo, tmp_path)
        for step in edit_steps(repo):
            step()
            patched.clear()
            index.update(workers=1)
            warm = maps(index)
            # Patched once, from the previous snapshot, re-reading at most the edited files.
            assert len(patched) == 1 and patched[0][0] >= 0 and patched[0][1] <= 3
            assert load_graph_data(index.conn).equals(build_graph_data(index.conn))
            assert warm == cold_maps(repo, tmp_path)
    # The edits really moved the map: the final hub is no longer core/engine.py.
    assert "core/engine.py:" not in warm[0]


def test_snapshot_round_trip_and_foreign_blob(make_repo):
    repo = make_repo(FILES)
    with RepoIndex(repo) as index:
        index.update(workers=1)
        graph = load_graph_data(index.conn)
        assert len(graph.paths) == len(FILES) and graph.names == sorted(graph.names)
        again = GraphData.from_bytes(graph.to_bytes())
        assert again is not None and again.equals(graph)
        # An unreadable or old-format snapshot is ignored and rebuilt, never trusted.
        index.conn.execute("UPDATE snapshot SET data=?", (b"junk",))
        assert GraphData.from_bytes(b"junk") is None
        assert load_graph_data(index.conn).equals(graph)
    assert db_path_for(repo).exists()


def test_empty_graph_ranks_nothing():
    ranking = rank(empty_graph(), ["x.py"], ["Name"])
    assert len(ranking.file_rank) == 0 and len(ranking.def_order) == 0


@pytest.mark.parametrize("mentioned", [(), ("LedgerEntry",)])
def test_factored_walk_matches_explicit_edges(make_repo, mentioned):
    """PageRank over the factored operator equals PageRank over the explicit file-to-file
    edge matrix built the slow way (every reference x every definer)."""
    from kimi_code.index import rank as rank_mod

    repo = make_repo(FILES)
    with RepoIndex(repo) as index:
        index.update(workers=1)
        g = load_graph_data(index.conn)
    n = len(g.paths)
    boost = {g.names.index(m) for m in mentioned}
    matrix = np.zeros((n, n))
    definers: dict[int, set[int]] = {}
    for node, name in zip(g.def_node.tolist(), g.def_name.tolist(), strict=True):
        definers.setdefault(name, set()).add(node)
    for src, name, count in zip(g.ref_node.tolist(), g.ref_name.tolist(), g.ref_count.tolist(),
                                strict=True):
        nodes = definers.get(name, set())
        for dst in nodes:
            if dst != src and g.node_family[dst] == g.node_family[src]:
                w = (g.name_base[name] * (0.1 if len(nodes) > 5 else 1.0) * np.sqrt(count)
                     / len(nodes) * (rank_mod.MENTION_BOOST if name in boost else 1.0)
                     * g.node_weight[dst])
                matrix[src, dst] += w
    out = matrix.sum(axis=1)
    personal = np.full(n, 1.0 / n)
    expected = personal.copy()
    for _ in range(rank_mod.MAX_ITERATIONS):
        flow = (expected / np.where(out > 0, out, 1.0) * (out > 0)) @ matrix
        expected = rank_mod.DAMPING * (flow + expected[out == 0].sum() * personal) \
            + (1 - rank_mod.DAMPING) * personal
    mention = np.zeros(len(g.names), dtype=bool)
    mention[list(boost)] = True
    got = rank_mod.pagerank(rank_mod._walk(g, mention), personal)
    assert np.allclose(got, expected, atol=1e-9) and matrix.any()
