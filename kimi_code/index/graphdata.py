"""The ranking inputs as flat numpy arrays in a canonical order, and their binary form.

GraphData holds only what the cache tables say, in a canonical order (nodes by path; names
sorted; definitions by node, line, name, rowid; references by node, name), so the same cache
contents always give byte-identical arrays however they were assembled: built from scratch or
patched from an older snapshot (snapshot.py). The link structure that rank.py walks is derived
from them once per snapshot (link_structure) and stored with it; what depends on the query
(mention boosts, focus) is applied per map. No file-to-file edge list is ever materialised:
see rank.py for the factored form.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields

import numpy as np

FORMAT = "graph-3"

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
OTHER_FAMILY = 10
N_FAMILIES = 11
MANY_DEFINERS = 5  # a name defined in more files than this is a weak pointer


def path_weight(path: str) -> float:
    """How much a definition in `path` should attract links: vendored copies and tests
    (whose helpers shadow library names) attract less."""
    if _VENDORED.search(path):
        return 0.1
    if _TESTS.search(path):
        return 0.3
    return 1.0


def name_base_weight(name: str) -> float:
    """How telling a use of `name` is from the name alone: private, common and short names
    count less; long distinctive identifiers count more."""
    weight = 1.0
    if name.startswith("_"):
        weight *= 0.1
    if name in COMMON_NAMES:
        weight *= 0.05
    if len(name) < 3:
        weight *= 0.1
    elif len(name) >= 8 and ("_" in name.strip("_") or not name.islower()):
        weight *= 3.0
    return weight


def name_weight(name: str, n_definers: int) -> float:
    """name_base_weight, scaled down for names defined in many files."""
    return name_base_weight(name) * (0.1 if n_definers > MANY_DEFINERS else 1.0)


@dataclass
class GraphData:
    """Arrays describing indexed files, their definitions and aggregated references."""

    paths: list[str]  # node -> path (sorted)
    names: list[str]  # name id -> name (sorted): every name defined or referenced
    node_fid: np.ndarray  # [n_nodes] int64 files.id
    node_weight: np.ndarray  # [n_nodes] float64, see path_weight()
    node_family: np.ndarray  # [n_nodes] int64 language family (LANGUAGE_FAMILY)
    name_base: np.ndarray  # [n_names] float64, see name_base_weight()
    def_node: np.ndarray  # [n_defs] int64; rows sorted by (node, line, name, rowid)
    def_line: np.ndarray  # [n_defs] int64
    def_name: np.ndarray  # [n_defs] int64
    def_rowid: np.ndarray  # [n_defs] int64 rowid in the defs table
    ref_node: np.ndarray  # [n_refs] int64, one row per (file, name), sorted by (node, name)
    ref_name: np.ndarray  # [n_refs] int64
    ref_count: np.ndarray  # [n_refs] int64 uses summed over reference kinds
    # Derived by link_structure(). A "key" is a (name, language family) pair: names link only
    # within a family. Link rows are the reference rows that point at some other file.
    n_def: np.ndarray  # [n_names] int64 distinct files defining each name
    link_src: np.ndarray  # [l] int64 referencing file
    link_name: np.ndarray  # [l] int64 name referenced
    link_key: np.ndarray  # [l] int64 key referenced
    link_scale: np.ndarray  # [l] float64 sqrt(uses) / n_def of the name
    link_others: np.ndarray  # [l] float64 summed node_weight of the key's other definers
    link_own: np.ndarray  # [l] bool: the referencing file defines the key too
    pair_node: np.ndarray  # [p] int64 defining file; one row per (key, file), by key then file
    pair_key: np.ndarray  # [p] int64
    pair_self: np.ndarray  # [p] int64 link row of the same (file, key), else l (a zero pad)
    def_pair: np.ndarray  # [n_defs] int64 pair row of each definition

    def to_bytes(self) -> bytes:
        """A compact binary form: a JSON header, then the raw arrays (see from_bytes)."""
        arrays: dict[str, np.ndarray] = {
            "paths": _join(self.paths), "names": _join(self.names)}
        arrays.update({f.name: getattr(self, f.name) for f in fields(self)
                       if f.name not in ("paths", "names")})
        layout: dict[str, list[object]] = {}  # array name -> [dtype, length, byte offset]
        header: dict[str, object] = {"format": FORMAT, "arrays": layout}
        chunks: list[bytes] = []
        offset = 0
        for key, arr in arrays.items():
            raw = np.ascontiguousarray(arr).tobytes()
            layout[key] = [arr.dtype.str, len(arr), offset]
            chunks.append(raw)
            offset += len(raw)
        head = json.dumps(header).encode()
        return len(head).to_bytes(8, "little") + head + b"".join(chunks)

    @classmethod
    def from_bytes(cls, blob: bytes) -> GraphData | None:
        """The arrays back (read-only views of `blob`), or None for another format."""
        try:
            n_head = int.from_bytes(blob[:8], "little")
            header = json.loads(blob[8 : 8 + n_head])
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            return None
        base = 8 + n_head
        arrays = {key: np.frombuffer(blob, dtype=np.dtype(dt), count=count, offset=base + off)
                  for key, (dt, count, off) in header["arrays"].items()}
        return cls(paths=_split(arrays.pop("paths")), names=_split(arrays.pop("names")),
                   **arrays)

    def equals(self, other: GraphData) -> bool:
        """Exact equality of every field (used to check incremental against full builds)."""
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name))
            if isinstance(getattr(self, f.name), np.ndarray)
            else getattr(self, f.name) == getattr(other, f.name)
            for f in fields(self)
        )


def _join(strings: list[str]) -> np.ndarray:
    return np.frombuffer("\0".join(strings).encode("utf-8", "surrogateescape"), dtype=np.uint8)


def _split(raw: np.ndarray) -> list[str]:
    text = raw.tobytes().decode("utf-8", "surrogateescape")
    return text.split("\0") if text else []


def empty_graph() -> GraphData:
    """A graph with no files."""
    ints = np.zeros(0, dtype=np.int64)
    floats = np.zeros(0, dtype=np.float64)
    return with_links(paths=[], names=[], node_fid=ints, node_weight=floats, node_family=ints,
                      name_base=floats, def_node=ints, def_line=ints, def_name=ints,
                      def_rowid=ints, ref_node=ints, ref_name=ints, ref_count=ints)


def unique(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct integers of `values` and each value's index among them.

    np.unique does the same but imports numpy.ma on first use (tens of milliseconds)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.ones(len(ordered), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    inverse = np.empty(len(values), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse


def _lookup(sorted_codes: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of `codes` in `sorted_codes` and whether each is there."""
    if len(sorted_codes) == 0:
        return np.zeros(len(codes), dtype=np.int64), np.zeros(len(codes), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_codes, codes), len(sorted_codes) - 1)
    return pos, sorted_codes[pos] == codes


