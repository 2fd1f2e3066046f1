"""What a review looks at: the diff between base and head (or the uncommitted changes), the
head-side files, the commit messages, the PR text, and the project's review instructions taken
from the base side (a pull request cannot rewrite the rules it is reviewed by).

The head side is always an export in a temporary directory (review/head_tree.py): `git archive`
of the head commit, or for --uncommitted a copy of the work tree's reviewable files. The
reviewers' tools never see the repository itself: a CI checkout's `.git/config` holds the job's
token, and a pull request can add a symlink to it (issue 15). The review never reads the wrong
version and never touches the user's work tree, index or branches.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import git

from kimi_code.git.diffparse import DiffFile, parse_diff
from kimi_code.git.diffs import diff_args, diff_budget_chars, empty_tree, working_changes
from kimi_code.git.repo import head_commit
from kimi_code.review.head_tree import export_worktree, new_export_dir
from kimi_code.safety.untrusted import fence, model_safe

INSTRUCTION_FILES = ("AGENTS.md", "KIMI.md", "CLAUDE.md", "REVIEW.md", ".github/REVIEW.md")
DEFAULT_BASES = ("origin/HEAD", "main", "master", "origin/main", "origin/master")
MAX_INSTRUCTION_CHARS = 20_000
MAX_COMMIT_TEXT = 8_000
# One file's diff in a reviewer's prompt is cut here (about 100k tokens): a generated or data
# file of many megabytes must not become a request no endpoint accepts. The reviewer is told
# and can read the rest of the head-side file with its tools.
MAX_FILE_DIFF_CHARS = 400_000


class ReviewError(Exception):
    """The review cannot start; `code` is the exit code (2 for usage errors)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class ReviewTarget:
    base: str                     # base commit (the merge-base), or HEAD for --uncommitted
    head: str                     # head commit, or "working tree"
    files: list[DiffFile]
    root: Path                    # directory holding the head-side files
    commits: list[str] = field(default_factory=list)
    instructions: str = ""
    pr_text: str = ""
    temp_dir: Path | None = None  # removed by close()

    def close(self) -> None:
        if self.temp_dir is not None:
            _forget_index(self.root)
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.temp_dir = None

    def read_lines(self, path: str) -> list[str]:
        try:
            return (self.root / path).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []


def _forget_index(root: Path) -> None:
    """Delete the symbol-index cache the reviewers' tools built for an exported tree: its
    directory is about to go, and every review would otherwise leave one behind (10 MB for a
    20,000-file repository)."""
    from kimi_code.index.cache import forget_cache

    forget_cache(root)


def _rev(repo: git.Repo, ref: str) -> str:
    try:
        return repo.git.rev_parse("--verify", "--end-of-options", f"{ref}^{{commit}}")
    except git.GitCommandError:
        raise ReviewError(f"{ref!r} is not a commit in this repository (for a shallow CI "
                          "checkout, fetch the base branch first: fetch-depth: 0).") from None


def default_base(repo: git.Repo) -> str:
    """The first of origin/HEAD, main, master, origin/main, origin/master that exists."""
    for ref in DEFAULT_BASES:
        try:
            return repo.git.rev_parse("--verify", "-q", "--end-of-options", f"{ref}^{{commit}}")
        except git.GitCommandError:
            continue
    raise ReviewError("no base branch found (tried " + ", ".join(DEFAULT_BASES) +
                      "); pass --base REF, or --uncommitted.")


def base_instructions(repo: git.Repo, base: str) -> str:
    """Review guidance files as they are on the base side."""
    parts = []
    for name in INSTRUCTION_FILES:
        try:
            text = repo.git.show(f"{base}:{name}")
        except git.GitCommandError:
            continue
        parts.append(f"# {name}\n{text[:MAX_INSTRUCTION_CHARS]}")
    return "\n\n".join(parts)


def pr_description(env: dict[str, str] | None = None) -> str:
    """Title and body of the pull request from GitHub's event payload, when running there."""
    path = (env if env is not None else os.environ).get("GITHUB_EVENT_PATH")
    if not path:
        return ""
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    pr = event.get("pull_request") if isinstance(event, dict) else None
    if not isinstance(pr, dict):
        return ""
    return f"{pr.get('title') or ''}\n\n{pr.get('body') or ''}".strip()


def _in_tree_only(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile's "data" filter, except that a member it refuses (a symlink to an absolute path
    or out of the tree, which the repository may well contain) is left out of the export
    instead of failing the review; the reviewer's tools could not follow it anyway."""
    try:
        return tarfile.data_filter(member, dest)
    except tarfile.FilterError:
        return None


def _export(repo: git.Repo, commit: str) -> Path:
    temp, _ = new_export_dir()
    try:
        archive = temp / "head.tar"
        with open(archive, "wb") as handle:
            repo.git.archive("--format=tar", commit, output_stream=handle)
        root = temp / "head"
        with tarfile.open(archive) as tar:
            tar.extractall(root, filter=_in_tree_only)
        archive.unlink()
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return root


def _no_merge_base(repo: git.Repo, base: str, head: str) -> str:
    message = f"{base} and {head} have no common ancestor"
    try:
        shallow = repo.git.rev_parse("--is-shallow-repository") == "true"
    except git.GitCommandError:
        shallow = False
    if shallow:  # the usual CI case: the history that joins them was never fetched
        return (f"{message} in the fetched history: this is a shallow clone. Fetch the full "
                "history (actions/checkout with fetch-depth: 0, or git fetch --unshallow) "
                "and retry.")
    return message + "."


