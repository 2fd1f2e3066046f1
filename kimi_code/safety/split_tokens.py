"""Credentials that were split to slip past a redactor: "ghp_ abc…", a key spread over lines or
Markdown emphasis, one with zero-width characters inside (issue 15, class 7).

A hostile model that wants a token in a PR comment will not print it whole: it inserts spaces,
line breaks, backticks, asterisks or invisible characters. This module glues runs of token
characters back together across short separators and looks for (a) well-known vendor key
formats starting at a word boundary and (b) configured secret values, then returns the original
spans to blank out. Ordinary prose is protected by two rules: a glued continuation piece must
look like token material (digits, inner capitals, or an unpronounceable run; "is", "leaked" and
"here" end the token), and the glued token must look random as a whole.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable

from kimi_code.llm.scrub import VENDOR_KEYS

# Zero-width, bidi, variation selectors and tag characters: invisible in a rendered comment.
INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u2069\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f]")
_PIECE = re.compile(r"[A-Za-z0-9_-]+")
_ALNUM = re.compile(r"[A-Za-z0-9]")
PREFIXES = ("sk-", "sk_live_", "sk_test_", "rk_live_", "rk_test_", "pk_live_", "ghp_", "gho_",
            "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xoxa-", "xoxb-", "xoxp-",
            "xoxo-", "xoxs-", "xoxr-", "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIza", "hf_",
            "npm_")
MAX_GAP = 8          # separator characters allowed between two pieces of one token
MAX_PIECES = 48      # pieces glued into one candidate
MAX_GLUED = 160      # characters glued into one candidate
MIN_SECRET_CHARS = 8  # alphanumerics a configured secret needs to be searched split


def _gap_ok(gap: str) -> bool:
    """A separator a splitter would use: short, and not a paragraph break."""
    return len(gap) <= MAX_GAP and "\n\n" not in gap and "\n\r\n" not in gap


def _vowel_ratio(word: str) -> float:
    return sum(c in "aeiouy" for c in word.lower()) / max(len(word), 1)


def _token_material(piece: str) -> bool:
    """Whether a continuation piece reads like part of a random token rather than a word."""
    if not piece.strip("-_"):
        return True  # "-" / "_" between parts
    if any(c.isdigit() for c in piece):
        return True
    if any(c.isupper() for c in piece[1:]) and not piece.isupper():
        return True  # inner capitals: "aBcD"
    if piece.isupper() and len(piece) >= 4:
        return True  # "IOSFODNN" in an AWS key id
    return len(piece) >= 5 and (_vowel_ratio(piece) < 0.2 or
                                re.search(r"[^aeiouy]{5,}", piece.lower()) is not None)


def _random_enough(token: str) -> bool:
    body = token.split("_", 1)[-1] if token.startswith(("gh", "hf_", "npm_")) else token
    return any(c.isdigit() for c in body) or sum(c.isupper() for c in body) >= 3


def _completes_prefix(glued: str, piece: str) -> bool:
    """Whether `piece` continues a vendor prefix not yet complete ("gh" + "p_abc...")."""
    if any(glued.startswith(p) for p in PREFIXES):
        return False
    return _could_start(glued + piece)


def _could_start(piece: str) -> bool:
    return any(piece.startswith(p) or p.startswith(piece) for p in PREFIXES)


def _candidate_regex() -> re.Pattern[str]:
    """Where a split vendor key can start: a whole prefix at a word boundary, or a part of one
    ending at a separator ("gh" in "gh p_..."). One C-level scan instead of a Python loop over
    every word of a multi-megabyte transcript."""
    options = set()
    for prefix in PREFIXES:
        options.add(re.escape(prefix))
        # (from two characters: a key split after its first letter is not worth a candidate
        # at every "a" and "x" of a transcript)
        options.update(re.escape(prefix[:k]) + r"(?![A-Za-z0-9_-])" for k in range(2, len(prefix)))
    ordered = sorted(options, key=len, reverse=True)
    return re.compile(r"(?<![A-Za-z0-9_-])(?:" + "|".join(ordered) + ")")


_CANDIDATE = _candidate_regex()
_PIECE_START = re.compile(r"[A-Za-z0-9_-]")


def _glue(text: str, start: int) -> tuple[str, list[tuple[int, int]]]:
    """Pieces from `start` on, glued while the separators are short and the pieces read like
    token material; returns (glued text, piece spans)."""
    first = _PIECE.match(text, start)
    assert first is not None  # a candidate always starts with a token character
    glued, spans = first.group(), [first.span()]
    cursor = first.end()
    while len(spans) < MAX_PIECES:
        nxt = _PIECE_START.search(text, cursor, cursor + MAX_GAP + 1)
        if nxt is None or not _gap_ok(text[cursor:nxt.start()]):
            break
        piece = _PIECE.match(text, nxt.start())
        assert piece is not None
        word = piece.group()
        if len(glued) + len(word) > MAX_GLUED or not (
                _token_material(word) or _completes_prefix(glued, word)):
            break
        glued, cursor = glued + word, piece.end()
        spans.append(piece.span())
    return glued, spans


def vendor_spans(text: str) -> list[tuple[int, int]]:
    """Spans of vendor-format keys that only match once the pieces around separators are
    glued (an unsplit key is left to the ordinary patterns)."""
    spans: list[tuple[int, int]] = []
    done = 0
    for candidate in _CANDIDATE.finditer(text):
        if candidate.start() < done:
            continue
        glued, pieces = _glue(text, candidate.start())
        if len(pieces) < 2:
            continue
        match = VENDOR_KEYS.match(glued)
        first_len = pieces[0][1] - pieces[0][0]
        if match and match.end() > first_len and _random_enough(match.group()):
            end = _span_end(pieces, match.end())
            spans.append((pieces[0][0], end))
            done = end
    return spans


def _span_end(pieces: list[tuple[int, int]], glued_end: int) -> int:
    """The original offset after the piece holding the glued match's last character."""
    used = 0
    for start, end in pieces:
        used += end - start
        if used >= glued_end:
            return end
    return pieces[-1][1]