def with_links(paths: list[str], names: list[str], **arrays: np.ndarray) -> GraphData:
    """GraphData from its raw fields (paths, names, then the arrays node_fid ... ref_count),
    with the link structure derived from them."""
    links = link_structure(len(paths), len(names), **arrays)
    return GraphData(paths=paths, names=names, **arrays, **links)


def link_structure(n_nodes: int, n_names: int, *, node_family: np.ndarray,
                   node_weight: np.ndarray, def_node: np.ndarray, def_name: np.ndarray,
                   ref_node: np.ndarray, ref_name: np.ndarray, ref_count: np.ndarray,
                   **_: np.ndarray) -> dict[str, np.ndarray]:
    """The derived fields of GraphData (n_def, link_*, pair_*, def_pair); see its comments."""
    n = max(n_nodes, 1)
    n_def = np.bincount(unique(def_name * n + def_node)[0] // n, minlength=n_names)
    pair_code, def_pair = unique((def_name * N_FAMILIES + node_family[def_node]) * n + def_node)
    key_codes, pair_key = unique(pair_code // n)
    pair_node = pair_code % n
    ref_key, known = _lookup(key_codes, ref_name * N_FAMILIES + node_family[ref_node])
    at, own = _lookup(pair_key * n + pair_node, ref_key * n + ref_node)
    total = np.bincount(pair_key, weights=node_weight[pair_node], minlength=len(key_codes))
    others = total[ref_key] - np.where(own, node_weight[ref_node], 0.0)
    live = known & (others > 0)  # a name no other file of the family defines links nowhere
    own_live = own[live]
    pair_self = np.full(len(pair_code), int(live.sum()), dtype=np.int64)
    pair_self[at[live][own_live]] = np.flatnonzero(own_live)
    link_name = ref_name[live]
    return {
        "n_def": n_def,
        "link_src": ref_node[live],
        "link_name": link_name,
        "link_key": ref_key[live],
        "link_scale": np.sqrt(ref_count[live].astype(np.float64)) / np.maximum(n_def[link_name], 1),
        "link_others": others[live],
        "link_own": own_live,
        "pair_node": pair_node,
        "pair_key": pair_key,
        "pair_self": pair_self,
        "def_pair": def_pair,
    }