def resolve_target(repo: git.Repo, base: str | None, head: str, uncommitted: bool,
                   env: dict[str, str] | None = None) -> ReviewTarget:
    """Build the review target. Raises ReviewError (exit 2) for bad refs or nothing to review."""
    root = Path(repo.working_tree_dir or ".")
    pr_text = pr_description(env)
    if uncommitted:
        if repo.bare:
            raise ReviewError(f"{repo.git_dir} is a bare repository: there are no uncommitted "
                              "changes to review. Pass --base and --head to review commits.")
        current = head_commit(repo)
        # No commit yet (a fresh repository with staged files): everything is new, so the
        # change is reviewed against the empty tree.
        base_sha = current.hexsha if current is not None else empty_tree(repo)
        files = working_changes(repo, base_sha)
        target = ReviewTarget(base=base_sha, head="working tree", files=files, root=root,
                              pr_text=pr_text)
        if files:
            target.temp_dir, target.root = export_worktree(repo)
    else:
        head_sha = _rev(repo, head)
        base_sha = _rev(repo, base) if base else default_base(repo)
        try:
            merge_base = repo.git.merge_base(base_sha, head_sha)
        except git.GitCommandError:
            raise ReviewError(_no_merge_base(repo, base or "the base", head)) from None
        diff = repo.git.diff(merge_base, head_sha, *diff_args(), strip_newline_in_stdout=False)
        files = parse_diff(diff)
        log = repo.git.log("--format=%B%x00", f"{merge_base}..{head_sha}")
        commits = [m.strip() for m in log.split("\x00") if m.strip()]
        target = ReviewTarget(base=merge_base, head=head_sha, files=files, root=root,
                              commits=commits, pr_text=pr_text)
        if files:  # always exported, even for a clean checkout (module docstring)
            target.root = _export(repo, head_sha)
            target.temp_dir = target.root.parent
        base_sha = merge_base
    target.instructions = base_instructions(repo, base_sha)
    if not target.files:
        target.close()
        raise ReviewError("nothing to review: the diff is empty" + _empty_hint(repo, uncommitted),
                          code=0)
    return target


def _empty_hint(repo: git.Repo, uncommitted: bool) -> str:
    """Why an empty diff may not be what the user meant (reviewing main against itself while
    their work sits uncommitted)."""
    if uncommitted:
        return "."
    try:
        dirty = repo.is_dirty(untracked_files=True)
    except git.GitCommandError:
        dirty = False
    return (" (your uncommitted changes are not part of a branch review; use --uncommitted "
            "to review them)." if dirty else ".")


def split_chunks(files: list[DiffFile], budget_chars: int) -> list[list[DiffFile]]:
    """Group files into parts of at most `budget_chars` of diff (a bigger file is its own
    part), largest first, so parallel reviewers get balanced work."""
    sized = sorted(((len(f.text()), f) for f in files), key=lambda pair: pair[0], reverse=True)
    chunks: list[list[DiffFile]] = []
    sizes: list[int] = []
    for size, f in sized:
        slot = next((i for i, s in enumerate(sizes) if s + size <= budget_chars), None)
        if slot is None:
            chunks.append([f])
            sizes.append(size)
        else:
            chunks[slot].append(f)
            sizes[slot] += size
    return chunks


def clipped_diff(f: DiffFile, max_chars: int | None = None) -> str:
    """The file's diff, cut at a line boundary after `max_chars` (default
    MAX_FILE_DIFF_CHARS) with a note saying so."""
    max_chars = max_chars or MAX_FILE_DIFF_CHARS
    text = f.text()
    if len(text) <= max_chars:
        return text
    cut = text.rfind("\n", 0, max_chars) + 1 or max_chars
    shown = text[:cut]
    return (f"{shown}[diff of {f.path} cut here: {len(text) - cut:,} more characters not "
            f"shown; head-side lines after {_last_new_line(shown)} are readable with your "
            "tools]\n")


def _last_new_line(shown: str) -> int:
    """The last head-side line number a (possibly cut) diff text reaches."""
    last, number = 0, None
    for line in shown.split("\n"):
        match = re.match(r"^@@ -\d+(?:,\d+)? \+(\d+)", line)
        if match:
            number = int(match.group(1))
        elif number is not None and line[:1] in (" ", "+"):
            last, number = number, number + 1
    return last


def file_diff_budget(context_window: int) -> int:
    """How much of one file's diff a reviewer is shown: half of what fits the model's context
    next to the instructions, at most MAX_FILE_DIFF_CHARS."""
    return min(MAX_FILE_DIFF_CHARS, diff_budget_chars(context_window) // 2)


def chunk_prompt(target: ReviewTarget, chunk: list[DiffFile], part: int, parts: int,
                 max_file_chars: int | None = None) -> str:
    """The user message for one reviewer: everything from the PR is fenced as data."""
    names = ", ".join(f.path for f in chunk)
    lines = [f"Review this change. Base {target.base[:12]}, head {target.head[:12]}.",
             f"This is part {part} of {parts}; it covers: {names}." if parts > 1 else
             f"Changed files: {names}.",
             f"The head-side files are readable with your tools (paths relative to {target.root})."]
    if target.instructions:
        lines += ["", "Project review guidelines (from the base branch):",
                  fence("project-guidelines", target.instructions)]
    if target.pr_text:
        lines += ["", "Pull request description:", fence("pr-description", target.pr_text)]
    if target.commits:
        text = "\n---\n".join(target.commits)[:MAX_COMMIT_TEXT]
        lines += ["", "Commit messages:", fence("commit-messages", text)]
    diff = "".join(clipped_diff(f, max_file_chars) for f in chunk)
    lines += ["", "The diff:", fence("diff", diff), "",
              "Report every real problem with ReportFinding (head-side line numbers), then reply "
              "with a one to three sentence summary of this part."]
    return model_safe("\n".join(lines))  # file names need not be UTF-8
