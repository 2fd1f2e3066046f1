"""Review output formats from a hand-made report: SARIF 2.1.0 structure, GitHub workflow
commands (with escaping), Markdown and JSON."""

from __future__ import annotations

import json

from kimi_code.app.review import exit_code, render
from kimi_code.review.findings import Finding, Refusal, ReviewReport
from kimi_code.review.github import to_github
from kimi_code.review.markdown import to_markdown
from kimi_code.review.sarif import to_sarif
from tests.support.review_cli import check_sarif_required_structure


def report() -> ReviewReport:
    return ReviewReport(
        base="a" * 40, head="b" * 40, files=["src/app.py", "README.md"], added=10, removed=2,
        findings=[
            Finding("src/app.py", 12, 14, "error", "security", "SQL built from input, injection",
                    "User input flows into the query:\nuse parameters.", "cur.execute(q, (x,))",
                    "f" * 32),
            Finding("README.md", 3, 3, "note", "docs", "Typo", "<img src=x onerror=alert(1)> "
                    "![t](http://evil/?leak)", "", "e" * 32),
        ],
        notes=["moved \"x\" from a:1 to line 2"],
        refused=[Refusal("Bash", '{"command": "cat ~/.ssh/id_rsa"}', "not available in review")],
        summary="One injection risk.")




def test_sarif():
    log = to_sarif(report())
    check_sarif_required_structure(log)
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "kimi-code"
    first = run["results"][0]
    assert first["ruleId"] == "kimi-code/security" and first["level"] == "error"
    assert first["locations"][0]["physicalLocation"]["region"] == {"startLine": 12, "endLine": 14}
    assert first["partialFingerprints"] == {"kimiCodeFingerprint/v1": "f" * 32}
    assert "refused Bash" in run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
    json.loads(render(report(), "sarif"))


def test_github_annotations_and_escaping():
    out = to_github(report()).splitlines()
    assert out[0] == ("::error file=src/app.py,line=12,endLine=14,title=[security] SQL built from "
                      "input%2C injection::User input flows into the query:%0Ause parameters."
                      "%0A%0ASuggestion:%0Acur.execute(q, (x,))")
    assert out[1].startswith("::notice file=README.md,line=3,endLine=3,title=[docs] Typo::")
    assert out[2].startswith("::warning title=kimi-code refused an action::Bash")
    assert "1 error(s), 0 warning(s), 1 note(s)" in out[-1]
    evil = ReviewReport(base="", head="", findings=[Finding(
        "a,b.py", 1, 1, "warning", "bug", "t::x\n::error::forged", "m\n::error::forged", "", "0")])
    line = to_github(evil).splitlines()[0]
    assert "\n" not in line and "file=a%2Cb.py" in line and "title=[bug] t%3A%3Ax%0A" in line
    assert len(to_github(evil).splitlines()) == 2, "no line can start a forged command"


def test_markdown_summary_neutralises_html():
    md = to_markdown(report())
    assert md.startswith("## kimi-code review")
    assert "**1 error(s), 0 warning(s), 1 note(s)**" in md
    assert "`src/app.py:12-14`" in md and "```suggestion\ncur.execute(q, (x,))\n```" in md
    assert "<img" not in md and "&lt;img" in md and "![t]" not in md
    assert "Refused actions" in md and "`Bash`" in md


def test_json_and_fail_on():
    data = json.loads(render(report(), "json"))
    assert data["counts"] == {"error": 1, "warning": 0, "note": 1}
    assert data["findings"][0]["fingerprint"] == "f" * 32 and data["refused"][0]["tool"] == "Bash"
    r = report()
    assert exit_code(r, "error") == 1 and exit_code(r, "never") == 0
    r.findings = [f for f in r.findings if f.severity == "note"]
    assert exit_code(r, "error") == 0 and exit_code(r, "warning") == 0 and exit_code(r, "note") == 1
    r.errors = ["part 1 failed"]
    assert exit_code(r, "never") == 1, "an incomplete review never passes silently"


def test_markdown_location_survives_backticks_in_the_file_name():
    from kimi_code.review.markdown import code_span

    assert code_span("src/app.py:3") == "`src/app.py:3`"
    assert code_span("docs/a`b.md:3") == "`` docs/a`b.md:3 ``"
    assert code_span("x``y:1-2") == "``` x``y:1-2 ```"
