"""Writing to a terminal whose locale cannot encode everything (latin-1, GBK, ASCII "C").

Model text, file names and our own box-drawing characters are arbitrary Unicode; a
UnicodeEncodeError while printing would throw away work that is already done (a review, a
transcript). What the stream cannot encode is shown as "?" instead.
"""

from __future__ import annotations

import io
import sys
from typing import TextIO


def encodable(text: str, out: TextIO) -> str:
    """Plain text that `out` can encode: what it cannot becomes "?" rather than a crash."""
    encoding = getattr(out, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
        return text
    except (UnicodeEncodeError, LookupError):
        return text.encode(encoding, "replace").decode(encoding, "replace")


def tolerate_unencodable(stream: TextIO | None = None) -> None:
    """Make `stream` (default stdout) replace what its encoding cannot represent. A no-op for
    UTF-8 streams and for streams that cannot be reconfigured (pipes in tests, StringIO)."""
    stream = stream if stream is not None else sys.stdout
    encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "")
    if encoding in ("utf8", "utf_8") or not isinstance(stream, io.TextIOWrapper):
        return
    try:
        stream.reconfigure(errors="replace")
    except (ValueError, OSError):
        pass
