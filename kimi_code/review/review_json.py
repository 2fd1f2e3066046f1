"""Review findings as one JSON document (`--format json`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from kimi_code.review.findings import ReviewReport


def to_json(report: ReviewReport) -> dict[str, Any]:
    return {
        "version": 1,
        "base": report.base,
        "head": report.head,
        "files": report.files,
        "summary": report.summary,
        "counts": report.counts(),
        "findings": [f.to_dict() for f in report.findings],
        "notes": report.notes,
        "refused": [asdict(r) for r in report.refused],
        "errors": report.errors,
    }
