"""The child environment allowlist and the non-dumpable parent."""

from __future__ import annotations

import subprocess
import sys

from kimi_code.runtime.assemble import child_environment
from kimi_code.safety.secrets import child_env, is_secret_name


def test_allowlist_drops_secrets_and_unknowns() -> None:
    env = child_env({"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", "MOONSHOT_API_KEY": "k",
                     "GITHUB_TOKEN": "t", "AWS_SECRET_ACCESS_KEY": "s", "SSH_AUTH_SOCK": "/s",
                     "DATABASE_URL": "postgres://u:p@h/d", "RANDOM_THING": "x",
                     "GIT_AUTHOR_NAME": "me", "GIT_ASKPASS": "/x"})
    assert env == {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", "GIT_AUTHOR_NAME": "me",
                   "LANG": "C.UTF-8"}


def test_user_allow_cannot_admit_secrets() -> None:
    env = child_env({"KIMI_CODE_ENV_ALLOW": "MY_*,OTHER_API_KEY", "MY_SETTING": "1",
                     "MY_TOKEN": "t", "OTHER_API_KEY": "k"})
    assert env["MY_SETTING"] == "1" and "MY_TOKEN" not in env and "OTHER_API_KEY" not in env


def test_secret_names() -> None:
    for name in ("OPENAI_API_KEY", "gh_token", "NPM_TOKEN", "MY_PASSWORD", "SSH_AUTH_SOCK"):
        assert is_secret_name(name)
    for name in ("PATH", "HOME", "LANG"):
        assert not is_secret_name(name)


def test_runtime_uses_the_allowlist() -> None:
    assert child_environment({"KIMI_API_KEY": "k", "PATH": "/bin"}) == {"PATH": "/bin",
                                                                         "LANG": "C.UTF-8"}


def test_make_non_dumpable_in_a_real_process() -> None:
    code = ("from kimi_code.safety.secrets import make_non_dumpable, is_dumpable\n"
            "assert is_dumpable()\nassert make_non_dumpable()\nprint(is_dumpable())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_credentials_inside_allowed_values_are_stripped() -> None:
    env = child_env({
        "PATH": "/bin", "MOONSHOT_API_KEY": "copied-key-123456",
        "HTTPS_PROXY": "http://user:hunter2hunter2@proxy:3128", "no_proxy": "localhost",
        "http_proxy": "http://proxy:8080",
        "GIT_CONFIG_PARAMETERS": "'http.extraheader'='AUTHORIZATION: basic eDp5'",
        "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraheader",
        "GIT_CONFIG_VALUE_0": "AUTHORIZATION: bearer abc",
        "GIT_AUTHOR_NAME": "copied-key-123456", "LC_NAME": "Bearer Zz9Yy8Xx7Ww6",
        "PYTHONPATH": "/opt/ghp_abcdefghijklmnopqrstuvwxyz0123456789/lib",
        "GIT_COMMITTER_NAME": "Ann"})
    assert env == {"PATH": "/bin", "HTTPS_PROXY": "http://proxy:3128", "no_proxy": "localhost",
                   "http_proxy": "http://proxy:8080", "GIT_COMMITTER_NAME": "Ann",
                   "LANG": "C.UTF-8"}
