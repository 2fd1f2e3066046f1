"""Scrub secrets from text that leaves the machine (exported transcripts, shared logs).

Two layers: exact configured secret values (API keys from the config and the environment), then
patterns for things that look like credentials: vendor key formats, `Bearer` tokens, private key
blocks, `*_TOKEN=` / `password = "..."` style assignments, and long high-entropy strings. Keys
and configured secrets split by spaces, line breaks, Markdown or zero-width characters are
glued back before matching (safety/split_tokens.py).
False positives are kept low on ordinary code: identifiers, paths, UUIDs, git SHAs (40 hex) and
labelled hashes (sha256:..., md5 sums) are left alone.
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from kimi_code.llm.scrub import REDACTED, VENDOR_KEYS, registered_secrets, scrub
from kimi_code.safety.split_tokens import redact_split

MIN_SECRET_LEN = 6  # shorter configured "secrets" would blank out ordinary words

_PRIVATE_KEY = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY((?: BLOCK)?)-----.*?(?:-----END \1PRIVATE KEY\2-----|\Z)",
    re.DOTALL)
_VENDOR_KEYS = VENDOR_KEYS  # one definition, in llm/scrub.py (provider errors use it too)
_BEARER = re.compile(r"(?i)\b(bearer|authorization:\s*(?:token|basic))(\s+)([A-Za-z0-9._~+/=-]{12,})")
_BASIC_AUTH_URL = re.compile(r"(?<=://)([^/\s:@]+):([^/\s@]{3,})@")
# key = value where the key names a secret: GITHUB_TOKEN=..., api_key: "...", "password": "..."
_ASSIGNMENT = re.compile(
    r"""(?ix)
    (\b[\w.-]*?(?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?key|token|password|passwd|pwd)\b
     ["']?\s*[:=]\s*)
    (?:(["'])([^"'\s]{6,})\2 | ([^\s"'`,;(){}\[\]<>$]{8,}))""")
_PLACEHOLDERS = re.compile(r"(?i)^(?:x+|\*+|\.+|<.*>|\{.*\}|changeme|placeholder|your[-_].*|"
                           r"none|null|true|false|redacted|\[redacted\]|example.*|dummy.*|test.*)$")
_BASE64ISH = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/_=-])")
_WORDISH = re.compile(r"[A-Z]?[a-z]{2,}")
_CONSONANT_RUN = re.compile(r"[^aeiouy]{5,}")
_HEX = re.compile(r"(?<![A-Za-z0-9_-])(?:[0-9a-f]{32,}|[0-9A-F]{32,})(?![A-Za-z0-9_-])")
_HASH_CONTEXT = re.compile(r"(?i)(sha|md5|hash|digest|checksum|commit|integrity|blob|tree|oid|"
                           r"rev|revision|object|etag|fingerprint)[\w-]*[\s:=\"'@/(]*$")


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(text)
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _pronounceable(word: str) -> bool:
    """A run of letters that reads like a word part: random runs lack vowels or pile up
    consonants ("bzerfvsnk"), identifier words do not ("Singleton", "Strengths")."""
    lower = word.lower()
    vowels = sum(c in "aeiouy" for c in lower)
    return len(lower) >= 3 and vowels >= 0.25 * len(lower) and not _CONSONANT_RUN.search(lower)


def _looks_random_base64(token: str) -> bool:
    body = token.rstrip("=")
    if "/" in body and all(part.isalpha() or not part for part in body.split("/")):
        return False  # a path of words
    wordy = sum(len(w) for w in _WORDISH.findall(body) if _pronounceable(w))
    if wordy >= 0.55 * len(body):
        return False  # CamelCase / snake_case identifiers: mostly made of word-like runs
    digits = sum(c.isdigit() for c in body)
    upper = sum(c.isupper() for c in body)
    lower = sum(c.islower() for c in body)
    # Random base64 of 32+ chars nearly always mixes all three classes, with several digits;
    # identifiers and prose rarely do. Entropy rules out repeats like "AAAA1111aaaa...".
    return digits >= 1 and upper >= 2 and lower >= 2 and entropy(body) >= 4.0


def _hex_is_secret(match: re.Match[str]) -> bool:
    token = match.group(0)
    if len(token) == 40:  # git / SHA-1 object names
        return False
    line_start = match.string.rfind("\n", 0, match.start()) + 1
    before = match.string[max(line_start, match.start() - 32):match.start()]
    if _HASH_CONTEXT.search(before):
        return False
    after = match.string[match.end():match.end() + 3]
    if after.startswith("  ") or after.startswith(" *"):  # `sha256sum` / `md5sum` output
        return False
    return entropy(token) >= 3.0


def _redact_assignment(match: re.Match[str]) -> str:
    value = match.group(3) if match.group(3) is not None else match.group(4)
    if _PLACEHOLDERS.match(value) or "[REDACTED]" in value:
        return match.group(0)
    if match.group(4) is not None and not any(c.isdigit() for c in value):
        return match.group(0)  # unquoted words are usually code (`token=tokenizer.next`)
    quote = match.group(2) or ""
    return f"{match.group(1)}{quote}{REDACTED}{quote}"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace configured secret values and credential-looking strings with [REDACTED]."""
    values = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)
    for secret in values:
        text = text.replace(secret, REDACTED)
    text = redact_split(text, values, REDACTED)
    text = _PRIVATE_KEY.sub(REDACTED, text)
    text = _VENDOR_KEYS.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}"
                       if _looks_secretish(m.group(3)) else m.group(0), text)
    text = _BASIC_AUTH_URL.sub(lambda m: f"{m.group(1)}:{REDACTED}@", text)
    text = _ASSIGNMENT.sub(_redact_assignment, text)
    text = _HEX.sub(lambda m: REDACTED if _hex_is_secret(m) else m.group(0), text)
    text = _BASE64ISH.sub(lambda m: REDACTED if _looks_random_base64(m.group(0)) else m.group(0),
                          text)
    return text


def _looks_secretish(token: str) -> bool:
    """A Bearer/token value: anything with digits or mixed case (not an English word)."""
    return any(c.isdigit() for c in token) or (token.lower() != token and token.upper() != token)


def redact_data(value: Any, secrets: Iterable[str] = ()) -> Any:
    """`redact` every string inside a JSON-like structure (keys too), keeping it valid JSON."""
    secret_list = list(secrets)
    if isinstance(value, str):
        return redact(value, secret_list)
    if isinstance(value, Mapping):
        return {redact(str(k), secret_list): redact_data(v, secret_list) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v, secret_list) for v in value]
    return value


_SECRET_ENV = re.compile(r"(?i)(api_?key|token|secret|password|passwd|credential)")


def known_secrets(env: Mapping[str, str] | None = None) -> list[str]:
    """Secret values this machine knows: configured API keys and secret-named env variables.
    A broken config file only loses the config's share (export must still work)."""
    env = dict(os.environ) if env is None else env
    found = {value for name, value in env.items()
             if _SECRET_ENV.search(name) and len(value) >= MIN_SECRET_LEN}
    try:
        from kimi_code.config import load_config

        config = load_config(env=dict(env))
        found.update(m.api_key for m in config.models.values() if m.api_key)
        found.update(_url_password(m.base_url) for m in config.models.values() if m.base_url)
    except Exception:  # noqa: BLE001 - a bad config must not block redaction
        pass
    found.update(registered_secrets())  # what this process's providers were built with
    return sorted(s for s in found if len(s) >= MIN_SECRET_LEN)


def _url_password(url: str) -> str:
    """The password in a URL's user-info ("" when none)."""
    try:
        return urllib.parse.urlsplit(url).password or ""
    except ValueError:
        return ""


def redact_error(text: str, secrets: Iterable[str] | None = None) -> str:
    """An error message for stderr, a result object or a log: provider-error scrubbing (keys,
    Authorization echoes, URL passwords) plus `redact` with this machine's known secrets."""
    if not text:
        return text
    values = known_secrets() if secrets is None else list(secrets)
    return redact(scrub(text, values), values)
