"""Golden tags for the per-language fixtures: `python -m tests.support.index_golden` rewrites them
(review the diff before committing: a golden file is a claim about what the query must find)."""

from __future__ import annotations

import json
from pathlib import Path

from kimi_code.index.languages import language_for_path
from kimi_code.index.tags import extract_tags

FIXTURES = Path(__file__).resolve().parents[1] / "index" / "fixtures"
SOURCES = sorted((FIXTURES / "src").iterdir())


def tags_as_json(path: Path) -> dict:
    tags = extract_tags(path.read_bytes(), language_for_path(path.name) or "")
    return {
        "language": language_for_path(path.name),
        "definitions": [
            {"name": d.name, "kind": d.kind, "line": d.line, "end_line": d.end_line,
             "signature": d.signature} for d in tags.defs
        ],
        "references": [f"{r.kind}:{r.name}@{r.line}" for r in tags.refs],
    }


def golden_path(source: Path) -> Path:
    return FIXTURES / "golden" / f"{source.name}.json"


if __name__ == "__main__":
    for src in SOURCES:
        golden_path(src).write_text(json.dumps(tags_as_json(src), indent=1) + "\n")
        print("wrote", golden_path(src))
