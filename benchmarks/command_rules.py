"""Parse overhead of the Bash permission rules, per check.

    .venv/bin/python benchmarks/command_rules.py [--rounds 200]

Times `PermissionPolicy.decide` for a corpus of everyday and hostile commands with the parser
(tree-sitter-bash; each round clears its cache, so every check parses), the same with the
cache warm (a repeated command, as when the executor re-checks a call), the previous regex
matcher (kept here as the baseline), and a plain `shlex.split`. Prints the median and p90 in
microseconds per check and the ratios, side by side in one run; and how many of the hostile
commands each matcher would have auto-allowed.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kimi_code.safety.bash_parse import analyse  # noqa: E402
from kimi_code.safety.command_rules import use_shape  # noqa: E402
from kimi_code.safety.permissions import Decision, PermissionPolicy  # noqa: E402

ALLOW = ["Bash(pytest *)", "Bash(git status*)", "Bash(echo *)", "Bash(ls *)", "Bash(cat *)"]
DENY = ["Bash(rm -rf *)", "Bash(curl *)"]
EVERYDAY = [
    "pytest -q tests/", "git status --short", "ls -la src", "cat README.md | head -20",
    "pytest -x -q 2>&1 | tail -30", "git status && pytest -q", "echo 'a; b' > notes.txt",
    "for f in *.py; do echo $f; done", "timeout 60 pytest -q", "bash -c 'pytest -q'",
    "cat > f.txt <<'EOF'\nline one\nline two\nEOF",
    "python -m pytest tests/test_x.py::test_y -q --tb=short -k 'not slow'",
]
HOSTILE = [
    "echo hi\ntouch pwned", "echo \\'; touch pwned", "echo $'a\\\\' ; touch pwned #'",
    "echo hi & touch pwned", "echo 'touch pwned' | sh", "PATH=.:$PATH pytest",
    "timeout 5 touch pwned", "bash -c 'echo hi; touch pwned'", "r''m -rf x", "\\rm -rf x",
    "rm -r -f x", "rm --recursive --force x", "echo x | xargs rm -rf", "env curl evil.sh",
]


# --- the previous matcher (regex split, fnmatch on the text), as the baseline ---
_OLD_SPLIT = re.compile(r"\s*(?:&&|\|\||;|\||\n|&(?!>))\s*")


def _old_split(command: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    quote = ""
    i = 0
    while i < len(command):
        ch = command[i]
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"' and i + 1 < len(command):
                buf.append(command[i + 1])
                i += 1
        elif ch in "'\"":
            quote = ch
            buf.append(ch)
        else:
            match = _OLD_SPLIT.match(command, i)
            redirect = ch == "&" and i > 0 and command[i - 1] in "<>"
            if match and not redirect and match.end() > i and match.group().strip():
                parts.append("".join(buf))
                buf = []
                i = match.end()
                continue
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    return [p.strip() for p in parts if p.strip()]


def _old_decide(command: str) -> Decision:
    parts = _old_split(command)
    pats = [r[5:-1] for r in DENY]
    if any(fnmatch.fnmatchcase(p, d) for p in parts for d in pats):
        return Decision.DENY
    if any(s in command for s in ("$(", "`", "<(", ">(")):
        return Decision.ASK
    allowed = [r[5:-1] for r in ALLOW]
    if all(any(fnmatch.fnmatchcase(p, a) for a in allowed) for p in parts):
        return Decision.ALLOW
    return Decision.ASK


def _shlex(command: str) -> Decision:
    try:
        shlex.split(command)
    except ValueError:
        return Decision.ASK
    return Decision.ASK


def _time(check: Callable[[str], object], commands: list[str], rounds: int,
          before: Callable[[], None] = lambda: None) -> list[float]:
    samples: list[float] = []
    for _ in range(rounds):
        before()
        for command in commands:
            started = time.perf_counter()
            check(command)
            samples.append((time.perf_counter() - started) * 1e6)
    return samples


def _cold() -> None:
    """Forget every parsed command (the rules' own parsed patterns stay: parsed once)."""
    analyse.cache_clear()
    use_shape.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    policy = PermissionPolicy.from_strings("ask", allow=ALLOW, deny=DENY)

    def new(command: str) -> Decision:
        return policy.decide("Bash", command, read_only=False)

    corpus = EVERYDAY + HOSTILE
    new(corpus[0])  # load the grammar once: start-up, not per-check cost
    rows = [
        ("parser (cold cache)", _time(new, corpus, args.rounds, _cold)),
        ("parser (warm cache)", _time(new, corpus, args.rounds)),
        ("old regex matcher", _time(_old_decide, corpus, args.rounds)),
        ("shlex.split only", _time(_shlex, corpus, args.rounds)),
    ]
    base = statistics.median(rows[2][1])
    print(f"{len(corpus)} commands x {args.rounds} rounds; microseconds per check")
    print(f"{'matcher':<22}{'median':>10}{'p90':>10}{'vs old':>10}")
    for name, samples in rows:
        med = statistics.median(samples)
        p90 = statistics.quantiles(samples, n=10)[-1]
        print(f"{name:<22}{med:>10.1f}{p90:>10.1f}{med / base:>9.1f}x")
    old_allowed = sum(_old_decide(c) is Decision.ALLOW for c in HOSTILE)
    old_denied = sum(_old_decide(c) is Decision.DENY for c in HOSTILE[8:])
    new_allowed = sum(new(c) is Decision.ALLOW for c in HOSTILE)
    new_denied = sum(new(c) is Decision.DENY for c in HOSTILE[8:])
    print(f"hostile commands auto-allowed: old {old_allowed}/{len(HOSTILE)}, "
          f"parser {new_allowed}/{len(HOSTILE)}")
    print(f"deny-rule dodges denied: old {old_denied}/{len(HOSTILE) - 8}, "
          f"parser {new_denied}/{len(HOSTILE) - 8}")
    everyday_new = sum(new(c) is Decision.ALLOW for c in EVERYDAY)
    everyday_old = sum(_old_decide(c) is Decision.ALLOW for c in EVERYDAY)
    print(f"everyday commands allowed (3 use programs no rule names): old {everyday_old}/"
          f"{len(EVERYDAY)}, parser {everyday_new}/{len(EVERYDAY)}")


if __name__ == "__main__":
    main()
