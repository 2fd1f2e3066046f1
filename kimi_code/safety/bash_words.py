"""The static value of a bash word, from its tree-sitter node: quotes removed, backslashes and
`$'...'` escapes decoded, the way bash would before running the command. A word whose value
depends on the run (an expansion, a substitution, a glob, a brace expansion) has no static value
(None): rule matching then treats it as "could be anything".

The checks here also catch places where the tree-sitter grammar reads a word differently from
bash (a `$'...'` string it closed too late, a word holding an unescaped separator): those are
reported as `Misread`, and the caller refuses to judge the command statically.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tree_sitter import Node

# Nodes whose value is only known when the command runs.
_DYNAMIC = frozenset({
    "simple_expansion", "expansion", "command_substitution", "arithmetic_expansion",
    "process_substitution", "brace_expression",
})
_GLOB_CHARS = frozenset("*?[")
_WORD_BREAKERS = frozenset(" \t\n;&|<>()")
_BRACE = re.compile(r"\{[^{}]*(?:,|\.\.)[^{}]*\}")
_ANSI_SIMPLE = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n",
                "r": "\r", "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}
_ANSI_NUMERIC = re.compile(r"[0-7]{1,3}|x[0-9A-Fa-f]{1,2}|u[0-9A-Fa-f]{1,4}|U[0-9A-Fa-f]{1,8}")


class Misread(ValueError):
    """The grammar's reading of a word is not bash's; the command cannot be judged statically."""


def word_value(node: Node) -> str | None:
    """The static value of a word node, or None when it is only known at run time.

    Raises Misread when the node's extent cannot be what bash reads."""
    kind = node.type
    text = _text(node)
    if kind in _DYNAMIC:
        return None
    if kind == "word":
        return _unquoted_word(text)
    if kind == "number":
        return text
    if kind == "raw_string":
        return text[1:-1]
    if kind == "ansi_c_string":
        return decode_ansi_c(text)
    if kind == "translated_string":
        inner = node.named_children
        return word_value(inner[0]) if len(inner) == 1 else None
    if kind == "string":
        return _double_quoted(node, text)
    if kind == "concatenation":
        parts = [word_value(child) for child in node.children]
        if any(part is None for part in parts):
            return None
        joined = "".join(part for part in parts if part is not None)
        if _BRACE.search(_text(node)) and _has_unquoted_brace(node):
            return None  # `r{m,}` or `{-rf,x}`: bash expands it into other words
        return joined
    return None  # anything else (an array, an unknown node) is not a plain word


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", errors="surrogateescape")


def _unquoted_word(text: str) -> str | None:
    """An unquoted word: backslash escapes removed; globs, braces and a leading `~` (the home
    directory) make it dynamic."""
    if text.startswith("~"):
        return None
    out: list[str] = []
    i = 0
    plain: list[str] = []  # the unescaped characters, for the glob and brace checks
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            if text[i + 1] != "\n":  # backslash-newline is a line continuation: removed
                out.append(text[i + 1])
            plain.append("_")
            i += 2
            continue
        if ch in _WORD_BREAKERS:
            raise Misread(f"unescaped {ch!r} inside the word {text!r}")
        out.append(ch)
        plain.append(ch)
        i += 1
    unescaped = "".join(plain)
    if _GLOB_CHARS & set(unescaped) or _BRACE.search(unescaped):
        return None
    return "".join(out)


def _has_unquoted_brace(node: Node) -> bool:
    """A brace expansion needs its braces and comma unquoted (in plain `word` children)."""
    plain = "".join(_text(c) if c.type == "word" else "_" for c in node.children)
    return bool(_BRACE.search(plain))


def _double_quoted(node: Node, text: str) -> str | None:
    if any(child.is_named and child.type != "string_content" for child in node.children):
        return None
    body = text[1:-1] if len(text) >= 2 and text.startswith('"') and text.endswith('"') else None
    if body is None:
        raise Misread(f"the string {text!r} is not closed where bash closes it")
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in '$`"\\':
                out.append(nxt)
            elif nxt != "\n":
                out.append(ch + nxt)
            i += 2
            continue
        if ch == '"':
            raise Misread(f"the string {text!r} is not closed where bash closes it")
        if ch in "$`":
            return None  # an expansion the grammar did not mark: dynamic
        out.append(ch)
        i += 1
    return "".join(out)


def decode_ansi_c(text: str) -> str:
    """Decode a `$'...'` string as bash does; Misread when bash would close it elsewhere."""
    if not (text.startswith("$'") and text.endswith("'")) or len(text) < 3:
        raise Misread(f"{text!r} is not a $'...' string")
    body = text[2:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "'":
            raise Misread(f"bash ends the string {text!r} before the grammar does")
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(body):
            raise Misread(f"bash reads the closing quote of {text!r} as escaped")
        nxt = body[i + 1]
        if nxt in _ANSI_SIMPLE:
            out.append(_ANSI_SIMPLE[nxt])
            i += 2
        elif nxt == "c" and i + 2 < len(body):
            out.append(chr(ord(body[i + 2]) & 0x1F))
            i += 3
        elif match := _ANSI_NUMERIC.match(body, i + 1):
            digits = match.group()
            base, value = (8, digits) if digits[0] in "01234567" else (16, digits[1:])
            out.append(chr(min(int(value, base), 0x10FFFF)))
            i = match.end()
        else:
            out.append(ch + nxt)
            i += 2
    return "".join(out)
