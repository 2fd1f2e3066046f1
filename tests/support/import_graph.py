"""The module import graph of a package, read with `ast`, and a check that it has no cycles.

import-linter's layers contract says which way imports may point; this says that no group of
modules imports itself in a circle. Every import statement counts: module-level ones, those
inside functions (the lazy imports kimi-code uses on start-up paths) and those under
`if TYPE_CHECKING:`. A cycle through lazy imports still means two modules cannot be understood,
tested or moved apart, so it is a cycle here too.

Run it as `python -m tests.support.import_graph [PACKAGE_DIR ...]` (default: kimi_code): it prints
one line per cycle (each edge with the file and line of its import) and exits 1 when any exist.
Edges listed under `[tool.import-cycles] ignore` in ./pyproject.toml ("a.b -> a.c", each with a
comment saying why) are left out; an entry naming an import that no longer exists is printed
as a note to remove it (not a failure: the work that removes a cycle need not know this list).
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ImportEdge:
    """`importer` imports `imported` (both dotted module names) at `path`:`line`."""

    importer: str
    imported: str
    path: Path
    line: int


@dataclass
class ImportGraph:
    """Modules of one package (dotted names) and the first import edge seen between each pair."""

    modules: dict[str, Path] = field(default_factory=dict)
    edges: dict[str, dict[str, ImportEdge]] = field(default_factory=dict)

    def targets(self, module: str) -> Iterable[str]:
        """The modules `module` imports (inside the package only)."""
        return self.edges.get(module, {}).keys()


def module_names(package_dir: Path) -> dict[str, Path]:
    """Map every module of the package at `package_dir` to its file: `pkg.sub.mod` -> mod.py,
    `pkg.sub` -> sub/__init__.py."""
    root = package_dir.resolve()
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The deepest module of the package that `name` names or lies in (None: outside)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _base_of_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute module a `from .target import ...` with `level` dots names."""
    anchor = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        anchor = anchor[: len(anchor) - (level - 1)]
    return ".".join([*anchor, target] if target else anchor)


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import statement anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):  # walks function bodies and `if TYPE_CHECKING:` blocks too
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name, modules)
                if target:
                    yield target, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = _base_of_relative(module, is_package, node.level, node.module)
            for alias in node.names:
                # `from pkg import sub` imports the submodule when there is one, else pkg itself
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in modules else _resolve(base, modules)
                if target:
                    yield target, node.lineno


def build_graph(package_dir: Path) -> ImportGraph:
    """The import graph of the package at `package_dir` (edges to outside modules dropped)."""
    graph = ImportGraph(modules=module_names(package_dir))
    for module, path in graph.modules.items():
        for target, line in imports_of(module, path, graph.modules):
            if target != module:
                graph.edges.setdefault(module, {}).setdefault(
                    target, ImportEdge(module, target, path, line))
    return graph


def ignored_edges(pyproject: Path) -> set[tuple[str, str]]:
    """The (importer, imported) pairs under `[tool.import-cycles] ignore` in `pyproject`."""
    if not pyproject.is_file():
        return set()
    table = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    entries = table.get("tool", {}).get("import-cycles", {}).get("ignore", [])
    pairs = set()
    for entry in entries:
        importer, arrow, imported = entry.partition("->")
        if not arrow:
            raise ValueError(f"[tool.import-cycles] ignore entry {entry!r} is not 'a -> b'")
        pairs.add((importer.strip(), imported.strip()))
    return pairs


def strongly_connected(graph: ImportGraph) -> list[list[str]]:
    """Groups of two or more modules that import each other, directly or through others
    (Tarjan's algorithm, iterative so deep packages cannot hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for start in graph.modules:
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(list(graph.targets(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(list(graph.targets(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def one_cycle(graph: ImportGraph, group: list[str]) -> list[ImportEdge]:
    """A concrete circle of imports through the first module of `group` (breadth-first, so
    the shortest one), as the edges to print."""
    members, start = set(group), group[0]
    came_from: dict[str, ImportEdge] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target, edge in graph.edges.get(node, {}).items():
                if target == start:
                    path = [edge]
                    while path[0].importer != start:
                        path.insert(0, came_from[path[0].importer])
                    return path
                if target in members and target not in came_from:
                    came_from[target] = edge
                    following.append(target)
        frontier = following
    raise AssertionError(f"{group} is not a cycle")  # Tarjan only returns real cycles


def drop_ignored(graph: ImportGraph, ignore: set[tuple[str, str]]) -> list[str]:
    """Remove the `ignore` edges of this graph's package from it; return a note for each entry
    of this package that names no existing import (stale: the cycle is gone)."""
    notes = []
    package = graph_root(graph)
    for importer, imported in sorted(ignore):
        if importer.split(".")[0] != package:
            continue  # an entry for another package checked in the same run
        if graph.edges.get(importer, {}).pop(imported, None) is None:
            notes.append(f"note: stale ignore, {importer} no longer imports {imported}; "
                         "remove the entry from [tool.import-cycles]")
    return notes


def describe_cycles(package_dir: Path, ignore: set[tuple[str, str]] | None = None,
                    notes: list[str] | None = None) -> list[str]:
    """One readable line per import cycle in the package once the `ignore` edges are left
    out (empty when there is none); notes about stale entries are appended to `notes`."""
    graph = build_graph(package_dir)
    stale = drop_ignored(graph, ignore or set())
    if notes is not None:
        notes.extend(stale)
    lines = []
    for group in strongly_connected(graph):
        steps = "".join(f"{edge.importer} --[{edge.path.name}:{edge.line}]--> "
                        for edge in one_cycle(graph, group))
        lines.append(f"cycle among {', '.join(group)}: {steps}{group[0]}")
    return lines


def graph_root(graph: ImportGraph) -> str:
    """The top-level package name of a graph ("" for an empty one)."""
    return min(graph.modules, key=len).split(".")[0] if graph.modules else ""


def main(argv: list[str]) -> int:
    """Check each package directory given (default: kimi_code); 1 when any has a cycle."""
    failed = False
    ignore = ignored_edges(Path("pyproject.toml"))
    for package in argv or ["kimi_code"]:
        notes: list[str] = []
        for line in describe_cycles(Path(package), ignore, notes):
            print(line)
            failed = True
        for note in notes:
            print(note)
    if not failed:
        print(f"import cycles: none in {', '.join(argv or ['kimi_code'])}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
