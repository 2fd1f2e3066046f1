"""Review findings as a Markdown summary for a pull-request comment.

Model-written text is untrusted: raw HTML is neutralised (no hidden comments, no tags, no
auto-loading images) before it goes into the comment.
"""

from __future__ import annotations

import re

from kimi_code.review.findings import Finding, ReviewReport

ICONS = {"error": "🔴", "warning": "🟡", "note": "🔵"}


def safe_md(text: str) -> str:
    """Neutralise HTML and image embeds in model-written text."""
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"!\[([^\]]*)\]\(", r"[\1](", text)


def code_span(text: str) -> str:
    """`text` as inline code even when it holds backticks (a file name may): the delimiter is
    one backtick longer than the longest run inside, padded with spaces as CommonMark asks."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    if not longest:
        return f"`{text}`"
    tick = "`" * (longest + 1)
    return f"{tick} {text} {tick}"


def _finding(f: Finding) -> str:
    lines = f"{f.line}" if f.end_line == f.line else f"{f.line}-{f.end_line}"
    where = code_span(f"{f.file}:{lines}")
    parts = [f"### {ICONS.get(f.severity, '')} {f.severity} · {f.category} — {safe_md(f.title)}",
             where, "", safe_md(f.body)]
    if f.suggestion:
        fence = "````" if "```" in f.suggestion else "```"
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
        lines += [f"- `{r.tool}`: {safe_md(r.reason)}" for r in report.refused]
        lines += ["", "</details>", ""]
    if report.notes:
        lines += ["<details><summary>Notes</summary>", ""]
        lines += [f"- {safe_md(n)}" for n in report.notes] + ["", "</details>", ""]
    return "\n".join(lines)
