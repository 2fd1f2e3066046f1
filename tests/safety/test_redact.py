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
