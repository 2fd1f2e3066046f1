"""Checkpoints against real repositories and plain directories: what is captured, what a
restore puts back, and that the user's own git state is never touched."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kimi_code.git.checkpoints import store as cpmod
from kimi_code.git.checkpoints.store import CheckpointError, CheckpointStore, store_dir
from tests.support.git_repos import git, repo_state


def files_of(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def test_restore_after_write_edit_and_shell(make_repo):
    root = make_repo({"src/app.py": "x = 1\n", "notes.txt": "keep\n", ".gitignore": "*.log\n"})
    (root / "untracked.txt").write_text("not committed yet\n")
    (root / "build.log").write_text("ignored v1\n")
    store = CheckpointStore(root, "s1")
    before = files_of(root)
    first = store.snapshot("turn: fix app", message_seq=3)

    (root / "src/app.py").write_text("x = 2\n")                # Edit
    (root / "src/new_mod.py").write_text("print('new')\n")     # Write (new file, new dir)
    (root / "deep/er").mkdir(parents=True)
    (root / "deep/er/file.txt").write_text("created\n")
    subprocess.run(["rm", "notes.txt"], cwd=root, check=True)            # Bash rm
    subprocess.run(["sed", "-i", "s/yet/ever/", "untracked.txt"], cwd=root, check=True)  # sed -i
    (root / "build.log").write_text("ignored v2\n")
    second = store.snapshot("after Bash sed")
    assert second.id != first.id

    report = store.restore(first.id)
    assert report.applied and not report.conflicts
    assert sorted(report.removed) == ["deep/er/file.txt", "src/new_mod.py"]
    assert sorted(report.restored) == ["notes.txt", "src/app.py", "untracked.txt"]
    after = files_of(root)
    after.pop("build.log")
    expected = dict(before)
    expected.pop("build.log")
    assert after == expected
    assert not (root / "deep").exists(), "directories emptied by the restore are removed"
    assert (root / "build.log").read_text() == "ignored v2\n", "ignored files are untouched"


def test_user_repository_state_is_never_touched(make_repo):
    root = make_repo({"a.txt": "a\n", "b.txt": "b\n"})
    git(root, "branch", "feature")
    (root / "a.txt").write_text("stashed change\n")
    git(root, "stash")
    (root / "a.txt").write_text("staged change\n")
    git(root, "add", "a.txt")
    (root / "b.txt").write_text("unstaged change\n")
    (root / "c.txt").write_text("untracked\n")
    state = repo_state(root)

    store = CheckpointStore(root, "s1")
    cp = store.snapshot("turn: one", message_seq=1)
    assert repo_state(root) == state
    (root / "b.txt").write_text("agent edit\n")
    (root / "d.txt").write_text("agent file\n")
    store.snapshot("after Edit b.txt")
    store.restore(cp.id)
    assert repo_state(root) == state
    assert (root / "b.txt").read_text() == "unstaged change\n"
    assert not (root / "d.txt").exists()
    assert not list(root.rglob("*kimi*")), "nothing is written into the repository"


def test_works_in_a_plain_directory(tmp_path):
    ws = tmp_path / "plain"
    (ws / "sub").mkdir(parents=True)
    (ws / "sub/file.txt").write_text("one\n")
    store = CheckpointStore(ws, "s1")
    cp = store.snapshot("turn: start", message_seq=1)
    (ws / "sub/file.txt").write_text("two\n")
    (ws / "extra.txt").write_text("x\n")
    store.snapshot("after Write extra.txt")
    report = store.restore(cp.id)
    assert report.applied
    assert files_of(ws) == {"sub/file.txt": "one\n"}
    assert not (ws / ".git").exists()


def test_dedup_listing_and_lookup(tmp_path):
    ws = tmp_path / "w"
    ws.mkdir()
    (ws / "f").write_text("1")
    store = CheckpointStore(ws, "sess-a")
    a = store.snapshot("turn: a", message_seq=1)
    assert store.snapshot("after Read") == a, "unchanged tree reuses the checkpoint"
    b = store.snapshot("turn: b", message_seq=5)
    assert b.id != a.id and b.tree == a.tree, "a new conversation position is a new checkpoint"
    (ws / "f").write_text("2")
    c = store.snapshot("after Edit f")
    assert [x.id for x in store.list()] == [a.id, b.id, c.id]
    assert [x.trigger for x in store.list()] == ["turn: a", "turn: b", "after Edit f"]
    assert store.get(c.id[:6]).id == c.id
    with pytest.raises(CheckpointError, match="no checkpoint"):
        store.get("deadbeef")
    with pytest.raises(CheckpointError, match="not a checkpoint id"):
        store.get("../x")
    other = CheckpointStore(ws, "sess-b")
    assert other.list() == []
    assert other.get(a.id).id == a.id, "ids of other sessions of the workspace resolve"


def test_size_cap_is_recorded_and_big_files_untouched(tmp_path, monkeypatch):
    monkeypatch.setattr(cpmod, "MAX_FILE_BYTES", 1000)
    ws = tmp_path / "w"
    ws.mkdir()
    (ws / "small.txt").write_text("s")
    (ws / "big.bin").write_bytes(b"x" * 5000)
    store = CheckpointStore(ws, "s")
    cp = store.snapshot("turn", message_seq=1)
    assert cp.skipped_total == 1
    assert cp.skipped[0]["path"] == "big.bin" and "larger than" in cp.skipped[0]["reason"]
    assert store.list()[0].skipped == cp.skipped, "the reason is stored with the checkpoint"
    (ws / "big.bin").write_bytes(b"y" * 6000)
    (ws / "small.txt").write_text("changed")
    store.snapshot("after Bash")
    store.restore(cp.id)
    assert (ws / "small.txt").read_text() == "s"
    assert (ws / "big.bin").read_bytes() == b"y" * 6000


def test_snapshot_budget_skips_with_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(cpmod, "MAX_SNAPSHOT_BYTES", 250)
    ws = tmp_path / "w"
    ws.mkdir()
    for i in range(5):
        (ws / f"f{i}.txt").write_text("z" * 100)
    cp = CheckpointStore(ws, "s").snapshot("turn")
    assert cp.skipped_total == 3
    assert all("budget" in s["reason"] for s in cp.skipped)


def test_new_file_count_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(cpmod, "MAX_NEW_FILES", 2)
    ws = tmp_path / "w"
    ws.mkdir()
    for i in range(4):
        (ws / f"f{i}.txt").write_text(str(i))
    cp = CheckpointStore(ws, "s").snapshot("turn")
    assert cp.skipped_total == 2 and "new files" in cp.skipped[0]["reason"]


def test_conflicting_user_edit_is_not_overwritten(tmp_path):
    ws = tmp_path / "w"
    ws.mkdir()
    (ws / "a.txt").write_text("original\n")
    (ws / "b.txt").write_text("b\n")
    store = CheckpointStore(ws, "s")
    cp = store.snapshot("turn: 1", message_seq=1)
    (ws / "a.txt").write_text("agent\n")
    (ws / "b.txt").write_text("agent b\n")
    store.snapshot("after Edit a.txt")
    (ws / "a.txt").write_text("user edit after the agent\n")   # not the agent's doing

    report = store.restore(cp.id)
    assert not report.applied and report.conflicts == ["a.txt"]
    assert (ws / "a.txt").read_text() == "user edit after the agent\n", "nothing changed"
    assert (ws / "b.txt").read_text() == "agent b\n"

    forced = store.restore(cp.id, force=True)
    assert forced.applied
    assert (ws / "a.txt").read_text() == "original\n"
    undo = store.restore(forced.safety_checkpoint)
    assert undo.applied and not undo.conflicts
    assert (ws / "a.txt").read_text() == "user edit after the agent\n", "the rewind is undoable"


def test_dry_run_changes_nothing(tmp_path):
    ws = tmp_path / "w"
    ws.mkdir()
    (ws / "a").write_text("1")
    store = CheckpointStore(ws, "s")
    cp = store.snapshot("t", message_seq=1)
    (ws / "a").write_text("2")
    store.snapshot("after Edit")
    report = store.restore(cp.id, dry_run=True)
    assert [(c.path, c.action) for c in report.changes] == [("a", "restore")]
    assert not report.applied and (ws / "a").read_text() == "2"


def test_exact_bytes_modes_and_symlinks(make_repo):
    root = make_repo({".gitattributes": "* text=auto\n", "keep.txt": "k\n"})
    (root / "crlf.txt").write_bytes(b"line1\r\nline2\r\n")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(root / "run.sh", 0o755)
    os.symlink("keep.txt", root / "link")
    store = CheckpointStore(root, "s")
    cp = store.snapshot("t", message_seq=1)
    (root / "crlf.txt").write_bytes(b"changed\n")
    os.chmod(root / "run.sh", 0o644)
    (root / "link").unlink()
    (root / "link").write_text("now a file")
    store.snapshot("after Bash")
    store.restore(cp.id)
    assert (root / "crlf.txt").read_bytes() == b"line1\r\nline2\r\n"
    assert os.stat(root / "run.sh").st_mode & 0o111
    assert (root / "link").is_symlink() and os.readlink(root / "link") == "keep.txt"


def test_file_replaced_by_directory_and_back(tmp_path):
    ws = tmp_path / "w"
    ws.mkdir()
    (ws / "thing").write_text("a file\n")
    store = CheckpointStore(ws, "s")
    cp = store.snapshot("t", message_seq=1)
    (ws / "thing").unlink()
    (ws / "thing").mkdir()
    (ws / "thing/inner.txt").write_text("inside\n")
    later = store.snapshot("after Bash")
    store.restore(cp.id)
    assert (ws / "thing").read_text() == "a file\n"
    store.restore(later.id)
    assert (ws / "thing/inner.txt").read_text() == "inside\n"


def test_repository_excludes_and_store_location(make_repo):
    root = make_repo({"a.txt": "a\n"})
    (root / ".git/info/exclude").write_text("secret-notes.md\n")
    (root / "secret-notes.md").write_text("private\n")
    cp = CheckpointStore(root, "s").snapshot("t")
    out = subprocess.run(["git", "--git-dir", str(store_dir(root) / "repo"), "ls-tree", "-r",
                          "--name-only", cp.tree], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["a.txt"]
    assert str(store_dir(root)).startswith(os.environ["KIMI_CODE_HOME"])


def test_missing_workspace_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not a directory"):
        CheckpointStore(tmp_path / "nope", "s")
