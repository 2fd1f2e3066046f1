"""Tag extraction: parse one file with tree-sitter and run its tag query.

A tag query captures `@name` together with exactly one `@definition.<kind>` or
`@reference.<kind>` node. When several patterns capture the same name node, the pattern that
comes first in the query file wins; this is how `method` beats `function` for a def inside a
class and why a definition name is never also counted as a reference to itself.

Also here: the per-file work a scan worker does (read, skip checks, hash, extract), kept free
of SQLite and of process-pool concerns so that it can run anywhere.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from typing import TYPE_CHECKING, NamedTuple

from kimi_code.index.languages import (
    language_from_shebang,
    load_query,
    needs_shebang_probe,
    parser_for,
)

if TYPE_CHECKING:
    from tree_sitter import Node

MAX_FILE_BYTES = 1024 * 1024  # larger sources are data or generated; skip them
LFS_POINTER = b"version https://git-lfs.github.com/spec/"
MAX_NAME_CHARS = 200
MAX_SIGNATURE_CHARS = 200

DEFINITION_KINDS = (
    "class", "struct", "interface", "enum", "type", "function", "method", "constant",
    "variable", "module", "macro",
)
REFERENCE_KINDS = ("call", "type", "import")
_ROLE_PREFIXES = ("definition.", "reference.")
_PATTERN_ROLES: dict[str, dict[int, str]] = {}  # lang -> pattern index -> role capture name


@functools.lru_cache(maxsize=256)
def _split_role(role: str) -> tuple[str, str]:
    """'definition.function' -> ('definition', 'function')."""
    family, _, kind = role.partition(".")
    return family, kind

_GENERATED_NAME = re.compile(
    r"(_pb2(_grpc)?\.py|\.pb\.(go|cc|h)|\.generated\.\w+|\.g\.cs|\.designer\.cs|_generated\.go)$",
    re.IGNORECASE,
)
_MINIFIED_NAME = re.compile(r"([.-]min\.(js|mjs|cjs)|\.bundle\.js)$", re.IGNORECASE)
_GENERATED_MARKER = re.compile(
    rb"@generated\b|\b(?:code|file) (?:is )?(?:auto-?)?generated\b.{0,80}\bdo not edit\b|"
    rb"\bauto-?generated\b.{0,80}\bdo not (?:edit|modify)\b",
    re.IGNORECASE | re.DOTALL,
)


class Definition(NamedTuple):
    """A definition: lines are 1-based and inclusive; `signature` is its first source line."""

    name: str
    kind: str
    line: int
    end_line: int
    signature: str


class Reference(NamedTuple):
    """A use of a name (call, type use or import) on a 1-based line."""

    name: str
    kind: str
    line: int


class FileTags(NamedTuple):
    defs: list[Definition]
    refs: list[Reference]


class FileResult(NamedTuple):
    """What a worker reports for one file. `skip` is a reason, or "" when it was indexed."""

    path: str
    lang: str
    digest: str
    skip: str
    defs: list[Definition]
    refs: list[Reference]


def _line_text(source: bytes, start_byte: int) -> str:
    begin = source.rfind(b"\n", 0, start_byte) + 1
    end = source.find(b"\n", start_byte)
    raw = source[begin : end if end != -1 else len(source)]
    return raw.decode("utf-8", "replace").rstrip()


def _signature(source: bytes, def_node, name_node) -> str:
    """The definition's first line; plus the name's line when the name sits lower down
    (C's `static int\\nfoo(void)`)."""
    text = _line_text(source, def_node.start_byte)
    if name_node.start_point[0] != def_node.start_point[0]:
        text = f"{text} {_line_text(source, name_node.start_byte).strip()}"
    return text[:MAX_SIGNATURE_CHARS]


def extract_tags(source: bytes, lang: str) -> FileTags:
    """Parse `source` as `lang` and return its definitions and references in source order."""
    from tree_sitter import QueryCursor

    tree = parser_for(lang).parse(source)
    query = load_query(lang)
    # A pattern's role capture is the same in every match (the queries have one per pattern);
    # remembering it per pattern saves a scan of each match's captures (a hot loop).
    role_of = _PATTERN_ROLES.setdefault(lang, {})
    # name node start byte -> (pattern index, role capture name, role node, name node)
    best: dict[int, tuple[int, str, Node, Node]] = {}
    for pattern, captures in QueryCursor(query).matches(tree.root_node):
        role = role_of.get(pattern)
        if role is None or role not in captures:
            role = next((c for c in captures if c.startswith(_ROLE_PREFIXES)), None)
            if role is None:
                continue
            role_of[pattern] = role
        names = captures.get("name")
        if not names:
            continue
        name_node = names[0]
        key = name_node.start_byte
        prev = best.get(key)
        if prev is not None and prev[0] <= pattern:
            continue
        best[key] = (pattern, role, captures[role][0], name_node)
    defs: list[Definition] = []
    refs: list[Reference] = []
    for key in sorted(best):
        _, role, node, name_node = best[key]
        # Ruby symbols (`attr_reader :size`) name the method without their colon.
        name = (name_node.text or b"").decode("utf-8", "replace").strip().lstrip(":")
        if not name or len(name) > MAX_NAME_CHARS:
            continue
        family, kind = _split_role(role)
        line = name_node.start_point[0] + 1
        if family == "definition":
            start = node.start_point[0] + 1
            end_row, end_col = node.end_point
            # A node that ends with its newline (`#define X 1\n`) ends on the line before.
            end = end_row if end_col == 0 and end_row > node.start_point[0] else end_row + 1
            defs.append(Definition(name, kind, start, end, _signature(source, node, name_node)))
        elif family == "reference":
            refs.append(Reference(name, kind, line))
    return FileTags(defs, refs)


def skip_reason_for_name(path: str) -> str:
    """A skip reason decided by the file name alone ("" when the name is fine)."""
    if _MINIFIED_NAME.search(path):
        return "minified"
    if _GENERATED_NAME.search(path):
        return "generated"
    return ""


def skip_reason_for_content(source: bytes) -> str:
    """A skip reason decided by content: binary, generated or minified ("" when fine)."""
    head = source[:8192]
    if b"\0" in head:
        return "binary"
    if source.startswith(LFS_POINTER):
        # The real content lives in Git LFS; the pointer's "key value" lines would otherwise
        # parse as definitions (a Python file "defining" https and sha256).
        return "lfs-pointer"
    if _GENERATED_MARKER.search(source[:2048]):
        return "generated"
    if len(source) > 4096:
        lines = source.count(b"\n") + 1
        if len(source) / lines > 300:
            return "minified"
    return ""


def to_utf8(source: bytes) -> bytes:
    """Source as UTF-8, which is what tree-sitter parses: UTF-16 (with a BOM) and legacy
    8-bit encodings (read as cp1252, else latin-1) are transcoded; line numbers are kept."""
    if source.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return source.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            return source
    try:
        source.decode("utf-8")
        return source
    except UnicodeDecodeError:
        pass
    try:
        return source.decode("cp1252").encode("utf-8")
    except UnicodeDecodeError:
        return source.decode("latin-1").encode("utf-8")


def analyze_file(root: str, path: str, lang: str | None, size: int,
                 old_digest: str = "") -> FileResult:
    """Read, classify and (unless skipped) tag one file. Never raises for bad input files:
    unreadable or unparseable files come back with a skip reason. When the content digest
    equals `old_digest` the parse is skipped and `skip` is "same"."""
    if size > MAX_FILE_BYTES:
        return FileResult(path, lang or "", "", "huge", [], [])
    try:
        with open(os.path.join(root, path), "rb") as fh:
            source = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return FileResult(path, lang or "", "", f"unreadable: {exc.strerror or exc}", [], [])
    digest = hashlib.blake2b(source, digest_size=16).hexdigest()
    if old_digest and digest == old_digest:
        return FileResult(path, lang or "", digest, "same", [], [])
    if len(source) > MAX_FILE_BYTES:
        return FileResult(path, lang or "", digest, "huge", [], [])
    source = to_utf8(source)
    if lang is None and needs_shebang_probe(path):
        lang = language_from_shebang(source[: source.find(b"\n")] if b"\n" in source else source)
    if lang is None:
        return FileResult(path, "", digest, "unsupported", [], [])
    reason = skip_reason_for_name(path) or skip_reason_for_content(source)
    if reason:
        return FileResult(path, lang, digest, reason, [], [])
    try:
        tags = extract_tags(source, lang)
    except Exception as exc:  # a grammar crash must not abort a whole scan
        return FileResult(path, lang, digest, f"parse error: {type(exc).__name__}", [], [])
    return FileResult(path, lang, digest, "", tags.defs, tags.refs)


def group_refs(refs: list[Reference]) -> list[tuple[str, str, int, str]]:
    """Collapse references into one (name, kind, count, "l1,l2,...") row per (name, kind),
    in first-use order: the shape the cache stores, and much smaller to send between
    processes than one tuple per use."""
    grouped: dict[tuple[str, str], list[int]] = {}
    for name, kind, line in refs:
        grouped.setdefault((name, kind), []).append(line)
    return [(name, kind, len(lines), ",".join(map(str, lines)))
            for (name, kind), lines in grouped.items()]
