"""`kimi-code commit` on awkward repositories: a carefully staged index that `-a` must not
disturb when anything goes wrong, and files that are not UTF-8. Real repositories, real hooks,
a scripted model over real HTTP (or a port nobody listens on)."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from tests.support.commit_cli import hook, last_message, main, prompt_of
from tests.support.git_repos import git

LINES = "".join(f"line {i}\n" for i in range(1, 21))


@pytest.fixture
def partly_staged(make_repo, monkeypatch):
    """A repo where one hunk of f.txt is staged and another is not (git add -p style)."""
    root = make_repo({"f.txt": LINES})
    text = LINES.replace("line 1\n", "line one\n")
    (root / "f.txt").write_text(text)
    git(root, "add", "f.txt")
    (root / "f.txt").write_text(text.replace("line 20\n", "line twenty\n"))
    monkeypatch.chdir(root)
    return root


def index_state(root) -> tuple[str, str]:
    return git(root, "diff", "--cached"), git(root, "diff")


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_all_leaves_the_index_alone_when_the_endpoint_is_dead(partly_staged, monkeypatch, capsys):
    before = index_state(partly_staged)
    monkeypatch.setenv("KIMI_BASE_URL", f"http://127.0.0.1:{dead_port()}/v1")
    monkeypatch.setenv("KIMI_API_KEY", "test")
    monkeypatch.setenv("KIMI_MODEL_NAME", "test")
    monkeypatch.setenv("KIMI_CODE_MAX_RETRIES", "0")
    assert main(all_=True, yes=True) == 75
    assert "endpoint" in capsys.readouterr().err
    assert index_state(partly_staged) == before, "the partial staging must survive"


def test_all_leaves_the_index_alone_on_no_terminal_and_on_a_failing_hook(partly_staged, model_env,
                                                                         capsys):
    before = index_state(partly_staged)
    head = git(partly_staged, "rev-parse", "HEAD")
    model_env([{"text": "Rename lines", "repeat": 2}])
    assert main(all_=True) == 2  # no terminal to ask on, no --yes
    assert index_state(partly_staged) == before
    hook(partly_staged, "pre-commit", "echo 'lint failed' >&2\nexit 1\n")
    assert main(all_=True, yes=True) == 1
    err = capsys.readouterr().err
    assert "lint failed" in err and "git commit -a -F " in err  # the hint commits the same
    assert index_state(partly_staged) == before
    assert git(partly_staged, "rev-parse", "HEAD") == head


def test_all_commits_staged_and_unstaged_tracked_changes(partly_staged, model_env):
    (partly_staged / "new.txt").write_text("untracked stays out\n")
    server = model_env([{"text": "Spell out the first and last lines"}])
    assert main(all_=True, yes=True) == 0
    assert last_message(partly_staged) == "Spell out the first and last lines"
    assert "+line one" in prompt_of(server) and "+line twenty" in prompt_of(server)
    assert git(partly_staged, "status", "--porcelain") == "?? new.txt\n"


def test_amend_all_describes_and_commits_the_unstaged_change(partly_staged, model_env):
    git(partly_staged, "commit", "-q", "-m", "wip")
    server = model_env([{"text": "Spell out the first and last lines"}])
    assert main(amend=True, all_=True, yes=True) == 0
    assert "+line twenty" in prompt_of(server)
    assert git(partly_staged, "status", "--porcelain") == ""
    assert git(partly_staged, "rev-list", "--count", "HEAD") == "2\n"  # amended, not added
    assert last_message(partly_staged) == "Spell out the first and last lines"


def test_latin1_file_commits_and_plans_byte_exact(make_repo, model_env, monkeypatch):
    root = make_repo({"README.md": "hi\n"})
    latin = "".join(f"line {i}\n" for i in range(1, 21)).encode() + "caf\xe9\n".encode("latin-1")
    (root / "legacy.txt").write_bytes(latin)
    git(root, "add", "legacy.txt")
    monkeypatch.chdir(root)
    server = model_env([{"text": "Add legacy notes"}])
    assert main(yes=True) == 0
    assert last_message(root) == "Add legacy notes"
    assert "+caf\ufffd" in prompt_of(server)  # shown as U+FFFD, the request still goes out

    changed = latin.replace(b"line 1\n", b"LINE 1\n").replace("caf\xe9".encode("latin-1"),
                                                               "CAF\xc9".encode("latin-1"))
    (root / "legacy.txt").write_bytes(changed)
    plan = {"commits": [{"message": "Shout the first line", "hunks": ["H1"]},
                        {"message": "Shout the cafe", "hunks": ["H2"]}]}
    server = model_env([{"text": json.dumps(plan)}])
    assert main(plan=True, yes=True) == 0
    assert git(root, "status", "--porcelain") == ""
    assert show(root, "HEAD~1:legacy.txt") == changed.replace(b"CAF\xc9", b"caf\xe9")
    assert show(root, "HEAD:legacy.txt") == changed == (root / "legacy.txt").read_bytes()


def show(root, spec: str) -> bytes:
    return subprocess.run(["git", "show", spec], cwd=root, capture_output=True,
                          check=True).stdout


def test_secret_deep_in_a_big_generated_file_is_still_caught(make_repo, model_env, monkeypatch,
                                                            capsys):
    root = make_repo({"README.md": "hi\n"})
    rows = [f"row_{i} = {i}\n" for i in range(200_000)]
    rows[199_990] = "aws = 'AKIAIOSFODNN7EXAMPLE'\n"
    (root / "generated.py").write_text("".join(rows))
    (root / "settings.py").write_text("x = 1\n" * 50 + 'API_TOKEN = "q8Zr2LmX9vTb4NcW7pKd1sHf6yJg3"\n')
    (root / "clean.py").write_text("".join(f"value_{i} = {i}\n" for i in range(50_000)))
    git(root, "add", "-A")
    monkeypatch.chdir(root)
    server = model_env([])
    assert main(yes=True) == 1
    err = capsys.readouterr().err
    assert "generated.py:199991: contains a AWS access key id" in err
    assert "settings.py:51: assigns a high-entropy value" in err
    assert "clean.py" not in err
    assert server.model_bodies() == [], "refused before anything is sent"


def test_plan_sees_many_untracked_files_without_touching_the_index(make_repo, model_env,
                                                                   monkeypatch, capsys):
    root = make_repo({"README.md": "hi\n"})
    for i in range(300):
        (root / "gen").mkdir(exist_ok=True)
        (root / "gen" / f"f{i}.txt").write_text(f"{i}\n")
    (root / "staged.txt").write_text("staged\n")
    git(root, "add", "staged.txt")
    (root / "blob.bin").write_bytes(bytes(range(256)))
    monkeypatch.chdir(root)
    index_before = (root / ".git" / "index").read_bytes()
    plan = {"commits": [{"message": "Add generated files", "hunks": ["H1"]}]}
    model_env([{"text": json.dumps(plan)}, {"text": json.dumps(plan)}])
    assert main(plan=True, dry_run=True) == 0
    out = capsys.readouterr().out
    assert "gen/f299.txt (added, +1 -0)" in out and "staged.txt (added" in out
    assert "blob.bin (added" in out
    assert (root / ".git" / "index").read_bytes() == index_before
    assert main(plan=True, yes=True) == 0
    assert git(root, "status", "--porcelain") == ""
    assert git(root, "show", "HEAD:gen/f299.txt") == "299\n"


def test_plan_survives_diff_settings_that_change_the_patch_text(make_repo, model_env, monkeypatch,
                                                                capsys):
    """diff.suppressBlankEmpty prints empty context lines as "" (not " "): the hunks we cut
    and re-apply must still be exact. Signatures in log output must not leak in either."""
    root = make_repo({"f.py": "".join(f"line {i}\n\n" for i in range(1, 30))})
    git(root, "config", "diff.suppressBlankEmpty", "true")
    git(root, "config", "diff.noprefix", "true")
    git(root, "config", "color.ui", "always")
    text = (root / "f.py").read_text()
    (root / "f.py").write_text(text.replace("line 1\n", "LINE 1\n").replace("line 29\n",
                                                                             "LINE 29\n"))
    monkeypatch.chdir(root)
    plan = {"commits": [{"message": "Shout first", "hunks": ["H1"]},
                        {"message": "Shout last", "hunks": ["H2"]}]}
    model_env([{"text": json.dumps(plan)}])
    assert main(plan=True, yes=True) == 0, capsys.readouterr().err
    assert git(root, "status", "--porcelain") == ""
    assert git(root, "log", "--format=%s", "-2").split("\n")[:2] == ["Shout last", "Shout first"]
    assert "LINE 29" not in git(root, "show", "HEAD~1:f.py")


def test_hash_lines_in_the_message_are_content_not_comments(make_repo, model_env, monkeypatch):
    root = make_repo({"a.txt": "a\n"})
    (root / "a.txt").write_text("a\nb\n")
    git(root, "add", "a.txt")
    monkeypatch.chdir(root)
    model_env([{"text": "## Fix the parser\n\nThe tokenizer dropped the last line.\n"
                        "#123 is the issue this closes."}])
    assert main(yes=True) == 0
    assert last_message(root) == ("Fix the parser\n\nThe tokenizer dropped the last line.\n"
                                  "#123 is the issue this closes.")


def test_plan_too_big_for_the_context_is_refused_before_sending(make_repo, model_env,
                                                                 hermetic_git, monkeypatch,
                                                                 capsys):
    (hermetic_git / "config.toml").write_text(
        'default_model = "small"\n[models.small]\nprovider = "openai"\n'
        'base_url = "http://127.0.0.1:9/v1"\nmodel = "test"\ncontext_window = 4096\n')
    root = make_repo({f"f{i}.txt": "".join(f"line {n}\n" for n in range(40))
                      for i in range(30)})
    for i in range(30):
        path = root / f"f{i}.txt"
        path.write_text(path.read_text().replace("line 1\n", "LINE 1\n")
                        .replace("line 38\n", "LINE 38\n"))
    monkeypatch.chdir(root)
    server = model_env([])
    monkeypatch.delenv("KIMI_MODEL_NAME")
    assert main(plan=True, dry_run=True) == 1
    err = capsys.readouterr().err
    assert "60 hunks, too many to plan" in err and "without --plan" in err
    assert server.model_bodies() == []


def test_bare_repository_is_refused_before_the_model_is_asked(make_repo, model_env, tmp_path,
                                                              monkeypatch, capsys):
    bare = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--bare", str(make_repo({"a.txt": "a\n"})), str(bare))
    monkeypatch.chdir(bare)
    server = model_env([])
    for kw in ({"dry_run": True}, {"yes": True}, {"plan": True, "dry_run": True}):
        assert main(**kw) == 1
        assert "bare repository" in capsys.readouterr().err
    assert server.model_bodies() == []
    assert not (bare / "KIMI_COMMIT_MSG").exists()


def test_missing_editor_is_explained(make_repo, model_env, monkeypatch, capsys):
    from kimi_code.app.commit import CommitOptions, provider_factory, run

    root = make_repo({"a.txt": "a\n"})
    (root / "a.txt").write_text("b\n")
    git(root, "add", "a.txt")
    monkeypatch.chdir(root)
    monkeypatch.setenv("GIT_EDITOR", "no-such-editor-kimi --wait")
    model_env([{"text": "Change a"}])
    answers = iter(["e"])
    assert run(CommitOptions(), provider_factory(), lambda _: next(answers)) == 1
    err = capsys.readouterr().err
    assert "could not start the editor (no-such-editor-kimi --wait)" in err and "EDITOR" in err
    assert git(root, "diff", "--cached", "--name-only") == "a.txt\n"


def test_end_of_input_at_the_question_aborts(make_repo, model_env, monkeypatch, capsys):
    from kimi_code.app.commit import CommitOptions, provider_factory, run

    root = make_repo({"a.txt": "a\n"})
    (root / "a.txt").write_text("b\n")
    git(root, "add", "a.txt")
    monkeypatch.chdir(root)
    model_env([{"text": "Change a"}])
    head = git(root, "rev-parse", "HEAD")

    def closed(_: str) -> str:
        raise EOFError

    assert run(CommitOptions(), provider_factory(), closed) == 1
    assert "Aborted; nothing was committed." in capsys.readouterr().err
    assert git(root, "rev-parse", "HEAD") == head


def test_many_small_files_are_summarised_in_a_few_requests(make_repo, model_env, hermetic_git,
                                                           monkeypatch):
    (hermetic_git / "config.toml").write_text(
        "[models.kimi]\nprovider = 'openai'\nmodel = 'test'\ncontext_window = 1024\n")
    root = make_repo({"README.md": "hi\n"})
    for i in range(60):
        (root / "gen").mkdir(exist_ok=True)
        (root / "gen" / f"m{i:02}.py").write_text(f"VALUE_{i} = {i}\n")
    git(root, "add", "gen")
    monkeypatch.chdir(root)
    server = model_env([{"text": "Add generated constants", "repeat": 60}])
    assert main(yes=True) == 0
    bodies = server.model_bodies()
    # ~150 characters of diff per file, ~1,800 per request with this window: 5 or 6 requests
    # (it was one request per file: 60)
    assert len(bodies) - 1 <= 7, f"{len(bodies) - 1} summary requests for 60 small files"
    summary_prompts = ["\n".join(str(m["content"]) for m in b["messages"]) for b in bodies[:-1]]
    assert all("files, summarise them together" in p for p in summary_prompts)
    assert sum(p.count("diff --git") for p in summary_prompts) == 60
    final = "\n".join(str(m["content"]) for m in bodies[-1]["messages"])
    assert "Per-file summaries" in final and "more files" in final  # the file list is cut too
    assert last_message(root) == "Add generated constants"


def test_worktree_whose_main_repository_moved_is_explained(make_repo, tmp_path, model_env,
                                                           monkeypatch, capsys):
    from tests.support.review_cli import review

    root = make_repo({"a.txt": "a\n"})
    linked = tmp_path / "linked"
    git(root, "worktree", "add", "-q", str(linked), "-b", "side")
    root.rename(tmp_path / "moved")  # the link in linked/.git now points nowhere
    link_text = (linked / ".git").read_text()
    monkeypatch.chdir(linked)
    model_env([])
    assert main(dry_run=True) == 1
    assert "lost its main repository" in capsys.readouterr().err
    assert review(uncommitted=True) == 2
    err = capsys.readouterr().err
    assert "git worktree repair" in err and "do not `git init` here" in err
    assert (linked / ".git").read_text() == link_text
