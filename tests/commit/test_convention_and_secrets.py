"""Convention learning (from real repositories' logs), the secret guard and diff parsing."""

from __future__ import annotations

from kimi_code.commit.convention import learn_convention, learn_from_messages
from kimi_code.commit.secret_guard import filename_reason, scan_diff, scan_line
from kimi_code.git.diffparse import parse_diff, unquote_path
from kimi_code.git.repo import open_repo
from tests.support.git_repos import git


def _commit_all(root, messages):
    for i, message in enumerate(messages):
        (root / f"f{i}.txt").write_text(str(i))
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", message)


def test_learns_conventional_commits_from_a_real_log(make_repo):
    root = make_repo(message="chore: initial import")
    _commit_all(root, ["feat(api): add token refresh", "fix(api): handle empty body",
                       "docs: explain setup", "feat(cli): add --json flag",
                       "test(api): cover refresh\n\nSigned-off-by: A <a@example.com>"])
    conv = learn_convention(open_repo(root))
    assert conv.conventional and conv.sample_size == 6
    assert conv.types[0] == "feat" and set(conv.types) >= {"fix", "docs", "chore", "test"}
    assert conv.scopes[0] == "api" and "cli" in conv.scopes
    assert not conv.capitalized and not conv.trailing_period
    guide = conv.guide()
    assert "Conventional Commits" in guide and "api" in guide and "lower-case" in guide
    assert conv.examples[0] == "test(api): cover refresh"


def test_learns_plain_capitalised_style_with_trailers(make_repo):
    root = make_repo(message="Initial commit.\n\nSigned-off-by: A <a@example.com>")
    _commit_all(root, [f"Improve thing {i}.\n\nLonger explanation of why.\n\n"
                       "Signed-off-by: A <a@example.com>" for i in range(4)])
    conv = learn_convention(open_repo(root))
    assert not conv.conventional
    assert conv.capitalized and conv.trailing_period
    assert conv.trailers == ["Signed-off-by"]
    assert conv.body_ratio >= 0.5
    assert "Do NOT use Conventional Commits" in conv.guide()


def test_merges_and_fixups_are_ignored_and_empty_history():
    conv = learn_from_messages(["Merge branch 'x'", "fixup! feat: a", "feat: real one"])
    assert conv.sample_size == 1 and conv.conventional
    assert learn_from_messages([]).guide().startswith("This repository has no history")


def test_ticket_prefix_detected():
    conv = learn_from_messages(["ABC-12: Fix login", "[ABC-13] Add logout", "ABC-14: Tidy"])
    assert conv.ticket_prefix and not conv.conventional


def test_secret_file_names():
    assert filename_reason(".env") and filename_reason("config/.env.production")
    assert filename_reason("deploy/id_ed25519") and filename_reason("certs/server.pem")
    assert filename_reason(".env.example") is None and filename_reason("id_ed25519.pub") is None
    assert filename_reason("src/environment.py") is None and filename_reason(".envrc") is None


def test_secret_line_patterns_and_entropy():
    assert "AWS" in scan_line("aws_key = 'AKIAIOSFODNN7EXAMPLE'")
    assert "GitHub" in scan_line("token: ghp_" + "a1B2c3D4e5" * 4)
    assert "private key" in scan_line("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert "high-entropy" in scan_line('API_TOKEN = "q8Zr2LmX9vTb4NcW7pKd1sHf6yJg3"')
    assert scan_line('password = "changeme"') is None          # too short / not random
    assert scan_line('version = "1.2.3-alpha.4567890123"') is None
    assert scan_line("x = compute_the_token_for_session(user_id)") is None


def test_scan_diff_reports_file_and_line():
    diff = ("diff --git a/src/settings.py b/src/settings.py\n--- a/src/settings.py\n"
            "+++ b/src/settings.py\n@@ -1,2 +1,3 @@\n import os\n"
            "+SLACK = 'xoxb-1234567890-abcdefghij'\n x = 1\n"
            "diff --git a/.env b/.env\nnew file mode 100644\n--- /dev/null\n+++ b/.env\n"
            "@@ -0,0 +1 @@\n+A=1\n")
    hits = scan_diff(parse_diff(diff))
    assert [(h.path, h.line) for h in hits] == [("src/settings.py", 2), (".env", None)]
    assert "Slack" in hits[0].reason


def test_parse_diff_hunks_lines_and_quoted_paths():
    diff = ('diff --git "a/t\\303\\251st file.py" "b/t\\303\\251st file.py"\n'
            'index 1..2 100644\n--- "a/t\\303\\251st file.py"\n+++ "b/t\\303\\251st file.py"\n'
            "@@ -10,3 +10,4 @@ def f():\n a\n-b\n+B\n+C\n c\n"
            "@@ -40 +41 @@\n-x\n+y\n"
            "diff --git a/old.py b/new.py\nsimilarity index 90%\nrename from old.py\n"
            "rename to new.py\n")
    files = parse_diff(diff)
    assert [f.path for f in files] == ["tést file.py", "new.py"]
    first = files[0]
    assert [(h.new_start, h.new_count) for h in first.hunks] == [(10, 4), (41, 1)]
    assert first.hunks[0].changed_new_lines() == [11, 12]
    assert first.hunks[0].new_lines()[0] == (10, "a", False)
    assert first.stats() == (3, 2)
    assert files[1].status == "renamed" and files[1].old_path == "old.py"
    assert unquote_path('"tab\\there"') == "tab\there"
