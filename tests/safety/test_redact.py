"""kimi_code.safety.redact: credentials go, ordinary code (SHAs, hashes, identifiers, paths) stays."""

from __future__ import annotations

import base64
import json
import random

import pytest

from kimi_code.safety.redact import REDACTED, known_secrets, redact, redact_data

SECRET_CASES = [
    ("OpenAI", "key sk-proj-Abc123def456ghi789jkl012mno345 end", "key [REDACTED] end"),
    ("Anthropic", "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345", "[REDACTED]"),
    ("GitHub", "export GH=ghp_abcdefghijklmnopqrstuvwxyzABCDEF1234", "export GH=[REDACTED]"),
    ("GitHub PAT", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL",
     "[REDACTED]"),
    ("AWS", "aws_access_key_id AKIAIOSFODNN7EXAMPLE", "aws_access_key_id [REDACTED]"),
    ("Slack", "xoxb-123456789012-1234567890123-AbCdEfGhIjKl", "[REDACTED]"),
    ("Google", "AIzaSyA-1234567890abcdefghijklmnopqrstu", "[REDACTED]"),
    ("Bearer", "curl -H 'Authorization: Bearer abcDEF1234567890xyz' x",
     "curl -H 'Authorization: Bearer [REDACTED]' x"),
    ("env assignment", "GITHUB_TOKEN=gho16charsAndDigits99", "GITHUB_TOKEN=[REDACTED]"),
    ("quoted password", 'db.connect(password="correct horse")', 'db.connect(password="correct horse")'),
    ("quoted password 2", "password = 'hunter2hunter2'", "password = '[REDACTED]'"),
    ("json key", '{"api_key": "abcd1234efgh"}', '{"api_key": "[REDACTED]"}'),
    ("url credentials", "git clone https://bob:pa55word@example.com/r.git",
     "git clone https://bob:[REDACTED]@example.com/r.git"),
]


@pytest.mark.parametrize("name,text,expected", SECRET_CASES, ids=[c[0] for c in SECRET_CASES])
def test_credentials_are_redacted(name: str, text: str, expected: str) -> None:
    assert redact(text) == expected


def test_private_key_block_is_removed_whole() -> None:
    text = ("before\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAA\n"
            "-----END OPENSSH PRIVATE KEY-----\nafter")
    assert redact(text) == f"before\n{REDACTED}\nafter"
    truncated = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow"  # cut off mid-block: still removed
    assert redact(truncated) == REDACTED


def test_random_base64_and_hex_are_redacted() -> None:
    rng = random.Random(20240601)  # seeded: the entropy heuristic is probabilistic
    missed = 0
    for _ in range(1000):
        b64 = base64.b64encode(rng.randbytes(30)).decode()
        missed += redact(f"x = {b64};") != f"x = {REDACTED};"
        hexed = rng.randbytes(24).hex()
        assert redact(f"key {hexed}") == f"key {REDACTED}"
    assert missed <= 20  # measured ~0.3%; the rest are strings that happen to look like words
    assert redact("x=Q2hhbmdlVGhpc1Rva2VuMTIzNDU2Nzg5MGFi") == f"x={REDACTED}"


def test_configured_secrets_are_redacted_exactly() -> None:
    assert redact("the value plainword99 leaked", ["plainword99"]) == f"the value {REDACTED} leaked"
    # too short to be a real secret: would blank out ordinary text
    assert redact("a b c abc", ["abc"]) == "a b c abc"


NOT_SECRETS = [
    "commit 3f786850e387550fdab836ed7e6dc881de23001b\nAuthor: A <a@b.c>",
    "git checkout 3f786850e387550fdab836ed7e6dc881de23001b",
    "HEAD is now at 3f78685 fix the parser",
    "--hash=sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  dist/pkg.tar.gz",
    "d41d8cd98f00b204e9800998ecf8427e  empty.txt",
    "request id 550e8400-e29b-41d4-a716-446655440000",
    "/usr/lib/python3.11/site-packages/kimi_code/session/store.py:120",
    "def test_session_store_rebuilds_messages_after_compaction(tmp_path):",
    "class AbstractSingletonProxyFactoryBean2(HTTPServerRequestHandlerV2ForTLS13Connections):",
    "token = tokenizer.encode(text)\nmax_tokens = 100000000\nsecret_name = get_name()",
    "password = os.environ['DB_PASSWORD']",
    "api_key = 'your-api-key-here'",
    "the bearer of bad news",
    "Tokens: 12345 input / 678 output",
]


