"""Review findings as GitHub Actions workflow commands (`::error file=F,line=L,...::msg`).

Escaping follows the runner's rules: in the message `%`, CR and LF are percent-encoded; in
property values `:` and `,` are too, so a crafted title cannot inject another command.
"""

from __future__ import annotations

from kimi_code.review.findings import ReviewReport

LEVELS = {"error": "error", "warning": "warning", "note": "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def to_github(report: ReviewReport) -> str:
    """One workflow command per finding (plus warnings for refused actions and errors)."""
    lines = []
    for f in report.findings:
        title = escape_property(f"[{f.category}] {f.title}")
        message = f.body + (f"\n\nSuggestion:\n{f.suggestion}" if f.suggestion else "")
        lines.append(f"::{LEVELS.get(f.severity, 'warning')} file={escape_property(f.file)},"
                     f"line={f.line},endLine={f.end_line},title={title}::{escape_data(message)}")
    for r in report.refused:
        lines.append(f"::warning title={escape_property('kimi-code refused an action')}::"
                     f"{escape_data(f'{r.tool}: {r.reason}')}")
    for e in report.errors:
        lines.append(f"::error title={escape_property('kimi-code review incomplete')}::"
                     f"{escape_data(e)}")
    counts = report.counts()
    lines.append(f"kimi-code review: {counts['error']} error(s), {counts['warning']} warning(s), "
                 f"{counts['note']} note(s) in {len(report.files)} file(s)")
    return "\n".join(lines) + "\n"
