"""Definition recall against universal-ctags (used by a test and by the benchmark).

Compares Python classes, functions and methods as (path, name, line) triples; ctags'
`member` kind is what it calls methods.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from kimi_code.index.repo_map import RepoIndex

_CTAGS_KINDS = {"class", "function", "member"}
_OUR_KINDS = {"class", "function", "method"}


def ctags_available() -> bool:
    """True when a universal-ctags with JSON output is on PATH."""
    exe = shutil.which("ctags")
    if exe is None:
        return False
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return "Universal Ctags" in proc.stdout and "+json" in _features(exe)


def _features(exe: str) -> str:
    proc = subprocess.run([exe, "--list-features"], capture_output=True, text=True, check=False)
    return " ".join("+" + line.split()[0] for line in proc.stdout.splitlines() if line.strip())


def ctags_python_defs(root: Path, paths: list[str]) -> set[tuple[str, str, int]]:
    """(path, name, line) for ctags' Python classes/functions/members in `paths`."""
    proc = subprocess.run(
        ["ctags", "--output-format=json", "--languages=Python", "--fields=+nK",
         "--python-kinds=cfm", "-f", "-", "-L", "-"],
        input="\n".join(paths), cwd=root, capture_output=True, text=True, check=True,
    )
    found: set[tuple[str, str, int]] = set()
    for line in proc.stdout.splitlines():
        tag = json.loads(line)
        if tag.get("_type") == "tag" and tag.get("kind") in _CTAGS_KINDS:
            found.add((tag["path"], tag["name"], int(tag["line"])))
    return found


def python_recall(index: RepoIndex) -> tuple[float, int, set[tuple[str, str, int]]]:
    """Recall of ctags' Python definitions by ours over the indexed Python files of `index`:
    (recall, ctags total, what we missed)."""
    paths = [r[0] for r in index.conn.execute(
        "SELECT path FROM files WHERE lang='python' AND skip='' ORDER BY path")]
    theirs = ctags_python_defs(index.root, paths)
    ours = {(d.path, d.name, d.line) for d in index.iter_defs() if d.kind in _OUR_KINDS}
    missed = theirs - ours
    return (1 - len(missed) / len(theirs) if theirs else 1.0), len(theirs), missed