@pytest.mark.parametrize("text", NOT_SECRETS)
def test_ordinary_code_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_data_keeps_json_valid() -> None:
    data = {"payload": {"content": "key sk-abcdefghijklmnopqrstuvwxyz0123", "n": 3,
                        "list": ["ok", "ghp_abcdefghijklmnopqrstuvwxyzABCDEF1234"]}, "flag": True}
    out = redact_data(data)
    assert json.loads(json.dumps(out)) == {
        "payload": {"content": f"key {REDACTED}", "n": 3, "list": ["ok", REDACTED]}, "flag": True}


def test_known_secrets_from_env_and_config(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("KIMI_CODE_HOME", str(tmp_path))
    (tmp_path / "config.toml").write_text(
        '[models.mine]\nprovider = "openai"\nbase_url = "http://127.0.0.1:1/v1"\n'
        'model = "m"\napi_key_env = "MINE_KEY"\n')
    env = {"MINE_KEY": "value-of-mine-123", "DEPLOY_PASSWORD": "pw-123456", "HOME": "/root",
           "SHORT_TOKEN": "abc"}
    found = known_secrets(env)
    assert "value-of-mine-123" in found and "pw-123456" in found
    assert "/root" not in found and "abc" not in found
    (tmp_path / "config.toml").write_text("this is [not toml")
    assert "pw-123456" in known_secrets(env)  # a broken config does not block redaction


# ---- split tokens (issue 15, class 7) ------------------------------------------------------

GH = "ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"
CONFIGURED = "Zt9qL2mX8vB4nC7wQ1"

SPLIT_CASES = [
    ("spaces after prefix", f"token ghp_ {GH[4:14]} {GH[14:]} leaked", "token [REDACTED] leaked"),
    ("line breaks", f"{GH[:10]}\n{GH[10:25]}\n{GH[25:]} is here", "[REDACTED] is here"),
    ("markdown emphasis", f"`{GH[:20]}`**`{GH[20:]}`**", "`[REDACTED]`**"),
    ("zero-width inside", f"x {GH[:9]}\u200b{GH[9:]} y", "x [REDACTED] y"),
    ("zero-width in prefix", f"gh\u200bp_{GH[4:]}", "[REDACTED]"),
    ("AWS id in groups", "id AKIA IOSF ODNN 7EXA MPLE end", "id [REDACTED] end"),
    ("configured secret spaced", f"k: {' '.join(CONFIGURED)} !", "k: [REDACTED] !"),
    ("configured secret over lines", f"{CONFIGURED[:6]}\n{CONFIGURED[6:]}", "[REDACTED]"),
]


@pytest.mark.parametrize("name,text,expected", SPLIT_CASES, ids=[c[0] for c in SPLIT_CASES])
def test_split_tokens_are_glued_back(name: str, text: str, expected: str) -> None:
    assert redact(text, [CONFIGURED]) == expected


PROSE = [
    "the ghp_ prefix marks GitHub tokens and they are documented upstream",
    "use sk- keys for OpenAI; sk-proj- ones are scoped",
    "AKIA is the prefix of an access key id, see the docs",
    "emoji 👨\u200d👩\u200d👧 family stays intact",
    "task-list and risk-free and desk-top",
    f"{CONFIGURED[:4]} is not the whole secret",
]


@pytest.mark.parametrize("text", PROSE)
def test_prose_about_tokens_is_left_alone(text: str) -> None:
    assert redact(text, [CONFIGURED]) == text


def test_provider_error_scrub_removes_registered_values_and_shapes() -> None:
    from kimi_code.llm.scrub import register_secret, register_url, scrub, strip_userinfo

    register_secret("plainkey-Q9w8e7r6")
    register_url("https://bob:p%40ss-w0rd-9@h.example/v1")
    text = ("401: Bearer abcDEF123456 / key plainkey-Q9w8e7r6 / x-api-key: zzz-111-yyy / "
            "http://bob:p%40ss-w0rd-9@h.example/v1 / Basic Ym9iOnBAc3MtdzByZC05 / ?key=AIzaQQ")
    out = scrub(text)
    for leaked in ("abcDEF123456", "plainkey-Q9w8e7r6", "zzz-111-yyy", "p%40ss-w0rd-9",
                   "Ym9iOnBAc3MtdzByZC05", "AIzaQQ"):
        assert leaked not in out
    assert scrub("HTTP Basic authentication required; Bearer token missing") == \
        "HTTP Basic authentication required; Bearer token missing"
    assert strip_userinfo("ssh://git@github.com/o/r") == "ssh://git@github.com/o/r"
    assert strip_userinfo("https://u:pw1234@h/x") == f"https://u:{REDACTED}@h/x"
