"""The ranking inputs as flat numpy arrays, snapshotted in the cache so a warm map is cheap.

Building these arrays from the defs/refs tables costs a few hundred milliseconds on a large
repository; loading the stored snapshot costs a few. The snapshot is tagged with the cache's
generation counter (bumped by every write), so it is rebuilt exactly when tags changed.
"""

from __future__ import annotations

import io
import re
import sqlite3
from dataclasses import dataclass

import numpy as np

# Names so common as methods/builtins across languages that a use says little about where it
# points (`",".join`, `list(...)`, `x.get(...)`).
COMMON_NAMES = frozenset("""
get set put add remove pop push append extend insert update delete clear copy keys values items
join split strip replace format map filter reduce find index count sort sorted reverse len str int
float bool list dict tuple type print open close read write next iter run call apply bind then
catch toString valueOf equals hashCode length size name value init new create main test setUp
tearDown log info debug warn error exit send emit on off start stop render execute handle process
__init__ __str__ __repr__ __eq__ __hash__ super self this
""".split())

_VENDORED = re.compile(r"(^|/)(vendor|vendors|third_party|thirdparty|external|node_modules)/")
_TESTS = re.compile(
    r"(^|/)(tests?|spec|specs|__tests__|testing)/|(^|/)test_[^/]*$|_test\.\w+$|\.(spec|test)\.\w+$"
)
# Names only link files that could call each other: a Python `map` is not jQuery's `map`.
LANGUAGE_FAMILY = {"python": 0, "javascript": 1, "typescript": 1, "tsx": 1, "go": 2, "rust": 3,
                   "java": 4, "c": 5, "cpp": 5, "c_sharp": 6, "ruby": 7, "php": 8, "bash": 9}


def path_weight(path: str) -> float:
    """How much a definition in `path` should attract links: vendored copies and tests
    (whose helpers shadow library names) attract less."""
    if _VENDORED.search(path):
        return 0.1
    if _TESTS.search(path):
        return 0.3
    return 1.0


def name_weight(name: str, n_definers: int) -> float:
    """How telling a use of `name` is, before any focus: private, common, short or
    defined-everywhere names count less; long distinctive identifiers count more."""
    weight = 1.0
    if name.startswith("_"):
        weight *= 0.1
    if name in COMMON_NAMES:
        weight *= 0.05
    if n_definers > 5:
        weight *= 0.1
    if len(name) < 3:
        weight *= 0.1
    elif len(name) >= 8 and ("_" in name.strip("_") or not name.islower()):
        weight *= 3.0
    return weight


@dataclass
class GraphData:
    """Arrays describing indexed files, their definitions and aggregated references."""

    paths: list[str]  # node -> path (sorted)
    names: list[str]  # name id -> name (sorted)
    node_weight: np.ndarray  # [n_nodes] float, see path_weight()
    node_family: np.ndarray  # [n_nodes] int64 language family (LANGUAGE_FAMILY)
    name_weight: np.ndarray  # [n_names] float, see name_weight()
    def_rowid: np.ndarray  # [n_defs] int64 rowid in the defs table
    def_node: np.ndarray  # [n_defs] int64
    def_name: np.ndarray  # [n_defs] int64
    def_line: np.ndarray  # [n_defs] int64
    ref_node: np.ndarray  # [n_refs] int64, one row per (file, defined name), sorted
    ref_name: np.ndarray  # [n_refs] int64
    ref_count: np.ndarray  # [n_refs] float

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        arrays = {k: v for k, v in self.__dict__.items() if isinstance(v, np.ndarray)}
        np.savez(buf, paths=np.frombuffer("\0".join(self.paths).encode("utf-8", "surrogateescape"),
                                          dtype=np.uint8),
                 names=np.frombuffer("\0".join(self.names).encode("utf-8", "surrogateescape"),
                                     dtype=np.uint8), **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> GraphData:
        data = np.load(io.BytesIO(blob), allow_pickle=False)
        fields = {k: data[k] for k in data.files if k not in ("paths", "names")}

        def strings(key: str) -> list[str]:
            raw = data[key].tobytes().decode("utf-8", "surrogateescape")
            return raw.split("\0") if raw else []

        return cls(paths=strings("paths"), names=strings("names"), **fields)


def build_graph_data(conn: sqlite3.Connection) -> GraphData:
    """Read the cache tables into arrays (one consistent read transaction)."""
    conn.execute("BEGIN")
    try:
        files = conn.execute(
            "SELECT id, path, lang FROM files WHERE skip='' ORDER BY path").fetchall()
        defs = conn.execute("SELECT rowid, file_id, name, line FROM defs").fetchall()
        refs = conn.execute(
            "SELECT file_id, name, SUM(count) FROM refs WHERE name IN (SELECT name FROM defs) "
            "GROUP BY file_id, name").fetchall()
    finally:
        conn.execute("COMMIT")
    node_of = {f[0]: i for i, f in enumerate(files)}
    names = sorted({d[2] for d in defs})
    name_id = {n: i for i, n in enumerate(names)}
    defs = [d for d in defs if d[1] in node_of]
    def_node = np.fromiter((node_of[d[1]] for d in defs), dtype=np.int64, count=len(defs))
    def_name = np.fromiter((name_id[d[2]] for d in defs), dtype=np.int64, count=len(defs))
    definers = np.unique(def_node * max(len(names), 1) + def_name)
    n_definers = np.bincount(definers % max(len(names), 1), minlength=len(names))
    refs = sorted((node_of[f], name_id[n], c) for f, n, c in refs if f in node_of)
    paths = [f[1] for f in files]
    return GraphData(
        paths=paths,
        names=names,
        node_weight=np.array([path_weight(p) for p in paths], dtype=np.float64),
        node_family=np.array([LANGUAGE_FAMILY.get(f[2], 99) for f in files], dtype=np.int64),
        name_weight=np.array([name_weight(n, int(k)) for n, k in zip(names, n_definers, strict=True)]),
        def_rowid=np.fromiter((d[0] for d in defs), dtype=np.int64, count=len(defs)),
        def_node=def_node,
        def_name=def_name,
        def_line=np.fromiter((d[3] for d in defs), dtype=np.int64, count=len(defs)),
        ref_node=np.array([r[0] for r in refs], dtype=np.int64),
        ref_name=np.array([r[1] for r in refs], dtype=np.int64),
        ref_count=np.array([r[2] for r in refs], dtype=np.float64),
    )


def load_graph_data(conn: sqlite3.Connection) -> GraphData:
    """The snapshot for the cache's current generation, rebuilt and stored when stale."""
    row = conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
    generation = row[0] if row else "0"
    snap = conn.execute("SELECT generation, data FROM snapshot WHERE id=1").fetchone()
    if snap is not None and snap[0] == generation:
        return GraphData.from_bytes(snap[1])
    data = build_graph_data(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Store only if nobody wrote in between; otherwise the next reader rebuilds.
        now = conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        if (now[0] if now else "0") == generation:
            conn.execute("INSERT OR REPLACE INTO snapshot VALUES (1, ?, ?)",
                         (generation, data.to_bytes()))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return data
