"""Anchoring, fingerprints, dedup and redaction of review findings."""

from __future__ import annotations

from kimi_code.git.diffparse import parse_diff
from kimi_code.review.findings import anchor, configured_secrets, finalise, fingerprint, redact

DIFF = ("diff --git a/app.py b/app.py\n--- a/app.py\n+++ b/app.py\n"
        "@@ -10,4 +10,5 @@ def f():\n a = 1\n b = 2\n+c = divide(a, 0)\n d = 4\n e = 5\n"
        "@@ -100,3 +101,3 @@\n x\n-y\n+Y\n z\n"
        "diff --git a/gone.py b/gone.py\ndeleted file mode 100644\n--- a/gone.py\n+++ /dev/null\n"
        "@@ -1 +0,0 @@\n-bye\n")
FILES = {f.path: f for f in parse_diff(DIFF)}


def raw(**kw):
    base = dict(file="app.py", line=12, severity="error", category="bug", title="Division by zero",
                body="divide(a, 0) raises")
    base.update(kw)
    return base


def test_inside_hunk_is_kept():
    f, note = anchor(raw(line=12), FILES)
    assert (f.line, f.end_line, note) == (12, 12, None)
    f, _ = anchor(raw(line=10, end_line=40), FILES)
    assert (f.line, f.end_line) == (10, 14), "end_line is clamped to the hunk"


def test_near_line_moved_to_nearest_changed_line_far_dropped():
    f, note = anchor(raw(line=20), FILES)
    assert f.line == 12 and "moved" in note and "app.py:20" in note
    f, note = anchor(raw(line=60), FILES)
    assert f is None and "not near any changed line" in note
    f, note = anchor(raw(line=99), FILES)
    assert f.line == 102, "nearest changed line of the nearest hunk"


def test_files_outside_diff_or_deleted_are_dropped():
    assert anchor(raw(file="other.py"), FILES)[0] is None
    f, note = anchor(raw(file="gone.py", line=1), FILES)
    assert f is None and "deleted" in note
    assert anchor(raw(file="./app.py"), FILES)[0].file == "app.py"


def test_fingerprint_ignores_line_numbers_and_whitespace():
    one = fingerprint("app.py", "bug", "Division by zero", ["c = divide(a, 0)"])
    assert one == fingerprint("app.py", "bug", "division  by zero ", ["   c = divide(a,  0)"])
    assert one != fingerprint("app.py", "bug", "Division by zero", ["c = divide(a, 1)"])
    assert one != fingerprint("app.py", "security", "Division by zero", ["c = divide(a, 0)"])


def test_finalise_dedups_and_keeps_the_stronger_finding():
    head = {"app.py": [f"line{i}" for i in range(1, 200)]}
    findings, notes = finalise(
        [raw(severity="warning"), raw(severity="error", body="longer body text"),
         raw(line=102, title="Rename", category="style", severity="note"), raw(file="x.py")],
        list(FILES.values()), lambda p: head[p])
    assert [(f.line, f.severity) for f in findings] == [(12, "error"), (102, "note")]
    assert findings[0].body == "longer body text"
    assert len(findings[0].fingerprint) == 32
    assert len(notes) == 1 and "x.py" in notes[0]


def test_redaction():
    secrets = configured_secrets({"MY_API_KEY": "abcd1234efgh", "HOME": "/root",
                                  "SHORT_TOKEN": "x"}, ["sk-live-configured-key-000"])
    assert secrets == ["sk-live-configured-key-000", "abcd1234efgh"]
    text = ("key abcd1234efgh and sk-live-configured-key-000, aws AKIAIOSFODNN7EXAMPLE, "
            "blob Zq8r2LmX9vTb4NcW7pKd1sHf6yJg3Qa and plain_identifier_name_here")
    out = redact(text, secrets)
    assert "abcd1234efgh" not in out and "sk-live" not in out and "AKIA" not in out
    assert "Zq8r2LmX9" not in out and "plain_identifier_name_here" in out
