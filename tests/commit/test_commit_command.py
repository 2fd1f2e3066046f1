"""`kimi-code commit` end to end: real repositories, real hooks, a scripted model over HTTP."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kimi_code.app.commit import CommitOptions, provider_factory, run
from tests.support.commit_cli import hook, last_message, main, prompt_of
from tests.support.git_repos import git


@pytest.fixture
def conv_repo(make_repo, monkeypatch):
    root = make_repo({"src/app.py": "def run():\n    return 1\n"}, message="feat(app): add run")
    for msg in ["fix(app): return one", "docs: readme", "feat(cli): add entry point"]:
        (root / "NOTES").write_text(msg)
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", msg)
    monkeypatch.chdir(root)
    return root


def test_yes_commits_in_the_learned_convention(conv_repo, model_env):
    (conv_repo / "src/app.py").write_text("def run():\n    return 2\n")
    git(conv_repo, "add", "src/app.py")
    server = model_env([{"text": "```\nfix(app): return two instead of one\n```"}])
    assert main(yes=True) == 0
    assert last_message(conv_repo) == "fix(app): return two instead of one"
    prompt = prompt_of(server)
    assert "Conventional Commits" in prompt and "feat(cli): add entry point" in prompt
    assert "+    return 2" in prompt and 'trust="untrusted"' in prompt
    assert git(conv_repo, "status", "--porcelain") == ""


def test_all_stages_tracked_changes_and_dry_run_changes_nothing(conv_repo, model_env, capsys):
    (conv_repo / "src/app.py").write_text("def run():\n    return 3\n")
    model_env([{"text": "fix(app): return three"}, {"text": "fix(app): return three"}])
    head = git(conv_repo, "rev-parse", "HEAD")
    assert main(all_=True, dry_run=True) == 0
    assert "fix(app): return three" in capsys.readouterr().out
    assert git(conv_repo, "rev-parse", "HEAD") == head
    assert git(conv_repo, "diff", "--cached", "--name-only") == "", "dry-run stages nothing"
    assert main(all_=True, yes=True) == 0
    assert last_message(conv_repo) == "fix(app): return three"


def test_refusals(conv_repo, model_env, capsys):
    model_env([])
    assert main(yes=True) == 1
    assert "Nothing to commit" in capsys.readouterr().err
    git(conv_repo, "checkout", "-q", "--detach")
    (conv_repo / "NOTES").write_text("x")
    git(conv_repo, "add", "NOTES")
    assert main(yes=True) == 1
    assert "detached" in capsys.readouterr().err
    git(conv_repo, "checkout", "-q", "main")


def test_merge_in_progress_is_refused(conv_repo, model_env, capsys):
    model_env([])
    git(conv_repo, "checkout", "-q", "-b", "other")
    (conv_repo / "NOTES").write_text("other side")
    git(conv_repo, "commit", "-q", "-am", "docs: other")
    git(conv_repo, "checkout", "-q", "main")
    (conv_repo / "NOTES").write_text("main side")
    git(conv_repo, "commit", "-q", "-am", "docs: main")
    git(conv_repo, "merge", "other", check=False)
    assert (conv_repo / ".git/MERGE_HEAD").exists()
    assert main(yes=True) == 1
    assert "merge is in progress" in capsys.readouterr().err


def test_failing_hook_is_shown_and_nothing_lost(conv_repo, model_env, capsys):
    hook(conv_repo, "pre-commit", "echo 'lint: trailing whitespace in app.py' >&2\nexit 1\n")
    (conv_repo / "src/app.py").write_text("def run():\n    return 4\n")
    git(conv_repo, "add", "src/app.py")
    head = git(conv_repo, "rev-parse", "HEAD")
    model_env([{"text": "fix(app): return four"}])
    assert main(yes=True) == 1
    err = capsys.readouterr().err
    assert "lint: trailing whitespace in app.py" in err and "KIMI_COMMIT_MSG" in err
    assert git(conv_repo, "rev-parse", "HEAD") == head
    assert git(conv_repo, "diff", "--cached", "--name-only").strip() == "src/app.py"
    assert (conv_repo / ".git/KIMI_COMMIT_MSG").read_text().strip() == "fix(app): return four"


def test_passing_hooks_run(conv_repo, model_env):
    hook(conv_repo, "commit-msg", 'echo "hook saw: $(head -1 "$1")" > hook.log\n')
    (conv_repo / "src/app.py").write_text("x = 5\n")
    git(conv_repo, "add", "src/app.py")
    model_env([{"text": "refactor(app): simplify"}])
    assert main(yes=True) == 0
    assert (conv_repo / "hook.log").read_text().strip() == "hook saw: refactor(app): simplify"


def test_secret_guard(conv_repo, model_env, capsys):
    (conv_repo / ".env").write_text("DB_PASSWORD=hunter2\n")
    (conv_repo / "src/keys.py").write_text("KEY = 'AKIAIOSFODNN7EXAMPLE'\n")
    git(conv_repo, "add", ".env", "src/keys.py")
    server = model_env([{"text": "chore: add config"}])
    assert main(yes=True) == 1
    err = capsys.readouterr().err
    assert ".env: environment file" in err and "src/keys.py:1: contains a AWS access key id" in err
    assert server.model_bodies() == [], "refused before anything is sent to the model"
    assert main(yes=True, allow_secrets=True) == 0
    assert "src/keys.py" in git(conv_repo, "show", "--name-only", "HEAD")


def test_amend_rewrites_the_last_message(conv_repo, model_env):
    tree = git(conv_repo, "rev-parse", "HEAD^{tree}")
    server = model_env([{"text": "feat(cli): add the kimi entry point"}])
    assert main(amend=True, yes=True) == 0
    assert last_message(conv_repo) == "feat(cli): add the kimi entry point"
    assert git(conv_repo, "rev-parse", "HEAD^{tree}") == tree
    assert len(git(conv_repo, "log", "--format=%H").split()) == 4
    assert "feat(cli): add entry point" in prompt_of(server), "the old message is shown"


def test_interactive_edit_and_abort(conv_repo, model_env, tmp_path, monkeypatch):
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nsed -i "1s/.*/fix(app): edited by hand/" "$1"\n')
    editor.chmod(0o755)
    monkeypatch.setenv("GIT_EDITOR", str(editor))
    (conv_repo / "src/app.py").write_text("x = 6\n")
    git(conv_repo, "add", "src/app.py")
    model_env([{"text": "fix(app): model text"}, {"text": "fix(app): model text"}])
    answers = iter(["b"])
    head = git(conv_repo, "rev-parse", "HEAD")
    assert run(CommitOptions(), provider_factory(), lambda _: next(answers)) == 1
    assert git(conv_repo, "rev-parse", "HEAD") == head
    answers = iter(["e", "a"])
    assert run(CommitOptions(), provider_factory(), lambda _: next(answers)) == 0
    assert last_message(conv_repo) == "fix(app): edited by hand"


def test_no_terminal_without_yes(conv_repo, model_env, capsys):
    (conv_repo / "src/app.py").write_text("x = 7\n")
    git(conv_repo, "add", "src/app.py")
    head = git(conv_repo, "rev-parse", "HEAD")
    model_env([{"text": "fix(app): seven"}])
    assert main() == 2
    assert "--yes" in capsys.readouterr().err
    assert git(conv_repo, "rev-parse", "HEAD") == head


def test_large_diff_is_summarised_per_file(conv_repo, model_env, monkeypatch):
    (Path(os.environ["KIMI_CODE_HOME"]) / "config.toml").write_text(
        "[models.kimi]\nprovider = 'openai'\nmodel = 'test'\ncontext_window = 1024\n")
    for name in ("a", "b", "c"):
        (conv_repo / f"src/{name}.py").write_text("".join(f"v_{name}_{i} = {i}\n" for i in range(300)))
    git(conv_repo, "add", "src")
    server = model_env([{"text": "adds a"}, {"text": "adds b"}, {"text": "adds c"},
                        {"text": "feat(src): add value tables"}])
    assert main(yes=True) == 0
    assert last_message(conv_repo) == "feat(src): add value tables"
    prompts = [prompt_of(server, i) for i in range(4)]
    assert sum("File: src/" in p for p in prompts[:3]) == 3
    final = prompts[3]
    assert "Per-file summaries" in final and "src/b.py: adds" in final
    assert "v_a_299" not in final, "the raw diff is not sent when it does not fit"


def test_config_error_exits_2(conv_repo, monkeypatch, capsys):
    monkeypatch.setenv("KIMI_BASE_URL", "https://api.example.invalid/v1")
    monkeypatch.delenv("KIMI_API_KEY", raising=False)
    monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
    monkeypatch.setenv("KIMI_MODEL_NAME", "x")
    assert main(yes=True, all_=True) == 2
    assert "API key" in capsys.readouterr().err


def _plan_repo(root: Path) -> None:
    lines = [f"line {i}\n" for i in range(1, 41)]
    (root / "big.txt").write_text("".join(lines))
    git(root, "add", "big.txt")
    git(root, "commit", "-q", "-m", "chore: add big")
    lines[1] = "line 2 changed for feature\n"
    lines[35] = "line 36 changed for docs\n"
    (root / "big.txt").write_text("".join(lines))
    (root / "feature.py").write_text("FEATURE = True\n")


def test_plan_splits_hunks_into_commits(conv_repo, model_env, capsys):
    _plan_repo(conv_repo)
    plan = {"commits": [{"message": "feat: add feature flag", "hunks": ["H1", "H3"]},
                        {"message": "docs: adjust line 36", "hunks": ["H2"]}]}
    server = model_env([{"text": json.dumps(plan)}])
    assert main(plan=True, yes=True) == 0
    out = capsys.readouterr().out
    assert "1. feat: add feature flag" in out and "H3 feature.py (added" in out
    log = git(conv_repo, "log", "-2", "--format=%s").split("\n")
    assert log[:2] == ["docs: adjust line 36", "feat: add feature flag"]
    first = git(conv_repo, "show", "HEAD~1", "--format=", "--stat")
    assert "big.txt" in first and "feature.py" in first
    assert "line 2 changed" in git(conv_repo, "show", "HEAD~1:big.txt")
    assert "line 36 changed" not in git(conv_repo, "show", "HEAD~1:big.txt")
    assert git(conv_repo, "status", "--porcelain") == ""
    assert "H1: big.txt lines" in prompt_of(server)


def test_plan_stops_at_a_rejected_commit_and_keeps_the_rest(conv_repo, model_env, capsys):
    hook(conv_repo, "commit-msg", 'grep -q WIP "$1" && { echo "no WIP commits" >&2; exit 1; }\nexit 0\n')
    _plan_repo(conv_repo)
    plan = {"commits": [{"message": "feat: add feature flag", "hunks": ["H1", "H3"]},
                        {"message": "WIP docs", "hunks": ["H2"]}]}
    model_env([{"text": json.dumps(plan)}])
    assert main(plan=True, yes=True) == 1
    assert "no WIP commits" in capsys.readouterr().err
    assert git(conv_repo, "log", "-1", "--format=%s").strip() == "feat: add feature flag"
    assert "line 36 changed for docs" in (conv_repo / "big.txt").read_text()
    assert "big.txt" in git(conv_repo, "status", "--porcelain")


def test_plan_with_unplanned_hunk_and_garbage(conv_repo, model_env, capsys):
    _plan_repo(conv_repo)
    model_env([{"text": "I think you should commit it all."},
               {"text": json.dumps({"commits": [{"message": "feat: everything", "hunks": ["H1", "H9"]}]})}])
    assert main(plan=True, yes=True) == 1
    assert "usable plan" in capsys.readouterr().err
    assert main(plan=True, dry_run=True) == 0
    out = capsys.readouterr().out
    assert "unknown hunk H9" in out and "H2 (big.txt" in out and "was not planned" in out


def test_first_commit_in_an_empty_repository(tmp_path, model_env, monkeypatch):
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q")
    (root / "main.py").write_text("print('hi')\n")
    git(root, "add", "main.py")
    monkeypatch.chdir(root)
    server = model_env([{"text": "Add main entry point"}])
    assert main(yes=True) == 0
    assert last_message(root) == "Add main entry point"
    assert "no history yet" in prompt_of(server)
