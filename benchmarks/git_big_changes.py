"""Big changes in `kimi-code commit`: the secret guard on a huge generated file, and the diff of
many untracked files (`--plan`, `review --uncommitted`), each beside the way it was done before.

- secret guard: `scan_diff` (a whole-hunk pre-check with literal hints, then line by line only
  where something may match) vs the previous line-by-line scan of every added line.
- untracked files: `working_changes` (intent-to-add in a private index copy: two git calls) vs
  the previous one `git diff --no-index` process per untracked file.

Real repositories in a temporary directory; nothing is timed against a threshold.

    .venv/bin/python benchmarks/git_big_changes.py [--lines 400000] [--untracked 1000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True,
                          text=True).stdout


def _timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def bench_secret_guard(root: Path, lines: int) -> None:
    from kimi_code.commit.secret_guard import scan_diff, scan_line
    from kimi_code.git.diffparse import parse_diff

    (root / "generated.py").write_text("".join(f"row_{i} = {i}\n" for i in range(lines)))
    _git(root, "add", "generated.py")
    files = parse_diff(_git(root, "diff", "--cached", "--no-color", "--src-prefix=a/",
                            "--dst-prefix=b/"))

    def line_by_line() -> list[str]:  # the previous scan: every added line, every pattern
        hits = []
        for f in files:
            for hunk in f.hunks:
                found = next((r for _, text, changed in hunk.new_lines()
                              if changed and (r := scan_line(text))), None)
                if found:
                    hits.append(found)
        return hits

    old_s, old_hits = _timed(line_by_line)
    new_s, new_hits = _timed(lambda: scan_diff(files))
    assert not old_hits and not new_hits
    print(f"secret guard, {lines:,} added lines: line by line {old_s:.2f}s, "
          f"pre-checked {new_s:.2f}s  ({old_s / new_s:.1f}x)")
    _git(root, "reset", "-q")
    (root / "generated.py").unlink()


def bench_untracked(root: Path, count: int) -> None:
    from kimi_code.commit.message import diff_args
    from kimi_code.commit.plan import working_changes
    from kimi_code.git.diffparse import parse_diff
    from kimi_code.git.repo import open_repo

    (root / "gen").mkdir()
    for i in range(count):
        (root / "gen" / f"f{i}.txt").write_text(f"value {i}\n")
    repo = open_repo(root)

    def per_file() -> int:  # the previous way: one git process per untracked file
        text = repo.git.diff("HEAD", *diff_args(), strip_newline_in_stdout=False)
        for path in repo.git.ls_files("--others", "--exclude-standard", "-z").split("\0"):
            if path:
                _, out, _ = repo.git.execute(
                    ["git", "diff", "--no-index", *diff_args(), "--", "/dev/null", path],
                    with_extended_output=True, with_exceptions=False,
                    strip_newline_in_stdout=False)
                text += out if out.endswith("\n") else out + "\n"
        return len(parse_diff(text))

    old_s, old_n = _timed(per_file)
    new_s, new_n = _timed(lambda: len(working_changes(repo)))
    assert old_n == new_n == count, (old_n, new_n)
    print(f"untracked files, {count:,}: one git process each {old_s:.2f}s, "
          f"intent-to-add {new_s:.2f}s  ({old_s / new_s:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=400_000)
    parser.add_argument("--untracked", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kimi-bench-") as temp:
        root = Path(temp) / "repo"
        root.mkdir()
        _git(root, "init", "-q")
        (root / "README.md").write_text("bench\n")
        _git(root, "add", "README.md")
        _git(root, "commit", "-q", "-m", "init")
        bench_secret_guard(root, args.lines)
        bench_untracked(root, args.untracked)


if __name__ == "__main__":
    main()
