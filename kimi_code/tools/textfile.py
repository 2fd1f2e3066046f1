"""Text files for the file tools: sniffing (text, binary, image), decoding that round-trips the
original bytes, stale-read stamps (taken on the open file), and diffs. The I/O itself goes
through `kimi_code.tools.file_io` (race-free, beneath the workspace).

Encodings: UTF-8 (with or without BOM) and UTF-16/32 with a BOM are decoded as such. A file that
is mostly UTF-8 with a few bad bytes is decoded with `surrogateescape`, so untouched bytes are
written back exactly; a file in a legacy 8-bit encoding is handled as latin-1 (also lossless).
"""

from __future__ import annotations

import codecs
import difflib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kimi_code.tools.base import ToolContext, ToolError
from kimi_code.tools.paths import display_path

SNIFF_BYTES = 8192
READ_STAMPS_KEY = "files_read"

_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"\x00\x00\x01\x00", "ICO"),
)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Control bytes that do not occur in text (everything below 0x20 except \t \n \v \f \r, ESC).
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_SURROGATE = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class FileKind:
    """What a file looks like from its first bytes."""

    kind: Literal["text", "binary", "image", "pdf"]
    encoding: str = "utf-8"
    bom: bytes = b""
    detail: str = ""  # e.g. "PNG" for an image


def sniff_bytes(head: bytes) -> FileKind:
    """Classify a file from its first bytes (SNIFF_BYTES of them, or the whole small file)."""
    for magic, name in _IMAGE_MAGIC:
        if head.startswith(magic):
            return FileKind("image", detail=name)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return FileKind("image", detail="WebP")
    if head.startswith(b"%PDF-"):
        return FileKind("pdf", detail="PDF")
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return FileKind("text", encoding=encoding, bom=bom)
    if b"\x00" in head:
        return FileKind("binary")
    return FileKind("text", encoding=_guess_8bit_encoding(head)) if head else FileKind("text")


def _guess_8bit_encoding(data: bytes) -> str:
    """'utf-8' when the bytes are (mostly) UTF-8, 'latin-1' for legacy text, 'binary' otherwise."""
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A sample cut inside a multi-byte character is still UTF-8.
        if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    text = data.decode("utf-8", errors="surrogateescape")
    bad = len(_SURROGATE.findall(text))
    good = sum(1 for ch in text if ord(ch) > 0x7F) - bad
    return "utf-8" if good >= bad else "latin-1"


def sniff_head(head: bytes) -> FileKind:
    """Classify a file from its first SNIFF_BYTES; binary files whose head is full of control
    bytes included."""
    kind = sniff_bytes(head)
    if kind.kind == "text" and not kind.bom and len(_CONTROL.findall(head)) > len(head) * 0.1:
        return FileKind("binary")
    return kind


def refuse_non_text(kind: FileKind, shown: str, size: int) -> None:
    """Raise a clear ToolError for images, PDFs and other binary files."""
    if kind.kind == "image":
        raise ToolError(
            f"{shown} is an image ({kind.detail}, {size} bytes). This tool reads text files only "
            "and cannot show images."
        )
    if kind.kind == "pdf":
        raise ToolError(f"{shown} is a PDF ({size} bytes); this tool reads text files only. "
                        "Try `pdftotext` through Bash if it is installed.")
    if kind.kind == "binary":
        raise ToolError(f"{shown} is a binary file ({size} bytes); this tool reads text files only. "
                        "Inspect it with Bash (e.g. `file`, `xxd | head`) if needed.")


@dataclass
class TextDoc:
    """A whole text file decoded losslessly, with what is needed to write it back the same way."""

    text: str  # without the BOM
    encoding: str
    bom: bytes
    newline: Literal["\n", "\r\n", "mixed"]

    def encode(self, text: str) -> bytes:
        errors = "surrogateescape" if self.encoding == "utf-8" else "strict"
        try:
            return self.bom + text.encode(self.encoding, errors=errors)
        except UnicodeEncodeError as exc:
            raise ToolError(
                f"The new text contains {exc.object[exc.start:exc.end]!r}, which cannot be "
                f"written in this file's encoding ({self.encoding})."
            ) from None


