"""Private copies of the user's index must keep its mtime. Git trusts an index entry whose stat
data matches the file unless the entry is "racy" (file mtime not older than the index file's);
a copy with a fresh mtime turns a same-size edit made in the same second as the last `git add`
into "unchanged". Both the `commit --plan` / `review --uncommitted` diff and the swarm's base
snapshot copy the index; here the race is set up deterministically with os.utime."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from kimi_code.commit.plan import working_changes
from kimi_code.git.repo import open_repo
from kimi_code.git.worktrees import snapshot_base
from tests.support.git_repos import git


def racy_edit(make_repo) -> Path:  # type: ignore[no-untyped-def]
    """A repository where f.txt was rewritten with the same size and mtime within the second of
    its `git add`, the copy of the index then made in a later second: only git's racy check
    (which needs the index's real mtime) can tell the content changed. Git compares whole
    seconds, so the setup retries if a second boundary falls inside it."""
    for attempt in range(5):
        root = make_repo({"f.txt": "a\n"}, name=f"repo{attempt}")
        second = int(time.time())
        path = root / "f.txt"
        before = path.stat()
        path.write_text("B\n")  # same size as "a\n"
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        if int(time.time()) == second == int(before.st_mtime):
            time.sleep(second + 1.05 - time.time())  # the private copy lands in a later second
            assert git(root, "diff", "HEAD", "--name-only") == "f.txt\n"  # git itself sees it
            return root
    raise AssertionError("could not set up the race")


def test_plan_diff_sees_a_racy_edit(make_repo):
    root = racy_edit(make_repo)
    (root / "new.txt").write_text("untracked\n")  # takes the private-index path
    paths = sorted(f.path for f in working_changes(open_repo(root)))
    assert paths == ["f.txt", "new.txt"]


def test_swarm_snapshot_sees_a_racy_edit(make_repo):
    root = racy_edit(make_repo)
    base = snapshot_base(root)
    shown = subprocess.run(["git", "show", f"{base}:f.txt"], cwd=root, capture_output=True,
                           text=True, check=True).stdout
    assert shown == "B\n"
