"""`kimi-code review` on awkward repositories: symlinks that leave the tree, a generated file of
many megabytes, a shallow CI clone without the shared history, Latin-1 sources. Real
repositories, the real agent loop, a scripted model over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from kimi_code.review import review as review_mod
from tests.support.git_repos import git
from tests.support.review_cli import review, user_prompt
from tests.support.scripted_server import ScriptedServer


def test_export_skips_links_out_of_the_tree(make_repo, server, monkeypatch, capsys):  # noqa: F811
    root = make_repo({"app.py": "def a():\n    return 1\n"})
    (root / "abs_link").symlink_to("/etc/passwd")
    (root / "up_link").symlink_to("../../elsewhere")
    (root / "ok_link").symlink_to("app.py")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "links")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "app.py").write_text("def a():\n    return 2\n")
    git(root, "commit", "-q", "-am", "two")
    git(root, "checkout", "-q", "main")  # head not checked out: it is exported
    monkeypatch.chdir(root)
    before = set(Path(tempfile.gettempdir()).glob("kimi-review-*"))
    s = server([{"tool_calls": [{"id": "r", "name": "Read",
                                 "arguments": {"file_path": "ok_link"}}]},
                {"text": "Fine."}])
    assert review(head="feature", fail_on="never") == 0
    assert json.loads(capsys.readouterr().out)["errors"] == []
    assert "return 2" in json.dumps(s.model_bodies()[1]["messages"])  # in-tree link followed
    assert set(Path(tempfile.gettempdir()).glob("kimi-review-*")) == before, "export removed"


def test_a_huge_generated_file_is_clipped_in_the_prompt(make_repo, server, monkeypatch, capsys):  # noqa: F811
    root = make_repo({"app.py": "x = 0\n"})
    git(root, "checkout", "-q", "-b", "feature")
    (root / "data.py").write_text("".join(f"v{i} = {i}\n" for i in range(2000)))
    git(root, "add", "data.py")
    git(root, "commit", "-q", "-m", "data")
    monkeypatch.chdir(root)
    monkeypatch.setattr(review_mod, "MAX_FILE_DIFF_CHARS", 3000)
    s = server([{"text": "Generated data."}])
    assert review(fail_on="never") == 0
    prompt = user_prompt(s)
    assert "+v10 = 10\n" in prompt and "+v1999 = 1999" not in prompt
    assert "[diff of data.py cut here:" in prompt and "readable with your tools" in prompt
    assert len(prompt) < 6000


def test_shallow_clone_without_shared_history_says_how_to_fix(make_repo, server, tmp_path,  # noqa: F811
                                                             monkeypatch, capsys):
    up = make_repo({"a.txt": "1\n"}, name="upstream")
    for n in (2, 3):
        (up / "a.txt").write_text(f"{n}\n")
        git(up, "commit", "-q", "-am", f"c{n}")
    git(up, "checkout", "-q", "-b", "feature")
    (up / "b.txt").write_text("new\n")
    git(up, "add", "b.txt")
    git(up, "commit", "-q", "-m", "feature")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "1", "--branch", "feature", f"file://{up}", str(clone))
    git(clone, "fetch", "-q", "--depth", "1", "origin", "main:refs/remotes/origin/main")
    monkeypatch.chdir(clone)
    s = server([])
    assert review(base="origin/main") == 2
    assert s.model_bodies() == []
    err = capsys.readouterr().err
    assert "shallow clone" in err and "fetch-depth: 0" in err and "--unshallow" in err


def test_latin1_source_is_reviewed(make_repo, server, monkeypatch, capsys):  # noqa: F811
    root = make_repo({"app.py": "x = 0\n"})
    git(root, "checkout", "-q", "-b", "feature")
    (root / "legacy.py").write_bytes("# caf\xe9\nname = 'd\xe9j\xe0'\n".encode("latin-1"))
    git(root, "add", "legacy.py")
    git(root, "commit", "-q", "-m", "legacy")
    monkeypatch.chdir(root)
    s = server([{"text": "Legacy encoding."}])
    assert review(fail_on="never") == 0
    assert json.loads(capsys.readouterr().out)["errors"] == []
    assert "+# caf\ufffd" in user_prompt(s)


def test_unwritable_output_is_refused_before_the_model_is_paid(pr_repo, server, tmp_path,  # noqa: F811
                                                               capsys):
    s = server([])
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "a-file").write_text("keep me\n")
    assert review(output=tmp_path / "a-dir") == 2
    assert "is a directory" in capsys.readouterr().err
    assert review(output=tmp_path / "a-file" / "review.json") == 2
    assert f"{tmp_path / 'a-file'} is a file, not a directory" in capsys.readouterr().err
    assert s.model_bodies() == [] and (tmp_path / "a-file").read_text() == "keep me\n"


def test_a_report_that_cannot_be_written_goes_to_stdout(pr_repo, server, tmp_path,  # noqa: F811
                                                        capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    s = server([{"delay_s": 1.0, "text": "Looks fine."}])

    def replace_dir_with_file() -> None:  # someone removes the directory during the review
        while not s.requests:  # the model is being asked: -o was checked already
            time.sleep(0.01)
        out_dir.rmdir()
        out_dir.write_text("not a directory any more\n")

    thread = threading.Thread(target=replace_dir_with_file, daemon=True)
    thread.start()
    code = review(output=out_dir / "review.json", fail_on="never")
    thread.join(timeout=10)
    assert code == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["summary"] == "Looks fine."
    assert "could not write" in captured.err and "follows on stdout" in captured.err


def test_odd_file_names_are_anchored_and_percent_encoded_in_sarif(make_repo, server,  # noqa: F811
                                                                  monkeypatch, tmp_path):
    name = "docs/a b#1 ü.py"
    root = make_repo({"app.py": "x = 0\n"})
    git(root, "checkout", "-q", "-b", "feature")
    (root / "docs").mkdir()
    (root / name).write_text("def f(x):\n    return 1 / x\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "odd name")
    monkeypatch.chdir(root)
    server([{"tool_calls": [{"id": "f1", "name": "ReportFinding", "arguments": {
        "file": name, "line": 2, "severity": "warning", "category": "bug",
        "title": "division by zero", "body": "x may be 0."}}]},
        {"text": "One issue."}])
    out = tmp_path / "review.sarif"
    assert review(format_="sarif", output=out, fail_on="never") == 0
    result = json.loads(out.read_text())["runs"][0]["results"][0]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "docs/a%20b%231%20%C3%BC.py"
    assert location["region"]["startLine"] == 2


def test_exported_head_leaves_no_symbol_index_behind(pr_repo, server, hermetic_git,  # noqa: F811
                                                     capsys):
    git(pr_repo, "checkout", "-q", "main")
    (pr_repo / "app.py").write_text("local junk\n")  # head differs from the work tree: export
    s = server([{"tool_calls": [{"id": "s1", "name": "FindSymbol",
                                 "arguments": {"name": "average"}}]},
                {"text": "done"}])
    assert review(head="feature", fail_on="never") == 0
    assert "app.py:4" in json.dumps(s.model_bodies()[1]["messages"])  # the tool did index it
    caches = list((hermetic_git / "cache" / "index").glob("*.sqlite*"))
    assert caches == [], caches


def test_latin1_locale_still_gets_the_commit_message_and_the_report(make_repo, tmp_path):
    """A CJK commit message and a Markdown report (which uses "−") on a latin-1 terminal:
    what the locale cannot show becomes "?", nothing crashes and nothing is lost."""
    root = make_repo({"a.py": "x = 1\n"})
    git(root, "checkout", "-q", "-b", "feature")
    (root / "a.py").write_text("x = 2\n")
    git(root, "add", "a.py")
    with ScriptedServer([{"text": "修复 x"}, {"text": "没有问题"}]) as s:
        env = {**os.environ, "KIMI_BASE_URL": s.base_url_openai, "KIMI_API_KEY": "test",
               "KIMI_MODEL_NAME": "test", "KIMI_CODE_MAX_RETRIES": "0",
               "PYTHONIOENCODING": "latin-1"}
        kimi = [sys.executable, "-m", "kimi_code"]
        commit = subprocess.run([*kimi, "commit", "--dry-run"], cwd=root, env=env,
                                capture_output=True, timeout=120)
        assert commit.returncode == 0, commit.stderr
        assert commit.stdout == b"?? x\n"
        git(root, "commit", "-q", "-m", "x two")
        review_proc = subprocess.run([*kimi, "review", "--base", "main"], cwd=root, env=env,
                                     capture_output=True, timeout=120)
        assert review_proc.returncode == 0, review_proc.stderr
        assert b"## kimi-code review" in review_proc.stdout and b"????" in review_proc.stdout


def test_a_small_context_model_gets_a_smaller_file_excerpt(make_repo, server, hermetic_git,  # noqa: F811
                                                           monkeypatch, capsys):
    (hermetic_git / "config.toml").write_text(
        'default_model = "small"\n[models.small]\nprovider = "openai"\n'
        'base_url = "http://127.0.0.1:9/v1"\nmodel = "test"\ncontext_window = 4096\n')
    root = make_repo({"app.py": "x = 0\n"})
    git(root, "checkout", "-q", "-b", "feature")
    (root / "data.py").write_text("".join(f"v{i} = {i}\n" for i in range(2000)))
    git(root, "add", "data.py")
    git(root, "commit", "-q", "-m", "data")
    monkeypatch.chdir(root)
    s = server([{"text": "Generated data."}])
    assert review(fail_on="never") == 0
    prompt = user_prompt(s)
    assert "[diff of data.py cut here:" in prompt and len(prompt) < 5000


def test_uncommitted_review_in_a_repository_without_commits(tmp_path, server, monkeypatch,  # noqa: F811
                                                            capsys):
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q")
    (root / "staged.py").write_text("def f(x):\n    return 1 / x\n")
    git(root, "add", "staged.py")
    (root / "new.py").write_text("print('hi')\n")
    index_before = (root / ".git" / "index").read_bytes()
    monkeypatch.chdir(root)
    s = server([{"tool_calls": [{"id": "f1", "name": "ReportFinding", "arguments": {
        "file": "staged.py", "line": 2, "severity": "warning", "category": "bug",
        "title": "division by zero", "body": "x may be 0."}}]},
        {"text": "First commit reviewed."}])
    assert review(uncommitted=True, fail_on="never") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["files"] == ["new.py", "staged.py"] and data["findings"][0]["line"] == 2
    assert "+print('hi')" in user_prompt(s)
    assert (root / ".git" / "index").read_bytes() == index_before


def test_empty_branch_diff_points_at_uncommitted_work(pr_repo, server, capsys):  # noqa: F811
    server([])
    assert review(base="feature") == 0
    assert capsys.readouterr().err.strip() == "nothing to review: the diff is empty."
    (pr_repo / "app.py").write_text("work in progress\n")
    assert review(base="feature") == 0
    assert "use --uncommitted to review them" in capsys.readouterr().err


def test_sigterm_during_a_review_removes_the_exported_head(make_repo, tmp_path):
    root = make_repo({"app.py": "x = 1\n"})
    git(root, "checkout", "-q", "-b", "feature")
    (root / "app.py").write_text("x = 2\n")
    git(root, "commit", "-q", "-am", "two")
    git(root, "checkout", "-q", "main")  # head is exported into TMPDIR
    temp = tmp_path / "tmpdir"
    temp.mkdir()
    with ScriptedServer([{"delay_s": 30, "text": "too slow"}]) as s:
        env = {**os.environ, "KIMI_BASE_URL": s.base_url_openai, "KIMI_API_KEY": "test",
               "KIMI_MODEL_NAME": "test", "KIMI_CODE_MAX_RETRIES": "0", "TMPDIR": str(temp)}
        proc = subprocess.Popen([sys.executable, "-m", "kimi_code", "review", "--head",
                                 "feature"], cwd=root, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not s.requests and time.monotonic() < deadline:  # the model is being asked
                time.sleep(0.05)
            assert list(temp.glob("kimi-review-*")), "the head was exported"
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 143
    assert list(temp.glob("kimi-review-*")) == []


def test_bare_mirror_reviews_commits_and_refuses_uncommitted(pr_repo, server, tmp_path,  # noqa: F811
                                                             monkeypatch, capsys):
    bare = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--bare", str(pr_repo), str(bare))
    git(bare, "symbolic-ref", "HEAD", "refs/heads/feature")  # head == HEAD: no work tree to read
    monkeypatch.chdir(bare)
    s = server([{"tool_calls": [{"id": "r", "name": "Read", "arguments": {"file_path": "app.py"}}]},
                {"text": "Reviewed from the mirror."}])
    assert review(fail_on="never") == 0
    assert json.loads(capsys.readouterr().out)["files"] == ["AGENTS.md", "app.py"]
    assert "sum(xs) / len(xs)" in json.dumps(s.model_bodies()[1]["messages"])
    assert review(uncommitted=True) == 2
    assert "bare repository" in capsys.readouterr().err
