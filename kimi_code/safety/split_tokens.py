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


def _could_start(piece: str) -> bool:
    return any(piece.startswith(p) or p.startswith(piece) for p in PREFIXES)


def vendor_spans(text: str) -> list[tuple[int, int]]:
    """Spans of vendor-format keys that only match once the pieces around separators are
    glued (an unsplit key is left to the ordinary patterns)."""
    pieces = [(m.start(), m.end()) for m in _PIECE.finditer(text)]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(pieces):
        start, end = pieces[i]
        if not _could_start(text[start:end]):
            i += 1
            continue
        glued, last = text[start:end], i
        for j in range(i + 1, min(len(pieces), i + MAX_PIECES)):
            gap = text[pieces[j - 1][1]:pieces[j][0]]
            piece = text[pieces[j][0]:pieces[j][1]]
            if not _gap_ok(gap) or len(glued) + len(piece) > MAX_GLUED:
                break
            if not _token_material(piece) and not (len(glued) < 12 and _could_start(glued + piece)):
                break
            glued, last = glued + piece, j
        match = VENDOR_KEYS.match(glued)
        if match and last > i and match.end() > end - start and _random_enough(match.group()):
            spans.append((start, _span_end(pieces, i, last, match.end())))
            i = last + 1
            continue
        i += 1
    return spans


def _span_end(pieces: list[tuple[int, int]], first: int, last: int, glued_end: int) -> int:
    """The original offset after the piece holding the glued match's last character."""
    used = 0
    for k in range(first, last + 1):
        used += pieces[k][1] - pieces[k][0]
        if used >= glued_end:
            return pieces[k][1]
    return pieces[last][1]


def secret_spans(text: str, secrets: Iterable[str]) -> list[tuple[int, int]]:
    """Spans where a configured secret's letters and digits appear in order with only short
    separators between them (the secret split by spaces, lines, Markdown or invisibles)."""
    wanted = {"".join(_ALNUM.findall(s)) for s in secrets}
    wanted = {w for w in wanted if len(w) >= MIN_SECRET_CHARS}
    if not wanted:
        return []
    positions = [m.start() for m in _ALNUM.finditer(text)]
    compact = "".join(text[p] for p in positions)
    spans: list[tuple[int, int]] = []
    for secret in wanted:
        at = compact.find(secret)
        while at >= 0:
            chosen = positions[at:at + len(secret)]
            if all(_gap_ok(text[a + 1:b]) for a, b in zip(chosen, chosen[1:], strict=False)):
                spans.append((chosen[0], chosen[-1] + 1))
            at = compact.find(secret, at + 1)
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
    if INVISIBLE.search(text):
        keep = [i for i, ch in enumerate(text) if not INVISIBLE.match(ch)]
        visible = "".join(text[i] for i in keep)
    else:
        keep, visible = [], text
    spans = vendor_spans(visible) + secret_spans(visible, list(secrets))
    if keep:  # a key whole once the invisibles are out was split in the original
        spans += [m.span() for m in VENDOR_KEYS.finditer(visible)]
        spans = [(keep[a], keep[b - 1] + 1) for a, b in spans]
    return blank_spans(text, spans, replacement)
