"""The head tree a review reads: always an export, never the repository itself (issue 15, class 7).

A CI checkout's `.git/config` holds the job's token (`http.extraheader = AUTHORIZATION: basic
...`), and a pull request can add a symlink to it. So the reviewers' tools never get the
repository as their workspace: they get a temporary directory holding only the files of the
head side, with no `.git` anywhere, and a path that resolves outside it is refused.

- a commit range: `git archive` of the head commit (review.py's `_export`);
- `--uncommitted`: the work tree's tracked and untracked-but-not-ignored files (what `git
  ls-files --cached --others --exclude-standard` lists), copied here. Ignored files (`.env`,
  build output) and nested repositories stay out; a symlink is kept only when it stays inside
  the tree, as tarfile's "data" filter does for the archive.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path, PurePosixPath

import git

EXPORT_PREFIX = "kimi-review-"


def new_export_dir() -> tuple[Path, Path]:
    """(temporary directory to remove later, the head directory inside it)."""
    temp = Path(tempfile.mkdtemp(prefix=EXPORT_PREFIX))
    return temp, temp / "head"


def is_git_internal(rel: str) -> bool:
    """Whether a repository-relative path names git's own data (any `.git` component)."""
    return any(part.lower() == ".git" for part in PurePosixPath(rel).parts)


def _link_stays_inside(rel: str, target: str) -> bool:
    if not target or os.path.isabs(target):
        return False
    joined = os.path.normpath(os.path.join(os.path.dirname(rel), target))
    return not (joined == ".." or joined.startswith("../")) and not is_git_internal(joined)


def _copy_one(source_root: Path, dest_root: Path, rel: str) -> None:
    """Copy one listed path: a regular file (never through a symlinked directory: its real
    path must stay under the work tree), or an in-tree symlink. Anything else is skipped."""
    if not rel or rel.endswith("/") or is_git_internal(rel) or rel.startswith("../"):
        return
    source = source_root / rel
    try:
        info = os.lstat(source)
        if os.path.realpath(source.parent) != os.path.normpath(source_root / Path(rel).parent):
            return  # a parent directory is a symlink now: the file is not where git put it
        target = dest_root / rel
        if stat.S_ISLNK(info.st_mode):
            link = os.readlink(source)
            if _link_stays_inside(rel, link):
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(link, target)
            return
        if not stat.S_ISREG(info.st_mode):
            return
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as src:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "xb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        os.chmod(target, 0o755 if info.st_mode & 0o111 else 0o644)
    except OSError:
        return  # deleted or replaced while we copied: the review reads what is there


def export_worktree(repo: git.Repo) -> tuple[Path, Path]:
    """Copy the work tree's reviewable files into a new temporary directory; returns (that
    directory, the head root inside it). The caller removes the directory."""
    root = Path(os.path.realpath(repo.working_tree_dir or "."))
    listing = repo.git.ls_files("-z", "--cached", "--others", "--exclude-standard")
    temp, head = new_export_dir()
    try:
        head.mkdir()
        for rel in sorted(set(listing.split("\0"))):
            _copy_one(root, head, rel)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return temp, head
