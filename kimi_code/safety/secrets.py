"""Secret hygiene for the agent process: the parent keeps API keys and makes itself
non-dumpable; children get an allowlisted environment.

Why an allowlist and not a denylist: a denylist misses names nobody thought of
(`DATABASE_URL` with a password in it, `AWS_SESSION_TOKEN`, vendor-specific names). Children get
only variables a build or test needs (PATH, HOME, locale, toolchain locations), and even those
are dropped when their name looks secret (*_KEY, *_TOKEN, *_SECRET, ...). Users widen the
allowlist with KIMI_CODE_ENV_ALLOW="NAME1,NAME2,PREFIX_*"; secret-looking names stay out even
then (put such values in a file the command reads instead).

Names are not enough (issue 15): an allowlisted variable can carry a credential in its value.
`*_PROXY=http://user:pass@proxy` loses its user-info; git's environment configuration
(GIT_CONFIG_PARAMETERS, GIT_CONFIG_COUNT/KEY_n/VALUE_n: how CI passes `http.extraheader` with a
token) never passes; and any other value holding a token shape or the value of a secret-named
variable is dropped.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fnmatch
import os
import re
import resource
from collections.abc import Mapping, Sequence

from kimi_code.llm.scrub import URL_USERINFO, VENDOR_KEYS

ENV_ALLOW = "KIMI_CODE_ENV_ALLOW"

# Exact names children may see.
ALLOWED_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "COLORTERM", "TZ",
    "TMPDIR", "PWD", "EDITOR", "VISUAL", "PAGER", "GIT_PAGER", "NO_COLOR", "FORCE_COLOR",
    "CLICOLOR", "COLUMNS", "LINES", "HOSTNAME", "CI", "DISPLAY",
    "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "PYTHONPATH", "PYTHONHOME",
    "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONIOENCODING", "PIP_INDEX_URL_FILE",
    "GOPATH", "GOROOT", "GOFLAGS", "GOCACHE", "GOMODCACHE", "CARGO_HOME", "RUSTUP_HOME",
    "RUSTFLAGS", "JAVA_HOME", "MAVEN_HOME", "GRADLE_HOME", "NODE_PATH", "NVM_DIR", "NODE_ENV",
    "NPM_CONFIG_PREFIX", "CC", "CXX", "CFLAGS", "CXXFLAGS", "LDFLAGS", "PKG_CONFIG_PATH",
    "LD_LIBRARY_PATH", "CMAKE_PREFIX_PATH", "MAKEFLAGS", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
    "XDG_CACHE_HOME", "XDG_STATE_HOME", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "KIMI_CODE_HOME", "TRITON_INTERPRET", "CUDA_VISIBLE_DEVICES",
})
# Name patterns children may see (locale and harmless toolchain families).
ALLOWED_PATTERNS = ("LC_*", "GIT_*", "PYTEST_*", "RUST_*", "CARGO_TERM_*", "npm_config_*")
# Names that never pass, whatever the allowlist says.
SECRET_PATTERNS = (
    "*_KEY", "*_KEYS", "*_TOKEN", "*_TOKENS", "*_SECRET", "*_SECRETS", "*_PASSWORD", "*_PASS",
    "*_PASSWD", "*_CREDENTIALS", "*_CREDENTIAL", "*_AUTH", "*_PAT", "*_SESSION",
    "*API_KEY*", "*ACCESS_KEY*", "*SECRET*", "*PASSWORD*", "*TOKEN*", "*PRIVATE*",
    "SSH_AUTH_SOCK", "SSH_AGENT_PID", "GPG_AGENT_INFO", "KRB5CCNAME", "DATABASE_URL",
    "*_DSN", "DBUS_SESSION_BUS_ADDRESS", "*ASKPASS*",
    # git configuration from the environment: extraheaders with tokens, credential helpers.
    "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_*", "GIT_CONFIG_VALUE_*",
    "GIT_CREDENTIAL*", "*_COOKIE*", "*_AUTHORIZATION*",
)
SAFE_DEFAULTS = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name looks like it holds a secret."""
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, pattern.upper()) for pattern in SECRET_PATTERNS)


def _user_allow(environ: Mapping[str, str]) -> tuple[str, ...]:
    raw = environ.get(ENV_ALLOW, "")
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def is_allowed_name(name: str, extra: tuple[str, ...] = ()) -> bool:
    """Whether `name` passes to children: allowlisted (built in or `extra`) and not secret."""
    if is_secret_name(name):
        return False
    if name in ALLOWED_NAMES:
        return True
    return any(fnmatch.fnmatchcase(name, p) for p in (*ALLOWED_PATTERNS, *extra))


def child_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for every child process the agent drives (Bash, hooks, servers).

    `environ` defaults to os.environ. PATH and LANG get safe defaults when absent.
    """
    source = os.environ if environ is None else environ
    extra = _user_allow(source)
    secret_values = _secret_values(source)
    env: dict[str, str] = {}
    for name, value in source.items():
        if is_allowed_name(name, extra):
            cleaned = clean_value(value, secret_values)
            if cleaned is not None:
                env[name] = cleaned
    for name, value in SAFE_DEFAULTS.items():
        env.setdefault(name, value)
    return env


_MIN_SECRET_VALUE = 8  # shorter values of secret-named variables ("1", "yes") are no secret
_AUTH_WORD = re.compile(r"(?i)\b(?:bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}")


def _secret_values(environ: Mapping[str, str]) -> list[str]:
    """Values of the secret-named variables: a copy of one under an allowed name leaks it."""
    return [v for k, v in environ.items() if is_secret_name(k) and len(v) >= _MIN_SECRET_VALUE]


def clean_value(value: str, secret_values: Sequence[str] = ()) -> str | None:
    """An allowed variable's value made safe for a child, or None to drop the variable.

    URL user-info is removed (`http://u:p@proxy:3128` -> `http://proxy:3128`: the proxy then
    asks for credentials instead of receiving ours); a value that holds a token shape, an
    Authorization-style credential or another variable's secret is dropped whole.
    """
    if any(secret in value for secret in secret_values):
        return None
    if VENDOR_KEYS.search(value) or _AUTH_WORD.search(value):
        return None
    if "@" in value and "://" in value:
        value = URL_USERINFO.sub("", value)
    return value


PR_SET_DUMPABLE = 4


def make_non_dumpable() -> bool:
    """Make this process non-dumpable (prctl PR_SET_DUMPABLE 0) and disable core files, so
    other processes of the same user cannot read our memory or /proc/<pid>/environ and a crash
    leaves no core with keys in it. Returns whether prctl succeeded (Linux only)."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        status: int = libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        return status == 0
    except (OSError, AttributeError):
        return False


def is_dumpable() -> bool:
    """The current PR_GET_DUMPABLE value (tests, doctor)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return True
    return bool(ctypes.CDLL(name).prctl(3, 0, 0, 0, 0))  # PR_GET_DUMPABLE