# Between two characters of a split secret: up to MAX_GAP non-alphanumerics, no blank line.
_SECRET_GAP = rf"(?:(?!\n[^A-Za-z0-9\n]*\n)[^A-Za-z0-9]){{0,{MAX_GAP}}}"


def secret_spans(text: str, secrets: Iterable[str]) -> list[tuple[int, int]]:
    """Spans where a configured secret's letters and digits appear in order with only short
    separators between them (the secret split by spaces, lines, Markdown or invisibles)."""
    wanted = {"".join(_ALNUM.findall(s)) for s in secrets}
    spans: list[tuple[int, int]] = []
    for secret in (w for w in wanted if len(w) >= MIN_SECRET_CHARS):
        pattern = re.compile(_SECRET_GAP.join(re.escape(c) for c in secret))
        spans += [m.span() for m in pattern.finditer(text)]
    return spans


def blank_spans(text: str, spans: list[tuple[int, int]], replacement: str) -> str:
    """`text` with the (possibly overlapping) spans replaced, one replacement per merged span."""
    if not spans:
        return text
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, cursor = [], 0
    for start, end in merged:
        out += [text[cursor:start], replacement]
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def redact_split(text: str, secrets: Iterable[str], replacement: str) -> str:
    """Split vendor keys and split configured secrets replaced by `replacement`. Detection
    runs on the text with invisible characters taken out (a zero-width space inside a key is
    a split too); text outside the replaced spans keeps them."""
    removed = [m.start() for m in INVISIBLE.finditer(text)]
    visible = INVISIBLE.sub("", text) if removed else text
    spans = vendor_spans(visible) + secret_spans(visible, list(secrets))
    if removed:  # a key whole once the invisibles are out was split in the original
        spans += [m.span() for m in VENDOR_KEYS.finditer(visible)]
        # removed character j sat before visible index removed[j] - j
        shifts = [r - j for j, r in enumerate(removed)]
        spans = [(_original(a, shifts), _original(b - 1, shifts) + 1) for a, b in spans]
    return blank_spans(text, spans, replacement)


def _original(index: int, shifts: list[int]) -> int:
    """A visible-text index as an index into the text with its invisible characters."""
    return index + bisect.bisect_right(shifts, index)
