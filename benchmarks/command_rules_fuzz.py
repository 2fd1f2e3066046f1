"""Differential fuzz of the Bash rule parser against the real bash (and dash, for `sh -c`).

    .venv/bin/python benchmarks/command_rules_fuzz.py [--seed 1] [--count 2000]

Builds random command lines from a pool of harmless tokens (echo, true, quotes, escapes,
separators, heredoc pieces, substitutions, keywords) around one `touch pwned`, runs each with
`bash -c` (and once more wrapped as `sh -c '...'`) in a throw-away directory, and checks the
invariant the permission rules rely on: whenever the shell really ran `touch pwned`, the
analysis saw a `touch` command or refused to judge the line. Prints tried / ran / missed per
shell; "missed" must be 0.
"""

from __future__ import annotations

import argparse
import random
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kimi_code.safety.bash_parse import analyse  # noqa: E402
from kimi_code.safety.permissions import unjudgeable  # noqa: E402

POOL = [
    "echo", "echo a", "true", " ", " ", "\n", ";", "&", "&&", "||", "|", "'", '"', "\\", "\\'",
    '\\"', "$'", '$"', "#", "(", ")", "{", "}", "<<EOF", "<<'EOF'", "<<-EOF", "EOF", "\nEOF\n",
    "$(", "`", "<(", "${", "$", "x", "=", "[[", "]]", "[", "]", "!", "<<<", ">", "2>&1", "\\\n",
    "\t", ";;", "case", "in", "esac", "if", "then", "fi", "do", "done", "for", "while", "{a,b}",
    "*", "?", "~", "\\n", "a#", " #", "((", "))", "&>", "$((", "|&", ">(", "function", "time",
    "${x:-", "=(", "\\\\",
]
PAYLOADS = [" touch pwned", "touch pwned ", "\ntouch pwned\n", ";touch pwned;"]


def _line(rng: random.Random) -> str:
    tokens = [rng.choice(POOL) for _ in range(rng.randint(1, 7))]
    tokens.insert(rng.randint(0, len(tokens)), rng.choice(PAYLOADS))
    return "".join(tokens)


def _ran(command: str) -> bool:
    with tempfile.TemporaryDirectory() as scratch:
        try:
            subprocess.run(["bash", "-c", command], cwd=scratch, capture_output=True,
                           timeout=3, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pass
        return (Path(scratch) / "pwned").exists()


def _missed(command: str) -> bool:
    analysis = analyse(command)
    seen = any(use.argv[:1] == ("touch",) for use in analysis.commands)
    return not seen and not unjudgeable(analysis)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    lines = [_line(rng) for _ in range(args.count)]
    for label, wrap in (("bash -c", lambda s: s), ("sh -c", lambda s: "sh -c " + shlex.quote(s))):
        ran = missed = 0
        for line in lines:
            command = wrap(line)
            if not _ran(command):
                continue
            ran += 1
            if _missed(command):
                missed += 1
                print(f"MISSED {command!r}")
        print(f"{label:<8} tried {len(lines)}  ran the payload {ran}  missed {missed}")


if __name__ == "__main__":
    main()
