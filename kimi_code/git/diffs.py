"""The diffs kimi-code reads and sends to a model: the options every parsed diff uses, the
empty tree (what a repository without commits compares with), the working tree's changes
including untracked files, and how much diff fits in one request.

Shared by the commit and review features, which must not import each other.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import git

from kimi_code.git.diffparse import DiffFile, parse_diff
from kimi_code.git.repo import GitError, run_git

CHARS_PER_TOKEN = 3.5  # conservative for code; we only need to know when a diff will not fit


def diff_args() -> list[str]:
    """Options for diffs we parse: stable, plain, with exact paths."""
    return ["--no-color", "--no-ext-diff", "--no-renames", "--src-prefix=a/", "--dst-prefix=b/"]


def empty_tree(repo: git.Repo) -> str:
    """The id of the empty tree (what a repository without commits is compared with)."""
    return repo.git.hash_object("-t", "tree", "/dev/null")


def diff_budget_chars(context_window: int) -> int:
    """How much diff fits in one request next to the instructions and the answer."""
    return int(max(1024, context_window * 0.6 - 3000) * CHARS_PER_TOKEN)


def working_changes(repo: git.Repo, base: str = "HEAD") -> list[DiffFile]:
    """Every change in the work tree against `base` (HEAD, or the empty tree for a repository
    without commits): tracked (staged or not) and untracked files that are not ignored."""
    untracked = [p for p in repo.git.ls_files("--others", "--exclude-standard", "-z")
                 .split("\0") if p]
    if not untracked:
        return parse_diff(repo.git.diff(base, *diff_args(), strip_newline_in_stdout=False))
    try:
        return parse_diff(_diff_with_intent_to_add(repo, untracked, base))
    except (GitError, OSError):
        pass  # an index git will not copy (split index...): the slow, file-by-file way
    text = repo.git.diff(base, *diff_args(), strip_newline_in_stdout=False)
    for path in untracked:
        _, out, _ = repo.git.execute(
            ["git", "diff", "--no-index", *diff_args(), "--", "/dev/null", path],
            with_extended_output=True, with_exceptions=False, strip_newline_in_stdout=False)
        text += out if out.endswith("\n") else out + "\n"
    return parse_diff(text)


def _diff_with_intent_to_add(repo: git.Repo, untracked: list[str], base: str) -> str:
    """`git diff HEAD` in which untracked files show as new files, in two git calls whatever
    their number: they are marked intent-to-add in a private copy of the index (the user's own
    index is never written)."""
    root = Path(repo.working_tree_dir or ".")
    index = Path(repo.git.rev_parse("--git-path", "index"))
    index = index if index.is_absolute() else root / index
    with tempfile.TemporaryDirectory(prefix="kimi-plan-") as temp:
        private = Path(temp) / "index"
        if index.exists():
            # copy2 keeps the index's mtime: git's racy-entry check compares it with each
            # file's; a fresh mtime would make a same-size edit made in the same second as
            # the last `git add` look unchanged (and leave it out of the plan).
            shutil.copy2(index, private)
        env = {**os.environ, "GIT_INDEX_FILE": str(private)}
        run_git(["add", "--intent-to-add", "--pathspec-from-file=-", "--pathspec-file-nul"],
                cwd=root, env=env, input="\0".join(untracked).encode("utf-8", "surrogateescape"))
        proc = run_git(["diff", base, *diff_args()], cwd=root, env=env)
    return proc.stdout.decode("utf-8", "surrogateescape")
