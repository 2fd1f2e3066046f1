"""Symbol lookups over the cache: definitions by name, references by name, every definition.

Mixed into RepoIndex (repo_map.py); expects `self.conn` (the cache connection) and `self.root`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_CONTAINER_KINDS = ("class", "struct", "interface", "enum", "module")
_QUALIFIER = re.compile(r"::|\.|#|->")


@dataclass(frozen=True)
class SymbolHit:
    """A definition: path relative to the root, 1-based inclusive lines."""

    path: str
    name: str
    kind: str
    line: int
    end_line: int
    signature: str
    container: str = ""  # the enclosing class/module, when there is one


@dataclass(frozen=True)
class ReferenceHit:
    path: str
    line: int
    kind: str
    text: str


class SymbolQueries:
    conn: sqlite3.Connection
    root: Path

    def _containers(self, file_id: int) -> list[tuple[int, int, str]]:
        return self.conn.execute(
            "SELECT line, end_line, name FROM defs WHERE file_id=? AND kind IN (?,?,?,?,?)",
            (file_id, *_CONTAINER_KINDS),
        ).fetchall()

    def _container_of(self, file_id: int, line: int, end_line: int, name: str) -> str:
        """The innermost container definition enclosing [line, end_line], else ""."""
        best: tuple[int, str] | None = None
        for c_line, c_end, c_name in self._containers(file_id):
            if c_line <= line and end_line <= c_end and (c_line, c_end) != (line, end_line):
                span = c_end - c_line
                if best is None or span < best[0]:
                    best = (span, c_name)
        return best[1] if best else ""

    def find_symbol(self, name: str, kind: str | None = None, limit: int = 50) -> list[SymbolHit]:
        """Definitions named `name` (exactly; `Class.method` / `Mod::fn` narrows by container).
        Sorted by path then line."""
        parts = [p for p in _QUALIFIER.split(name.strip()) if p]
        if not parts:
            return []
        leaf, container = parts[-1], (parts[-2] if len(parts) > 1 else "")
        sql = ("SELECT d.file_id, f.path, d.name, d.kind, d.line, d.end_line, d.signature "
               "FROM defs d JOIN files f ON f.id = d.file_id WHERE d.name = ?")
        params: list[object] = [leaf]
        if kind:
            sql += " AND d.kind = ?"
            params.append(kind)
        sql += " ORDER BY f.path, d.line"
        hits: list[SymbolHit] = []
        for fid, path, nm, knd, line, end, sig in self.conn.execute(sql, params):
            owner = self._container_of(fid, line, end, nm)
            if container and owner != container:
                continue
            hits.append(SymbolHit(path, nm, knd, line, end, sig, owner))
            if len(hits) >= limit:
                break
        return hits

    def similar_names(self, name: str, limit: int = 10) -> list[str]:
        """Defined names that contain `name` case-insensitively (suggestions for a miss)."""
        leaf = [p for p in _QUALIFIER.split(name.strip()) if p]
        if not leaf:
            return []
        pattern = "%" + leaf[-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.conn.execute(
            "SELECT DISTINCT name FROM defs WHERE name LIKE ? ESCAPE '\\' ORDER BY length(name), "
            "name LIMIT ?", (pattern, limit),
        )
        return [r[0] for r in rows]

    def find_references(self, name: str, limit: int = 200) -> tuple[list[ReferenceHit], int]:
        """Places that use `name` (calls, type uses, imports), with the line's text, sorted by
        path and line; and the total count (which may exceed `limit`)."""
        leaf = [p for p in _QUALIFIER.split(name.strip()) if p]
        if not leaf:
            return [], 0
        rows = self.conn.execute(
            "SELECT f.path, r.kind, r.lines FROM refs r JOIN files f ON f.id = r.file_id "
            "WHERE r.name = ? ORDER BY f.path", (leaf[-1],),
        ).fetchall()
        located = sorted(
            (path, int(line), kind) for path, kind, lines in rows for line in lines.split(",")
        )
        total = len(located)
        hits: list[ReferenceHit] = []
        file_lines: dict[str, list[str]] = {}
        for path, line, kind in located[:limit]:
            if path not in file_lines:
                file_lines[path] = _read_lines(self.root / path)
            text_lines = file_lines[path]
            text = text_lines[line - 1].strip() if 0 < line <= len(text_lines) else ""
            hits.append(ReferenceHit(path, line, kind, text[:200]))
        return hits, total

    def iter_defs(self) -> Iterator[SymbolHit]:
        """Every definition, by path then line."""
        rows = self.conn.execute(
            "SELECT f.path, d.name, d.kind, d.line, d.end_line, d.signature FROM defs d "
            "JOIN files f ON f.id = d.file_id ORDER BY f.path, d.line, d.name"
        )
        for path, name, kind, line, end, sig in rows:
            yield SymbolHit(path, name, kind, line, end, sig)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_bytes().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
