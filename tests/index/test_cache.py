"""Cache invalidation against real git repositories and real files."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from kimi_code.index import scan
from kimi_code.index.cache import db_path_for
from kimi_code.index.repo_map import RepoIndex
from tests.support.index_repos import git, write

BASE = {
    "pkg/shapes.py": "class Shape:\n    def area(self):\n        return 0\n",
    "pkg/util.py": "def helper():\n    return Shape()\n",
    "README.md": "# not source\n",
}


def defs_of(index: RepoIndex) -> set[tuple[str, str, int]]:
    return {(d.path, d.name, d.line) for d in index.iter_defs()}


def age(path: Path, seconds: float = 60.0) -> None:
    """Make a file look old so its stat is trusted (outside the racy window)."""
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_cold_then_warm_parses_nothing(make_repo, kimi_home):
    repo = make_repo(BASE)
    for rel in BASE:
        age(repo / rel)
    with RepoIndex(repo) as index:
        first = index.update(workers=1)
        assert first.git and first.parsed == 2 and first.unsupported == 1
        second = index.update(workers=1)
    assert second.parsed == 0 and second.unchanged == 2 and second.same_content == 0
    db = db_path_for(repo)
    assert db.is_relative_to(kimi_home) and not any(repo.rglob("*.sqlite"))


def test_edit_delete_rename_and_untracked(make_repo):
    repo = make_repo(BASE)
    with RepoIndex(repo) as index:
        index.update(workers=1)
        write(repo, "pkg/shapes.py", "class Shape:\n    pass\n\n\nclass Circle(Shape):\n    pass\n")
        res = index.update(workers=1)
        assert res.parsed == 1
        assert ("pkg/shapes.py", "Circle", 5) in defs_of(index)
        assert not index.find_symbol("area")

        os.rename(repo / "pkg/util.py", repo / "pkg/tools.py")  # untracked, not ignored: listed
        res = index.update(workers=1)
        assert res.deleted == 1 and res.parsed == 1
        assert [h.path for h in index.find_symbol("helper")] == ["pkg/tools.py"]

        (repo / "pkg/tools.py").unlink()
        res = index.update(workers=1)
        assert res.deleted == 1 and not index.find_symbol("helper")


def test_branch_switch(make_repo):
    repo = make_repo(BASE)
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "pkg/shapes.py", "class Polygon:\n    pass\n")
    write(repo, "pkg/new.py", "def brand_new():\n    pass\n")
    (repo / "pkg/util.py").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "feature")
    with RepoIndex(repo) as index:
        index.update(workers=1)
        assert {n for _, n, _ in defs_of(index)} == {"Polygon", "brand_new"}
        git(repo, "checkout", "-q", "main")
        index.update(workers=1)
        assert {n for _, n, _ in defs_of(index)} == {"Shape", "area", "helper"}
        git(repo, "checkout", "-q", "feature")
        index.update(workers=1)
        assert {n for _, n, _ in defs_of(index)} == {"Polygon", "brand_new"}


def test_touch_is_caught_by_content_digest(make_repo):
    repo = make_repo(BASE)
    for rel in BASE:
        age(repo / rel, 120)
    with RepoIndex(repo) as index:
        index.update(workers=1)
        age(repo / "pkg/shapes.py", 30)  # new mtime, same content
        res = index.update(workers=1)
    assert res.same_content == 1 and res.parsed == 0


def test_racy_rewrite_with_same_stat_is_detected(make_repo):
    """A file rewritten within the same timestamp (same size, mtime restored) is re-parsed,
    because a recent mtime marks the cache entry racy and the digest is checked."""
    repo = make_repo(BASE)
    path = repo / "pkg/shapes.py"
    with RepoIndex(repo) as index:
        index.update(workers=1)
        st = path.stat()
        path.write_text(BASE["pkg/shapes.py"].replace("Shape", "Shope"))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert path.stat().st_size == st.st_size
        res = index.update(workers=1)
        assert res.parsed == 1
        assert index.find_symbol("Shope") and not index.find_symbol("Shape")


def test_query_version_change_reparses_that_language_only(make_repo, monkeypatch):
    repo = make_repo({**BASE, "web/app.js": "function start() {}\n"})
    for rel in [*BASE, "web/app.js"]:
        age(repo / rel)
    with RepoIndex(repo) as index:
        index.update(workers=1)
        real = scan.query_version
        monkeypatch.setattr(scan, "query_version",
                            lambda lang: real(lang) + ("x" if lang == "python" else ""))
        res = index.update(workers=1)
    assert res.parsed == 2 and res.unchanged == 1


def test_ignored_files_are_not_indexed(make_repo):
    repo = make_repo({**BASE, ".gitignore": "build/\n*.gen.py\n"})
    write(repo, "build/out.py", "def built():\n    pass\n")
    write(repo, "pkg/x.gen.py", "def generated_thing():\n    pass\n")
    with RepoIndex(repo) as index:
        index.update(workers=1)
        assert not index.find_symbol("built") and not index.find_symbol("generated_thing")


def test_process_pool_gives_the_same_index(make_repo, monkeypatch):
    files = {f"m/mod{i}.py": f"def f{i}():\n    return f{(i + 1) % 40}()\n" for i in range(40)}
    repo = make_repo(files)
    monkeypatch.setattr(scan, "POOL_MIN_FILES", 10)
    with RepoIndex(repo) as index:
        index.update(workers=2)
        pooled = defs_of(index)
    db = db_path_for(repo)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with RepoIndex(repo) as index:
        index.update(workers=1)
        assert defs_of(index) == pooled and len(pooled) == 40


def test_deadline_keeps_partial_work_and_resumes(make_repo):
    repo = make_repo({f"m/mod{i}.py": f"def g{i}():\n    pass\n" for i in range(10)})
    with RepoIndex(repo) as index:
        res = index.update(deadline=time.monotonic() - 1, workers=1)
        assert not res.complete and res.pending == 10
        res = index.update(workers=1)
        assert res.complete and res.parsed == 10


def test_corrupt_cache_is_rebuilt(make_repo):
    repo = make_repo(BASE)
    db = db_path_for(repo)
    db.parent.mkdir(parents=True, exist_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    with RepoIndex(repo) as index:
        index.update(workers=1)
        assert index.find_symbol("Shape")


def test_two_processes_at_once(make_repo):
    import subprocess
    import sys

    repo = make_repo({f"m/mod{i}.py": f"class C{i}:\n    def m{i}(self):\n        pass\n"
                      for i in range(60)})
    cmd = [sys.executable, "-m", "kimi_code.app.index", str(repo), "--json"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    with RepoIndex(repo) as index:
        assert len(defs_of(index)) == 120
        # no duplicate rows from the concurrent writers
        rows = index.conn.execute("SELECT COUNT(*) FROM defs").fetchone()[0]
        assert rows == 120
    conn = sqlite3.connect(db_path_for(repo))
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_locked_cache_is_waited_for_not_deleted(tmp_path: Path, monkeypatch) -> None:
    """A busy database belongs to another indexer: retried, never deleted as if corrupt (deleting
    it under that process left it reading the other's WAL: 'no such table: meta')."""
    from kimi_code.index import cache as cache_mod

    db = tmp_path / "index.db"
    cache_mod.IndexCache(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE marker (x)")
    real_connect = cache_mod.IndexCache._connect
    calls: list[int] = []

    def busy_once(self):
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return real_connect(self)

    monkeypatch.setattr(cache_mod.IndexCache, "_connect", busy_once)
    monkeypatch.setattr(cache_mod.time, "sleep", lambda _s: None)
    cache = cache_mod.IndexCache(db)
    try:
        assert len(calls) == 2
        assert cache.conn.execute("SELECT name FROM sqlite_master WHERE name='marker'").fetchone()
    finally:
        cache.close()
