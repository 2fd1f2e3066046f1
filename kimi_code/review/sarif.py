"""Review findings as SARIF 2.1.0 (what GitHub code scanning ingests).

Required structure honoured: sarifLog{version, runs[]}, run{tool{driver{name}}}, result{message
{text}, locations[physicalLocation{artifactLocation{uri}, region{startLine, endLine}}]}, plus
partialFingerprints so code scanning tracks a finding across pushes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from kimi_code import __version__
from kimi_code.review.findings import CATEGORIES, ReviewReport

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "kimiCodeFingerprint/v1"
_RULE_TEXT = {
    "bug": "A defect that makes the code misbehave.",
    "security": "A vulnerability or unsafe handling of data or secrets.",
    "performance": "Needless work, memory or latency.",
    "correctness": "Logic that does not do what it claims in some cases.",
    "style": "Readability or consistency problem.",
    "tests": "Missing or inadequate tests.",
    "docs": "Missing or wrong documentation.",
}


def _rules() -> list[dict[str, Any]]:
    return [{"id": f"kimi-code/{c}", "name": c.capitalize(),
             "shortDescription": {"text": _RULE_TEXT[c]},
             "properties": {"tags": [c]}} for c in CATEGORIES]


def artifact_uri(path: str) -> str:
    """A repository path as the relative URI SARIF requires: spaces, "#", "?", "%" and
    non-ASCII percent-encoded (UTF-8; a name that is not UTF-8 keeps its raw bytes), so
    `docs/a b#1.md` is not read as `docs/a` plus a fragment."""
    return quote(path.encode("utf-8", "surrogateescape"), safe="/")


def to_sarif(report: ReviewReport) -> dict[str, Any]:
    """The SARIF log object for one review."""
    results = []
    for f in report.findings:
        text = f"{f.title}\n\n{f.body}"
        if f.suggestion:
            text += f"\n\nSuggestion:\n{f.suggestion}"
        results.append({
            "ruleId": f"kimi-code/{f.category}",
            "ruleIndex": CATEGORIES.index(f.category) if f.category in CATEGORIES else 0,
            "level": f.severity,
            "message": {"text": text},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": artifact_uri(f.file), "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": f.line, "endLine": f.end_line},
            }}],
            "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
            "properties": {"category": f.category, "title": f.title},
        })
    notifications = [{"level": "warning", "message": {"text": f"refused {r.tool}: {r.reason}"}}
                     for r in report.refused]
    notifications += [{"level": "error", "message": {"text": e}} for e in report.errors]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "kimi-code", "version": __version__,
                                "informationUri": "https://github.com/MoonshotAI",
                                "rules": _rules()}},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "repository root"}}},
            "invocations": [{"executionSuccessful": not report.errors,
                             "toolExecutionNotifications": notifications}],
            "properties": {"base": report.base, "head": report.head},
            "results": results,
        }],
    }
