"""Review findings as a Markdown summary for a pull-request comment.

Model-written text is untrusted, and a PR comment renders it: a hostile repository can steer the
model into writing a secret into an image URL that GitHub then fetches (exfiltration with no
click), into a link, or into markup that hides text from the human reader. So before it goes into
the comment (issue 15, class 7):

- raw HTML is escaped (no tags, no comments, no <details> to hide things in);
- images never load: `![x](url)` and reference-style `![x][ref]` lose their `!`;
- link reference definitions (`[ref]: https://...`) are defused, so `[x][ref]` stays text;
- inline links become their text plus the URL as inline code, and bare URLs and autolinks are
  shown as inline code: nothing in a finding is clickable or auto-linked;
- invisible characters (zero-width, bidi controls) are removed;
- a suggestion is fenced with more backticks than it contains, so it cannot close its fence.
"""

from __future__ import annotations

import re

from kimi_code.review.findings import Finding, ReviewReport
from kimi_code.safety.split_tokens import INVISIBLE

ICONS = {"error": "🔴", "warning": "🟡", "note": "🔵"}

_IMAGE_BANG = re.compile(r"!(\s*\[)")
_REFERENCE_DEF = re.compile(r"(?m)^([ \t]{0,3})\[([^\]\n]*)\]:[ \t]*(\S*)")
_INLINE_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\n]*)\)")
# Code spans are kept as they are (skipped); URLs outside them become code spans.
_SPAN_OR_URL = re.compile(
    r"(?P<span>(?P<tick>`+)[^`]*?(?P=tick))"
    r"|(?P<url>(?i:\b(?:[a-z][a-z0-9+.-]*://|www\.|(?:javascript|data|vbscript|mailto):))"
    r"(?:(?!&[lg]t;)[^\s`])+)")


def code_span(text: str) -> str:
    """`text` as inline code even when it holds backticks (a file name may): the delimiter is
    one backtick longer than the longest run inside, padded with spaces as CommonMark asks."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    if not longest:
        return f"`{text}`"
    tick = "`" * (longest + 1)
    return f"{tick} {text} {tick}"


def _link(match: re.Match[str]) -> str:
    text, target = match.group(1), match.group(2).strip()
    target = target.split()[0].strip("<>") if target else ""
    return f"{text} ({code_span(target)})" if target else text


def _url(match: re.Match[str]) -> str:
    if match.group("span"):
        return match.group("span")
    return code_span(match.group("url"))


def safe_md(text: str) -> str:
    """Neutralise HTML, images, links, reference definitions and invisible characters in
    model-written text (see the module docstring)."""
    text = INVISIBLE.sub("", text)
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    text = _IMAGE_BANG.sub(r"\1", text)
    text = _REFERENCE_DEF.sub(
        lambda m: f"{m.group(1)}\\[{m.group(2)}]: {code_span(m.group(3)) if m.group(3) else ''}",
        text)
    text = _INLINE_LINK.sub(_link, text)
    return _SPAN_OR_URL.sub(_url, text)


def suggestion_fence(suggestion: str) -> str:
    """A backtick fence longer than any backtick run inside `suggestion` (at least three)."""
    longest = max((len(run) for run in re.findall(r"`+", suggestion)), default=0)
    return "`" * max(3, longest + 1)


def _finding(f: Finding) -> str:
    lines = f"{f.line}" if f.end_line == f.line else f"{f.line}-{f.end_line}"
    where = code_span(f"{f.file}:{lines}")
    parts = [f"### {ICONS.get(f.severity, '')} {safe_md(f.severity)} · {safe_md(f.category)} — "
             f"{safe_md(f.title)}", where, "", safe_md(f.body)]
    if f.suggestion:
        fence = suggestion_fence(f.suggestion)
        parts += ["", "Suggestion:", f"{fence}suggestion", f.suggestion, fence]
    return "\n".join(parts)


def to_markdown(report: ReviewReport) -> str:
    counts = report.counts()
    rng = f"`{report.base[:12]}..{report.head[:12]}`" if report.base else "uncommitted changes"
    lines = ["## kimi-code review", "",
             f"Reviewed {len(report.files)} file(s) (+{report.added} −{report.removed}) in {rng}: "
             f"**{counts['error']} error(s), {counts['warning']} warning(s), "
             f"{counts['note']} note(s)**.", ""]
    if report.summary:
        lines += [safe_md(report.summary), ""]
    if not report.findings:
        lines += ["No findings.", ""]
    for f in report.findings:
        lines += [_finding(f), ""]
    if report.errors:
        lines += ["#### Review incomplete", *(f"- {safe_md(e)}" for e in report.errors), ""]
    if report.refused:
        lines += ["<details><summary>Refused actions (the review is read-only)</summary>", ""]
        lines += [f"- {code_span(r.tool)}: {safe_md(r.reason)}" for r in report.refused]
        lines += ["", "</details>", ""]
    if report.notes:
        lines += ["<details><summary>Notes</summary>", ""]
        lines += [f"- {safe_md(n)}" for n in report.notes] + ["", "</details>", ""]
    return "\n".join(lines)
