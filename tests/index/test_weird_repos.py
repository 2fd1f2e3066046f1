"""`kimi-code index` on repositories a daily user really has: names that are not UTF-8 or hold a
newline, Git LFS pointer files, bare repositories and missing paths. Driven through the real
command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.index_repos import git, write

LFS = ("version https://git-lfs.github.com/spec/v1\n"
       "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
       "size 12345\n")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kimi_code", "index", *args],
                          capture_output=True, text=True, env=os.environ, timeout=120)


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file systems refuse non-UTF-8 names")
def test_odd_names_and_lfs_pointers_are_reported_not_fatal(tmp_path: Path):
    repo = tmp_path / "repo"
    write(repo, "good.py", "def good():\n    return 1\n")
    write(repo, "weights.py", LFS)  # an LFS-tracked file whose content was never pulled
    write(repo, "nl\nname.py", "def newline_named():\n    pass\n")
    (repo / os.fsdecode(b"bad\xffname.py")).write_text("def latin_named():\n    pass\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")

    proc = run_cli(str(repo), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["files"] == 2 and data["definitions"] == 2
    assert data["skipped"] == {"lfs-pointer": 1}
    assert len(data["warnings"]) == 1
    assert "not valid UTF-8" in data["warnings"][0] and "bad\\udcffname.py" in data["warnings"][0]

    proc = run_cli(str(repo), "--map")
    assert proc.returncode == 0, proc.stderr
    assert '"nl\\nname.py":\n│def newline_named():' in proc.stdout  # quoted, one line
    assert "https" not in proc.stdout and "weights.py" not in proc.stdout
    assert "not valid UTF-8" in proc.stderr


def test_bare_repository_and_git_dir_are_refused_with_a_reason(tmp_path: Path):
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    proc = run_cli(str(bare))
    assert proc.returncode == 2
    assert "bare repository" in proc.stderr and "Traceback" not in proc.stderr
    repo = tmp_path / "repo"
    write(repo, "a.py", "def a():\n    pass\n")
    git(repo, "init", "-q")
    proc = run_cli(str(repo / ".git" / "refs"))
    assert proc.returncode == 2 and f"{repo / '.git' / 'refs'}: it is a git directory" in proc.stderr
    proc = run_cli(str(tmp_path / "missing"))
    assert proc.returncode == 2 and "no such directory" in proc.stderr
    (tmp_path / "elsewhere.py").write_text("x = 1\n")
    proc = run_cli(str(repo), "--map", "--focus", str(tmp_path / "elsewhere.py"))
    assert proc.returncode == 2 and "outside the indexed directory" in proc.stderr


def test_a_removed_subagent_worktree_leaves_no_index_cache(tmp_path: Path, kimi_home: Path):
    from kimi_code.agent.swarm_merge import discard_worktree
    from kimi_code.git.worktrees import create_worktree, snapshot_base
    from kimi_code.index.repo_map import RepoIndex

    repo = tmp_path / "repo"
    write(repo, "a.py", "def a():\n    pass\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    wt = create_worktree(repo, snapshot_base(repo), "sess", 1)
    with RepoIndex(wt.path) as index:  # what a coder subagent's FindSymbol does
        index.update(workers=1)
        assert [d.name for d in index.iter_defs()] == ["a"]
    assert list((kimi_home / "cache" / "index").glob("*.sqlite"))
    discard_worktree(wt, delete_branch=True)
    assert not wt.path.exists()
    assert list((kimi_home / "cache" / "index").glob("*.sqlite*")) == []


def test_map_on_a_latin1_terminal(tmp_path: Path):
    root = tmp_path / "tree"
    write(root, "mod.py", "def f():\n    pass\n")
    env = {**os.environ, "PYTHONIOENCODING": "latin-1"}
    proc = subprocess.run([sys.executable, "-m", "kimi_code", "index", str(root), "--map"],
                          capture_output=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(b"mod.py:\n?def f():\n")


def _corrupt_table(db: Path, table: str) -> None:
    """Wreck the root page of one table, as a disk error or a copy taken mid-write would; the
    header, the schema and the meta table stay readable, so the file still opens."""
    import sqlite3

    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    conn.close()
    data = bytearray(db.read_bytes())
    start = (root - 1) * page_size
    data[start:start + page_size] = bytes((i * 7 + 13) % 256 for i in range(page_size))
    db.write_bytes(bytes(data))


async def test_a_corrupt_cache_is_rebuilt_by_the_cli_and_the_tools(tmp_path: Path,
                                                                   kimi_home: Path):
    from kimi_code.index.tooling import query_index

    root = tmp_path / "tree"
    for i in range(60):
        write(root, f"pkg/m{i}.py", f"def fn_{i}(x):\n    return helper(x) + {i}\n")
    proc = run_cli(str(root), "--json")
    assert proc.returncode == 0, proc.stderr
    db = Path(json.loads(proc.stdout)["cache"])
    _corrupt_table(db, "files")
    proc = run_cli(str(root), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["definitions"] == 60 and "Traceback" not in proc.stderr
    _corrupt_table(db, "defs")
    hits, result = await query_index(root, lambda index: index.find_symbol("fn_42"))
    assert [(h.path, h.line) for h in hits] == [("pkg/m42.py", 1)] and result.complete
