"""Review findings: validation against the diff, anchoring, fingerprints, dedup, redaction.

A finding must point at the head side of the diff. One that lands on a line the diff does not
show is moved to the nearest changed line of the nearest hunk (when that hunk is close), or
dropped; either way a note says so. The fingerprint hashes the file, category, title and the
normalised text of the anchored lines (not the line number), so it survives pushes that shift
code up or down.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from kimi_code.git.diffparse import DiffFile, Hunk
from kimi_code.safety.redact import redact as redact_text
from kimi_code.safety.secret_patterns import looks_random

SEVERITIES = ("error", "warning", "note")
CATEGORIES = ("bug", "security", "performance", "correctness", "style", "tests", "docs")
SEVERITY_RANK = {"error": 3, "warning": 2, "note": 1}
MOVE_DISTANCE = 20  # lines: further than this from any hunk, a finding is dropped
REDACTED = "[REDACTED]"


@dataclass
class Finding:
    file: str
    line: int
    end_line: int
    severity: str
    category: str
    title: str
    body: str
    suggestion: str = ""
    fingerprint: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Refusal:
    """A tool call the review refused (a tool it does not have, a path outside the repo, ...)."""

    tool: str
    input: str
    reason: str


@dataclass
class ReviewReport:
    base: str
    head: str
    files: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    summary: str = ""
    added: int = 0
    removed: int = 0
    retryable: bool = False  # every error was a provider failure worth retrying later (exit 75)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES}


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def fingerprint(file: str, category: str, title: str, lines: Iterable[str]) -> str:
    """Stable id of a finding: independent of line numbers and of whitespace changes."""
    content = "\n".join(_normalise(line) for line in lines)
    key = "\0".join([file, category, _normalise(title).lower(), content])
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _nearest_hunk(hunks: list[Hunk], line: int) -> tuple[Hunk | None, int]:
    best, distance = None, 1 << 30
    for hunk in hunks:
        if hunk.new_start <= line <= hunk.new_end:
            return hunk, 0
        d = hunk.new_start - line if line < hunk.new_start else line - hunk.new_end
        if d < distance:
            best, distance = hunk, d
    return best, distance


def anchor(raw: dict, files: dict[str, DiffFile]) -> tuple[Finding | None, str | None]:
    """Place one reported finding on the head side of the diff. Returns (finding or None, note)."""
    path = str(raw.get("file", "")).strip().lstrip("./") if raw.get("file") else ""
    title = _normalise(str(raw.get("title", "")))[:200]
    f = files.get(path)
    if f is None or f.status == "deleted":
        why = "is not changed by this diff" if f is None else "is deleted at head"
        return None, f"dropped \"{title}\": {path or '(no file)'} {why}"
    line = int(raw.get("line") or 0)
    end = int(raw.get("end_line") or line)
    hunk, distance = _nearest_hunk(f.hunks, line)
    note = None
    if hunk is None or distance > MOVE_DISTANCE:
        return None, f"dropped \"{title}\": {path}:{line} is not near any changed line"
    if distance:
        changed = hunk.changed_new_lines() or [hunk.new_start]
        moved = min(changed, key=lambda n: abs(n - line))
        note = f"moved \"{title}\" from {path}:{line} to line {moved}, the nearest changed line"
        end, line = moved + max(0, end - line) if end >= line else moved, moved
    end = min(max(end, line), hunk.new_end)
    return Finding(file=path, line=line, end_line=end,
                   severity=str(raw.get("severity", "warning")),
                   category=str(raw.get("category", "bug")), title=title,
                   body=str(raw.get("body", "")).strip(),
                   suggestion=str(raw.get("suggestion") or "").rstrip()), note


def finalise(raws: Iterable[dict], files: list[DiffFile],
             read_lines: Callable[[str], list[str]]) -> tuple[list[Finding], list[str]]:
    """Anchor, fingerprint and deduplicate reported findings; return (findings, notes).
    `read_lines(path)` gives the head-side file's lines (for fingerprints)."""
    by_path = {f.path: f for f in files}
    kept: dict[str, Finding] = {}
    notes: list[str] = []
    cache: dict[str, list[str]] = {}
    for raw in raws:
        finding, note = anchor(raw, by_path)
        if note:
            notes.append(note)
        if finding is None:
            continue
        if finding.file not in cache:
            cache[finding.file] = read_lines(finding.file)
        text = cache[finding.file][finding.line - 1:finding.end_line]
        finding.fingerprint = fingerprint(finding.file, finding.category, finding.title, text)
        other = kept.get(finding.fingerprint)
        if other is None or (SEVERITY_RANK[finding.severity], len(finding.body)) > \
                (SEVERITY_RANK[other.severity], len(other.body)):
            kept[finding.fingerprint] = finding
    order = sorted(kept.values(), key=lambda f: (-SEVERITY_RANK[f.severity], f.file, f.line))
    return order, notes


def configured_secrets(env: dict[str, str], extra: Iterable[str | None] = ()) -> list[str]:
    """Values that must never appear in output: API keys and secret-named variables."""
    names = re.compile(r"(?i)(key|token|secret|passw|credential|auth)")
    values = [v for k, v in env.items() if names.search(k) and len(v) >= 8]
    values.extend(v for v in extra if v and len(v) >= 8)
    return sorted(set(values), key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    """Replace configured secrets (whole or split by separators), credential shapes and
    high-entropy tokens (kimi_code.safety.redact), and random tokens from 24 characters on
    (review output is posted publicly: stricter than the transcripts' 32)."""
    text = redact_text(text, secrets)
    return re.sub(r"[A-Za-z0-9+/_\-=]{24,}",
                  lambda m: REDACTED if looks_random(m.group()) else m.group(), text)


def redact_findings(findings: list[Finding], secrets: list[str]) -> None:
    for f in findings:
        f.title, f.body = redact(f.title, secrets), redact(f.body, secrets)
        f.suggestion = redact(f.suggestion, secrets)
