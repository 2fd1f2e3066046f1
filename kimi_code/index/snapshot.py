"""The graph snapshot: GraphData stored in the cache and patched, not rebuilt, after changes.

Every cache write bumps the generation counter and stamps the rows it writes with it
(files.gen). A snapshot records the generation it reflects, so bringing it up to date means:
drop the nodes of files written (or deleted) since, and read only those files' definitions
and references back — one query each, however many files changed. A missing snapshot is the
same patch applied to an empty graph, so full and incremental builds share one code path, and
the canonical row order (graphdata.py) makes their results identical.
"""

from __future__ import annotations

import sqlite3

import numpy as np

from kimi_code.index.graphdata import (
    LANGUAGE_FAMILY,
    OTHER_FAMILY,
    GraphData,
    empty_graph,
    name_base_weight,
    path_weight,
    unique,
    with_links,
)

_CHANGED = "SELECT id FROM files WHERE skip='' AND gen > ?"


def _generation(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
    return int(row[0]) if row else 0


def load_graph_data(conn: sqlite3.Connection) -> GraphData:
    """The graph for the cache's current contents: the stored snapshot when current, else
    that snapshot patched with what changed since (and stored again)."""
    snap = conn.execute("SELECT generation, data FROM snapshot WHERE id=1").fetchone()
    old = GraphData.from_bytes(snap[1]) if snap is not None else None
    if old is not None and int(snap[0]) == _generation(conn):
        return old
    since = int(snap[0]) if old is not None else -1
    generation, data = _patched(conn, old or empty_graph(), since)
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Store only if nobody wrote in between; otherwise the next reader patches again.
        if _generation(conn) == generation:
            conn.execute("INSERT OR REPLACE INTO snapshot VALUES (1, ?, ?)",
                         (str(generation), data.to_bytes()))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return data


def build_graph_data(conn: sqlite3.Connection) -> GraphData:
    """The graph built from scratch, ignoring (and not storing) any snapshot."""
    return _patched(conn, empty_graph(), -1)[1]


def _patched(conn: sqlite3.Connection, old: GraphData, since: int) -> tuple[int, GraphData]:
    """`old`, the graph at generation `since`, patched from one consistent read of the file
    list and the rows of files written after `since`; and the generation it reflects."""
    conn.execute("BEGIN")
    try:
        generation = _generation(conn)
        files = conn.execute(
            "SELECT id, path, lang, gen FROM files WHERE skip='' ORDER BY path").fetchall()
        defs = conn.execute(
            f"SELECT rowid, file_id, name, line FROM defs WHERE file_id IN ({_CHANGED})",
            (since,)).fetchall()
        refs = conn.execute(
            f"SELECT file_id, name, SUM(count) FROM refs WHERE file_id IN ({_CHANGED}) "
            "GROUP BY file_id, name", (since,)).fetchall()
    finally:
        conn.execute("COMMIT")
    return generation, patch_graph(old, since, files, defs, refs)


def patch_graph(old: GraphData, since: int, files: list[tuple], defs: list[tuple],
                refs: list[tuple]) -> GraphData:
    """`old` (the graph at generation `since`) brought up to date.

    `files`: every indexed file as (id, path, lang, gen), sorted by path; `defs`: (rowid,
    file_id, name, line) and `refs`: (file_id, name, count) for exactly the files with
    gen > since.
    """
    paths = [f[1] for f in files]
    fids = np.array([f[0] for f in files], dtype=np.int64)
    node_of_path = {p: i for i, p in enumerate(paths)}
    node_of_fid = {f[0]: i for i, f in enumerate(files)}
    # Old node -> new node for files untouched since the snapshot; -1 drops its rows.
    old_node = np.full(len(old.paths) + 1, -1, dtype=np.int64)  # +1: safe for empty arrays
    for i, path in enumerate(old.paths):
        j = node_of_path.get(path)
        if j is not None and files[j][3] <= since and fids[j] == old.node_fid[i]:
            old_node[i] = j
    keep_def = old_node[old.def_node] >= 0
    keep_ref = old_node[old.ref_node] >= 0
    used = unique(np.concatenate([old.def_name[keep_def], old.ref_name[keep_ref]]))[0]
    new_names = {d[2] for d in defs}.union(r[1] for r in refs)
    names, name_id, old_name, name_base = _merge_names(old, used, new_names)
    def_node = np.concatenate([old_node[old.def_node[keep_def]],
                               _ints(node_of_fid[d[1]] for d in defs)])
    def_line = np.concatenate([old.def_line[keep_def], _ints(d[3] for d in defs)])
    def_name = np.concatenate([old_name[old.def_name[keep_def]], _ints(name_id[d[2]] for d in defs)])
    def_rowid = np.concatenate([old.def_rowid[keep_def], _ints(d[0] for d in defs)])
    d_order = np.lexsort((def_rowid, def_name, def_line, def_node))
    ref_node = np.concatenate([old_node[old.ref_node[keep_ref]],
                               _ints(node_of_fid[r[0]] for r in refs)])
    ref_name = np.concatenate([old_name[old.ref_name[keep_ref]], _ints(name_id[r[1]] for r in refs)])
    ref_count = np.concatenate([old.ref_count[keep_ref], _ints(r[2] for r in refs)])
    r_order = np.lexsort((ref_name, ref_node))
    return with_links(
        paths=paths,
        names=names,
        node_fid=fids,
        node_weight=np.array([path_weight(p) for p in paths], dtype=np.float64),
        node_family=_ints(LANGUAGE_FAMILY.get(f[2], OTHER_FAMILY) for f in files),
        name_base=name_base,
        def_node=def_node[d_order],
        def_line=def_line[d_order],
        def_name=def_name[d_order],
        def_rowid=def_rowid[d_order],
        ref_node=ref_node[r_order],
        ref_name=ref_name[r_order],
        ref_count=ref_count[r_order],
    )


def _merge_names(old: GraphData, used: np.ndarray, new_names: set[str]):
    """The sorted union of the old names still `used` (sorted old ids) and `new_names`:
    (names, name -> id, old id -> new id array, name_base_weight per name)."""
    kept_names = [old.names[i] for i in used.tolist()]
    names = sorted(new_names.union(kept_names))
    name_id = {n: i for i, n in enumerate(names)}
    old_name = np.zeros(len(old.names) + 1, dtype=np.int64)
    old_name[used] = [name_id[n] for n in kept_names]
    name_base = np.empty(len(names), dtype=np.float64)
    name_base[old_name[used]] = old.name_base[used]
    fresh = np.ones(len(names), dtype=bool)
    fresh[old_name[used]] = False
    for i in np.flatnonzero(fresh).tolist():
        name_base[i] = name_base_weight(names[i])
    return names, name_id, old_name, name_base


def _ints(values) -> np.ndarray:
    return np.fromiter(values, dtype=np.int64)
