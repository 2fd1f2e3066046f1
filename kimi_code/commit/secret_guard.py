"""The secret guard: files about to be committed that look like secrets.

Three kinds of evidence: the file's name (.env, private keys, credential stores), well-known
token shapes in added lines (cloud keys, API tokens, private key blocks), and high-entropy
strings assigned to secret-sounding names. Only added lines are scanned, so an old secret already
in history is not reported on every commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from kimi_code.git.diffparse import DiffFile, Hunk
from kimi_code.safety.secret_patterns import TOKEN_PATTERNS, looks_random

SECRET_FILENAMES = {
    ".env": "environment file (.env) usually holds credentials",
    "id_rsa": "SSH private key", "id_dsa": "SSH private key", "id_ecdsa": "SSH private key",
    "id_ed25519": "SSH private key", ".netrc": "netrc holds login passwords",
    ".pypirc": "PyPI credentials file", ".npmrc": "npm config may hold an auth token",
    "credentials.json": "cloud credentials file", ".htpasswd": "password file",
    "secrets.yml": "secrets file", "secrets.yaml": "secrets file", "secrets.json": "secrets file",
}
SECRET_SUFFIXES = {".pem": "PEM key/certificate", ".key": "private key file",
                   ".p12": "PKCS#12 key store", ".pfx": "PKCS#12 key store",
                   ".jks": "Java key store", ".keystore": "key store", ".ppk": "PuTTY private key"}
SAFE_ENV_SUFFIXES = (".example", ".sample", ".template", ".dist", ".defaults")

ASSIGNMENT_RE = re.compile(
    r"(?i)(?:api[_-]?key|secret|token|passw(?:or)?d|auth|credential|private[_-]?key)[\w.-]*"
    r"\s*[:=]\s*['\"]?(?P<value>[A-Za-z0-9+/_\-.=]{16,})")
LOCKFILES = {"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock", "Cargo.lock",
             "go.sum", "uv.lock", "Pipfile.lock", "composer.lock", "Gemfile.lock"}


@dataclass(frozen=True)
class SecretHit:
    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.reason}"


def filename_reason(path: str) -> str | None:
    """Why this file name alone looks like a secret, or None."""
    name = PurePosixPath(path).name
    if name.startswith(".env") and not name.endswith(SAFE_ENV_SUFFIXES) and name != ".envrc":
        return SECRET_FILENAMES[".env"]
    if name in SECRET_FILENAMES:
        return SECRET_FILENAMES[name]
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in SECRET_SUFFIXES and not name.endswith(".pub"):
        return SECRET_SUFFIXES[suffix]
    return None


def scan_line(text: str, *, check_entropy: bool = True) -> str | None:
    """Why this line looks like it carries a secret, or None."""
    for label, pattern in TOKEN_PATTERNS:
        if pattern.search(text):
            return f"contains a {label}"
    if check_entropy:
        for match in ASSIGNMENT_RE.finditer(text):
            if looks_random(match.group("value")):
                return "assigns a high-entropy value to a secret-like name"
    return None


# Literal text each pattern cannot match without (substring tests run at memchr speed; the
# regexes themselves cost about a second per pattern on a 50 MB hunk).
_TOKEN_HINTS: dict[str, tuple[str, ...]] = {
    "private key block": ("PRIVATE KEY-----",), "AWS access key id": ("AKIA", "ASIA"),
    "GitHub token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "GitLab token": ("glpat-",), "Slack token": ("xox",), "OpenAI-style API key": ("sk-",),
    "Google API key": ("AIza",), "Stripe secret key": ("k_live_",), "JSON web token": ("eyJ",),
}
_ASSIGNMENT_HINTS = ("api", "secret", "token", "passw", "auth", "credential", "private")


def _may_hold_secret(hunk: Hunk, check_entropy: bool) -> bool:
    """A whole-hunk pre-check: False only when no line of the hunk can match. A staged
    generated file of millions of lines took half a minute to scan line by line."""
    blob = "\n".join(hunk.lines)
    for label, pattern in TOKEN_PATTERNS:
        hints = _TOKEN_HINTS.get(label)
        if (hints is None or any(h in blob for h in hints)) and pattern.search(blob):
            return True
    if not check_entropy:
        return False
    lowered = blob.lower()
    if not any(h in lowered for h in _ASSIGNMENT_HINTS):
        return False
    return any(looks_random(m.group("value")) for m in ASSIGNMENT_RE.finditer(blob))


def scan_diff(files: list[DiffFile]) -> list[SecretHit]:
    """Secret evidence in the files of a (staged) diff: names first, then added lines."""
    hits: list[SecretHit] = []
    for f in files:
        if f.status == "deleted":
            continue
        reason = filename_reason(f.path)
        if reason:
            hits.append(SecretHit(f.path, reason))
            continue
        entropy = PurePosixPath(f.path).name not in LOCKFILES
        for hunk in f.hunks:
            if not _may_hold_secret(hunk, entropy):
                continue
            found = next(((n, r) for n, text, changed in hunk.new_lines() if changed
                          and (r := scan_line(text, check_entropy=entropy))), None)
            if found:
                hits.append(SecretHit(f.path, found[1], found[0]))
                break
    return hits