def detect_newline(text: str) -> Literal["\n", "\r\n", "mixed"]:
    crlf = text.count("\r\n")
    lone_lf = text.count("\n") - crlf
    if crlf and lone_lf:
        return "mixed"
    return "\r\n" if crlf else "\n"


def decode_text(data: bytes, shown: str) -> TextDoc:
    """Decode a whole text file's bytes losslessly; ToolError for binary files."""
    kind = sniff_bytes(data[:SNIFF_BYTES])
    refuse_non_text(kind, shown, len(data))
    body = data[len(kind.bom):]
    encoding = kind.encoding if kind.bom else _guess_8bit_encoding(body)
    errors = "surrogateescape" if encoding == "utf-8" else "strict"
    try:
        text = body.decode(encoding, errors=errors)
    except UnicodeDecodeError:
        raise ToolError(f"{shown} could not be decoded as {encoding}.") from None
    return TextDoc(text=text, encoding=encoding, bom=kind.bom, newline=detect_newline(text))


def for_display(text: str) -> str:
    """Replace undecodable bytes (lone surrogates) so the text can be sent to the model."""
    return _SURROGATE.sub("\ufffd", text)


_CONTROL_IN_NAME = re.compile(r"[\x00-\x1f\x7f]")


def path_for_display(path: str) -> str:
    """A path as one line of a listing. A name with a newline or another control character
    would read as two entries or garble the terminal, so it is shown as a JSON string, which
    the model can copy into its JSON arguments as is."""
    shown = for_display(path)
    return json.dumps(shown, ensure_ascii=False) if _CONTROL_IN_NAME.search(shown) else shown


def default_mode() -> int:
    """0o666 minus the process umask, read without changing it (os.umask is racy)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o644


Stamp = tuple[int, int]


def stamp_of(st: os.stat_result) -> Stamp:
    """(mtime in ns, size) of a status taken on the open file: changes whenever something
    rewrites the file."""
    return st.st_mtime_ns, st.st_size


def record_read(ctx: ToolContext, path: Path, st: os.stat_result) -> None:
    """Remember that the model has seen `path` as `st` shows it (Read, or our own write)."""
    ctx.state.setdefault(READ_STAMPS_KEY, {})[str(path)] = stamp_of(st)


def check_fresh(ctx: ToolContext, path: Path, st: os.stat_result, action: str) -> None:
    """Refuse to modify an existing file (status `st`, taken on the open file) the model never
    read, or one changed since it read it."""
    shown = display_path(path, ctx)
    recorded = ctx.state.get(READ_STAMPS_KEY, {}).get(str(path))
    if recorded is None:
        raise ToolError(f"{shown} exists but has not been read in this session. "
                        f"Read it first, then {action} it.")
    if stamp_of(st) != recorded:
        raise ToolError(
            f"{shown} has changed on disk since you last read it (edited by the user, a "
            f"formatter or a command). Read it again, then {action} it."
        )


def unified_diff(old: str, new: str, shown: str) -> tuple[str, int, int]:
    """A unified diff of two texts plus (lines added, lines removed)."""
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    diff_lines = list(difflib.unified_diff(old_lines, new_lines, f"a/{shown}", f"b/{shown}", n=3))
    added = sum(1 for ln in diff_lines if ln.startswith("+") and not ln.startswith("+++"))
    removed = sum(1 for ln in diff_lines if ln.startswith("-") and not ln.startswith("---"))
    text = "".join(ln if ln.endswith("\n") else ln + "\n\\ No newline at end of file\n"
                   for ln in diff_lines)
    return for_display(text), added, removed
