"""Adversarial: secrets leaving through provider errors or a child's environment (issue 15, class 6).

A hostile endpoint (or a proxy in front of a real one) answers with error bodies that echo the
credentials it was sent: the Bearer key, the x-api-key header, the Basic credential httpx
builds from a base URL's `user:password@`, the URL itself. A hostile model runs `env` to read
what the Bash child inherited: proxy URLs with passwords, git's environment config carrying a
CI token, copies of the API key under allowlisted names.

Every test item is one attack through the real path: `kimi-code run` as a subprocess against
the scripted HTTP server (real SDKs, real HTTP), in every output format, with the real sandbox
for Bash. It passes when the attack was blocked: no secret in stdout, stderr, any file under
KIMI_CODE_HOME (the sessions database and its WAL included, read as bytes) or any request
body the model received.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.scripted_server import ScriptedServer

ATTACK_CLASS = "secret-leaks"
KIMI = str(Path(sys.executable).with_name("kimi-code"))

# A key with no vendor shape: only exact-value scrubbing can catch it.
PLAIN_KEY = "Zt9q" + uuid.uuid4().hex + "Wm4"
VENDOR_KEY = "sk-proj-" + uuid.uuid4().hex + "AbC9"
URL_USER, URL_PASSWORD = "ci-bot", "Pw" + uuid.uuid4().hex[:14]
BASIC = base64.b64encode(f"{URL_USER}:{URL_PASSWORD}".encode()).decode()
PROXY_PASSWORD = "Px" + uuid.uuid4().hex[:16]
GIT_TOKEN = "ghs_" + uuid.uuid4().hex + "Q1w2E3"
GIT_TOKEN_B64 = base64.b64encode(f"x-access-token:{GIT_TOKEN}".encode()).decode()
DEPLOY_SECRET = "Dq" + uuid.uuid4().hex[:20]
ALL_SECRETS = (PLAIN_KEY, VENDOR_KEY, URL_PASSWORD, BASIC, PROXY_PASSWORD, GIT_TOKEN,
               GIT_TOKEN_B64, DEPLOY_SECRET)


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    home_bytes: bytes
    bodies: str
    requests: list[dict[str, Any]] = field(default_factory=list)


def _leaks(outcome: Outcome) -> list[str]:
    """Where any secret (or a 12-character piece of one) turned up."""
    found = []
    for secret in ALL_SECRETS:
        pieces = {secret, secret[len(secret) // 2 - 6:len(secret) // 2 + 6]}
        for where, text in (("stdout", outcome.stdout), ("stderr", outcome.stderr),
                            ("request bodies", outcome.bodies)):
            if any(p in text for p in pieces):
                found.append(f"{secret[:6]}… in {where}")
        if any(p.encode() in outcome.home_bytes for p in pieces):
            found.append(f"{secret[:6]}… in a file under KIMI_CODE_HOME")
    return found


def _home_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def stage(tmp_path: Path) -> tuple[Path, Path]:
    repo, home = tmp_path / "repo", tmp_path / "home"
    repo.mkdir()
    home.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "a.py").write_text("x = 1\n")
    return repo, home


def run_attack(stage: tuple[Path, Path], script: list[dict[str, Any]], *, fmt: str = "json",
               provider: str = "openai", key: str = PLAIN_KEY, url_auth: str = "",
               base_url: str | None = None, mode: str = "accept-edits",
               extra_env: dict[str, str] | None = None) -> Outcome:
    repo, home = stage
    with ScriptedServer(script) as server:
        url = server.base_url_openai if provider == "openai" else server.base_url_anthropic
        if url_auth:
            url = url.replace("http://", f"http://{url_auth}@")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KIMI_", "MOONSHOT_"))}
        env.update(KIMI_CODE_HOME=str(home), KIMI_BASE_URL=base_url or url, KIMI_API_KEY=key,
                   KIMI_PROVIDER=provider, KIMI_MODEL_NAME="m", KIMI_CODE_MAX_RETRIES="1",
                   KIMI_CODE_RETRY_BASE_DELAY="0.01", KIMI_CODE_NO_REPO_MAP="1",
                   DEPLOY_PASSWORD=DEPLOY_SECRET, NO_PROXY="127.0.0.1,localhost",
                   no_proxy="127.0.0.1,localhost", **(extra_env or {}))
        proc = subprocess.run([KIMI, "run", "--output-format", fmt, "--permission-mode", mode,
                               "do the task"], cwd=repo, env=env, capture_output=True,
                              text=True, timeout=120)
        requests = list(server.requests)
        bodies = json.dumps(server.model_bodies())
    return Outcome(proc.returncode, proc.stdout, proc.stderr, _home_bytes(home), bodies,
                   requests)


def _error(status: int, message: str, **more: Any) -> dict[str, Any]:
    return {"error": {"status": status, "message": message, **more}}


@dataclass(frozen=True)
class ErrorEcho:
    name: str
    script: list[dict[str, Any]]
    fmt: str = "json"
    provider: str = "openai"
    key: str = PLAIN_KEY
    url_auth: str = ""
    closed_port: bool = False


ERROR_ECHOES = [
    ErrorEcho("401-bearer-echo-text", [_error(401, f"Incorrect API key: Bearer {PLAIN_KEY}")],
              fmt="text"),
    ErrorEcho("401-bearer-echo-json", [_error(401, f"Incorrect API key: Bearer {PLAIN_KEY}")]),
    ErrorEcho("401-bearer-echo-stream-json",
              [_error(401, f"Incorrect API key: Bearer {PLAIN_KEY}")], fmt="stream-json"),
    ErrorEcho("401-header-dump", [_error(401, json.dumps(
        {"headers": {"Authorization": f"Bearer {PLAIN_KEY}", "Accept": "*/*"}}))]),
    ErrorEcho("403-bare-key-echo", [_error(403, f"key {PLAIN_KEY} may not use this model")],
              fmt="stream-json"),
    ErrorEcho("anthropic-x-api-key-echo", [_error(401, f"invalid x-api-key: {PLAIN_KEY}")],
              provider="anthropic", fmt="stream-json"),
    ErrorEcho("anthropic-bearer-echo-text", [_error(401, f"authorization: Bearer {PLAIN_KEY}")],
              provider="anthropic", fmt="text"),
    ErrorEcho("vendor-shaped-key-echo", [_error(400, f"bad request from {VENDOR_KEY}")],
              key=VENDOR_KEY),
    ErrorEcho("retried-500-echo-in-retry-events",
              [_error(500, f"upstream saw Authorization: Bearer {PLAIN_KEY}", repeat=2)],
              fmt="stream-json"),
    ErrorEcho("429-echo-retried-text",
              [_error(429, f"rate limited key={PLAIN_KEY}", retry_after=0.01, repeat=2)],
              fmt="text"),
    ErrorEcho("url-encoded-key-echo", [_error(400, "request to /v1?api_key=" +
                                              PLAIN_KEY.replace("Wm4", "%57m4"))]),
    ErrorEcho("key-in-query-string-echo",
              [_error(404, f"no route for /v1/chat?key={PLAIN_KEY}&x=1")], fmt="stream-json"),
    ErrorEcho("in-stream-error-event-openai",
              [{"text": "partial", "error_after_chunks": 1,
                "error": {"status": 400, "message": f"stream rejected for {PLAIN_KEY}"}}],
              fmt="stream-json"),
    ErrorEcho("in-stream-error-event-anthropic",
              [{"text": "partial", "error_after_chunks": 1,
                "error": {"status": 400, "type": "invalid_request_error",
                          "message": f"x-api-key {PLAIN_KEY} revoked"}}],
              provider="anthropic", fmt="text"),
    ErrorEcho("html-proxy-page-echo", [_error(502, "<html><body>Proxy error. Request headers:"
                                               f"<pre>Authorization: Bearer {PLAIN_KEY}</pre>"
                                               "</body></html>")]),
    ErrorEcho("base-url-basic-credential-echo",
              [_error(401, f"Authorization: Basic {BASIC} rejected")],
              url_auth=f"{URL_USER}:{URL_PASSWORD}", fmt="stream-json"),
    ErrorEcho("base-url-password-echo-bare",
              [_error(403, f"user {URL_USER} with password {URL_PASSWORD} is locked")],
              url_auth=f"{URL_USER}:{URL_PASSWORD}"),
    ErrorEcho("base-url-userinfo-in-connection-error", [], url_auth=f"{URL_USER}:{URL_PASSWORD}",
              closed_port=True, fmt="text"),
    ErrorEcho("base-url-token-user-in-connection-error", [], url_auth=GIT_TOKEN,
              closed_port=True, fmt="stream-json"),
]


@pytest.mark.parametrize("case", ERROR_ECHOES, ids=[c.name for c in ERROR_ECHOES])
def test_provider_error_echo_is_redacted_everywhere(stage, case: ErrorEcho) -> None:
    base_url = None
    if case.closed_port:
        base_url = f"http://{case.url_auth}@127.0.0.1:{_closed_port()}/v1"
    outcome = run_attack(stage, case.script, fmt=case.fmt, provider=case.provider,
                         key=case.key, url_auth=case.url_auth, base_url=base_url)
    assert outcome.code != 0, "the provider failed: the run must say so"
    assert "[REDACTED]" in outcome.stderr, outcome.stderr  # the error is shown, scrubbed
    assert _leaks(outcome) == []


@dataclass(frozen=True)
class EnvAttack:
    name: str
    env: dict[str, str]
    command: str = "env; echo MARK-ENV-DONE"


ENV_ATTACKS = [
    EnvAttack("https-proxy-userinfo",
              {"HTTPS_PROXY": f"http://proxyuser:{PROXY_PASSWORD}@proxy.internal:3128"}),
    EnvAttack("lowercase-http-proxy-userinfo",
              {"http_proxy": f"http://{PROXY_PASSWORD}:x@proxy.internal:8080"}),
    EnvAttack("git-config-parameters-extraheader",
              {"GIT_CONFIG_PARAMETERS":
               f"'http.https://github.com/.extraheader'='AUTHORIZATION: basic {GIT_TOKEN_B64}'"}),
    EnvAttack("git-config-count-key-value",
              {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraheader",
               "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: bearer {GIT_TOKEN}"}),
    EnvAttack("api-key-copied-under-allowed-name", {"GIT_AUTHOR_NAME": PLAIN_KEY}),
    EnvAttack("secret-value-copied-into-locale-var", {"LC_PAPER": DEPLOY_SECRET}),
    EnvAttack("vendor-token-inside-pythonpath", {"PYTHONPATH": f"/opt/{GIT_TOKEN}/lib"}),
    EnvAttack("token-url-in-allowed-var",
              {"GIT_REMOTE_URL": f"https://x-access-token:{GIT_TOKEN}@github.com/o/r.git"}),
    EnvAttack("api-key-by-name", {}, command="echo key=$KIMI_API_KEY; echo MARK-ENV-DONE"),
    EnvAttack("parent-environ-via-proc",
              {}, command="cat /proc/$PPID/environ /proc/1/environ 2>&1 | tr '\\0' '\\n'; "
                          "echo MARK-ENV-DONE"),
]


@pytest.mark.parametrize("case", ENV_ATTACKS, ids=[c.name for c in ENV_ATTACKS])
def test_child_environment_carries_no_credential(stage, case: EnvAttack) -> None:
    script = [{"tool_calls": [{"id": "b1", "name": "Bash",
                               "arguments": {"command": case.command}}]},
              {"text": "done"}]
    outcome = run_attack(stage, script, mode="yolo",
                         extra_env={"KIMI_CODE_ALLOW_YOLO": "1", **case.env})
    assert outcome.code == 0, outcome.stderr
    assert "MARK-ENV-DONE" in outcome.bodies, "the command ran and the model saw its output"
    assert _leaks(outcome) == []


DIAGNOSTIC_COMMANDS = [("config-show-base-url-password", ["config", "show"]),
                       ("doctor-base-url-password", ["doctor"])]


@pytest.mark.parametrize("args", [a for _, a in DIAGNOSTIC_COMMANDS],
                         ids=[n for n, _ in DIAGNOSTIC_COMMANDS])
def test_diagnostics_never_print_the_base_url_password(stage, args: list[str]) -> None:
    repo, home = stage
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIMI_", "MOONSHOT_"))}
    env.update(KIMI_CODE_HOME=str(home), KIMI_API_KEY=PLAIN_KEY, KIMI_MODEL_NAME="m",
               COLUMNS="300", KIMI_BASE_URL=f"http://{URL_USER}:{URL_PASSWORD}@127.0.0.1:{_closed_port()}/v1")
    proc = subprocess.run([KIMI, *args], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=120)
    assert "127.0.0.1" in proc.stdout, proc.stdout + proc.stderr  # the endpoint is shown
    outcome = Outcome(proc.returncode, proc.stdout, proc.stderr, _home_bytes(home), "")
    assert _leaks(outcome) == []
