"""Credential scrubbing for provider error messages (the lowest layer that prints secrets).

Providers echo what they were sent: a 401 body that quotes "Bearer sk-...", a proxy's HTML page
with the Authorization header, an httpx error naming the URL with its `user:pass@` part. Every
ProviderError message passes through `scrub` when it is built (llm/base.py), so the secret is
gone before the message reaches stderr, stream-json, the result object, the session database
or a log; no consumer has to remember to do it.

Two layers, both cheap (an error path, not a hot path):
- exact values: the API keys and base-URL passwords providers registered here when they were
  built (`register_secret`), in their plain, URL-encoded and JSON-escaped forms;
- shapes: Authorization / x-api-key style headers, `Bearer`/`Basic` tokens, URL user-info,
  secret-named query parameters and well-known vendor key formats.

kimi_code.safety.redact builds its wider redactor on the shapes defined here (one definition).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.parse
from collections.abc import Iterable

REDACTED = "[REDACTED]"
MIN_SECRET_LEN = 6  # a shorter "secret" would blank out ordinary words
_PLACEHOLDER_KEYS = frozenset({"not-needed", "none", "null", "dummy", "test", "sk-test", "EMPTY"})

# Vendor key formats (shared with safety/redact.py).
VENDOR_KEYS = re.compile(
    r"""(?<![A-Za-z0-9_-])(?:
        sk-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_-]{20,}     # OpenAI, Anthropic, Moonshot
      | (?:rk|pk|sk)_(?:live|test)_[A-Za-z0-9]{16,}          # Stripe
      | gh[pousr]_[A-Za-z0-9]{30,}                           # GitHub tokens
      | github_pat_[A-Za-z0-9_]{40,}
      | glpat-[A-Za-z0-9_-]{20,}                             # GitLab
      | (?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}             # AWS access key ids
      | xox[abposr]-[A-Za-z0-9-]{10,}                        # Slack
      | AIza[0-9A-Za-z_-]{35}                                # Google API keys
      | hf_[A-Za-z0-9]{30,}                                  # Hugging Face
      | npm_[A-Za-z0-9]{36}
      | eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}  # JWT
    )""", re.VERBOSE)
# `scheme://user:password@` and `scheme://token@` (a token as the user name).
URL_USERINFO = re.compile(r"(?i)(?<=://)([^/\s:@\"'<>]*)(?::([^/\s@\"'<>]*))?@")
# Header lines and JSON/dict renderings of credential headers.
_HEADER = re.compile(
    r"""(?ix)
    ((?:proxy-)?authorization|x-api-key|api-key|x-goog-api-key|openai-api-key|x-auth-token|
       cookie|set-cookie)
    (["']?\s*[:=]\s*["']?)
    (?:(bearer|basic|token|digest|negotiate)\s+)?
    ([^\s"',;}\]]+)""")
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=-]{8,})")
_QUERY_SECRET = re.compile(
    r"(?i)([?&](?:api[_-]?key|key|access[_-]?token|token|auth|sig|signature|password|secret|"
    r"client[_-]?secret)=)[^&\s#\"'<>]+")

_lock = threading.Lock()
_registered: set[str] = set()


def _forms(value: str) -> set[str]:
    """A secret as it may appear in an echo: plain, URL-encoded, JSON-escaped."""
    forms = {value, urllib.parse.quote(value, safe=""), json.dumps(value)[1:-1]}
    return {f for f in forms if len(f) >= MIN_SECRET_LEN}


def register_secret(value: str | None) -> None:
    """Remember a value no provider error may ever show (an API key, a base-URL password)."""
    if not value or len(value) < MIN_SECRET_LEN or value in _PLACEHOLDER_KEYS:
        return
    with _lock:
        _registered.update(_forms(value))


def register_url(url: str | None) -> None:
    """Register the password (and a token-as-user-name) of a URL's user-info, and the Basic
    credential httpx builds from it."""
    if not url:
        return
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return
    user, password = parts.username or "", parts.password or ""
    if password:
        register_secret(urllib.parse.unquote(password))
        register_secret(password)
    elif len(user) >= 12:  # https://TOKEN@host
        register_secret(urllib.parse.unquote(user))
    if user or password:
        pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}".encode()
        register_secret(base64.b64encode(pair).decode())


def registered_secrets() -> list[str]:
    """The registered values, longest first (so a longer one is replaced before its part)."""
    with _lock:
        return sorted(_registered, key=len, reverse=True)


def strip_userinfo(url: str) -> str:
    """`url` without its `user:password@` part (a URL shown to a human or a child process)."""
    return URL_USERINFO.sub(_userinfo, url)


def _userinfo(match: re.Match[str]) -> str:
    user, password = match.group(1), match.group(2)
    if password is not None:
        return f"{user}:{REDACTED}@" if password else match.group(0)
    # A bare user name (ssh://git@host) is no secret; a long token in its place is.
    return f"{REDACTED}@" if len(user) >= 12 and any(c.isdigit() for c in user) else match.group(0)


def _tokenish(word: str) -> bool:
    """A credential rather than an English word ("Basic authentication required")."""
    return any(c.isdigit() for c in word) or word.endswith("=") or (
        word.lower() != word and word.upper() != word and not word.istitle())


def _header(match: re.Match[str]) -> str:
    scheme = f"{match.group(3)} " if match.group(3) else ""
    return f"{match.group(1)}{match.group(2)}{scheme}{REDACTED}"


def scrub_shapes(text: str) -> str:
    """Remove credential-shaped substrings (headers, auth schemes, URL user-info, vendor keys)."""
    text = _HEADER.sub(_header, text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}"
                            if _tokenish(m.group(3)) else m.group(0), text)
    text = URL_USERINFO.sub(_userinfo, text)
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    return VENDOR_KEYS.sub(REDACTED, text)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without registered or given secret values and without credential shapes."""
    values = {f for s in secrets if s and len(s) >= MIN_SECRET_LEN for f in _forms(s)}
    for value in sorted(values | set(registered_secrets()), key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return scrub_shapes(text)
