"""Permission policy: modes and `Tool(glob)` rules. Policy only: enforcement (the OS sandbox)
lives in sandbox.py. A deny rule is a convenience, not a security boundary.

Precedence: deny > ask > allow, then the mode's default. Shell commands are split on control
operators so that an allow rule for `git status*` never approves `git status; rm -rf ~`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

MODES = ("ask", "accept-edits", "yolo", "read-only")
EDIT_TOOLS = frozenset({"Write", "Edit"})
_RULE = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*(?:\((.*)\))?\s*$", re.S)


# Git operations that destroy work or rewrite shared history: always asked, whatever the mode
# or allow rules say (a deny rule still wins). Without anyone to ask (headless), they are denied.
_ALWAYS_ASK_GIT = re.compile(
    r"^\s*git\b(?:\s+-[Cc]\s+\S+)*\s+(?:"
    r"push\b.*(?:\s--force\b|\s--force-with-lease\b|\s-f\b|\s\+\S)"
    r"|reset\b.*\s--hard\b"
    r"|branch\b.*\s(?:-D|-d|--delete)\b"
    r"|clean\b"
    r"|checkout\b.*\s(?:--force\b|-f\b|--\s+\.)"
    r"|restore\b"
    r"|stash\s+(?:drop|clear)\b"
    r")"
)


def always_asks(command: str) -> bool:
    """True for a shell command containing a destructive git operation."""
    return any(_ALWAYS_ASK_GIT.search(part) for part in split_command(command))


class Decision(StrEnum):
    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"


class RuleError(ValueError):
    """A rule string that does not parse; the message says what a rule looks like."""


@dataclass(frozen=True)
class Rule:
    tool: str
    pattern: str | None  # None: every use of the tool

    @classmethod
    def parse(cls, text: str) -> Rule:
        match = _RULE.match(text)
        if not match:
            raise RuleError(
                f"Invalid permission rule {text!r}: expected Tool or Tool(pattern), "
                "e.g. Bash(pytest *) or Edit(src/**)"
            )
        pattern = match.group(2)
        return cls(match.group(1), pattern.strip() if pattern is not None else None)

    def matches(self, tool: str, subject: str) -> bool:
        if tool != self.tool:
            return False
        if self.pattern is None or self.pattern in ("", "*"):
            return True
        if tool == "Bash":
            return _command_matches(self.pattern, subject)
        return fnmatch.fnmatchcase(subject, self.pattern)

    def __str__(self) -> str:
        return self.tool if self.pattern is None else f"{self.tool}({self.pattern})"


_SPLIT = re.compile(r"\s*(?:&&|\|\||;|\||\n|&(?!>))\s*")


def split_command(command: str) -> list[str]:
    """Split a shell command line on control operators (quotes respected, roughly)."""
    parts: list[str] = []
    buf: list[str] = []
    quote = ""
    i = 0
    while i < len(command):
        ch = command[i]
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"' and i + 1 < len(command):
                buf.append(command[i + 1])
                i += 1
        elif ch in "'\"":
            quote = ch
            buf.append(ch)
        else:
            match = _SPLIT.match(command, i)
            redirect = ch == "&" and i > 0 and command[i - 1] in "<>"  # 2>&1, >&2
            if match and not redirect and match.end() > i and match.group().strip():
                parts.append("".join(buf))
                buf = []
                i = match.end()
                continue
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    return [p.strip() for p in parts if p.strip()]


def has_substitution(command: str) -> bool:
    """Command substitution or process substitution hides commands from rule matching."""
    return "$(" in command or "`" in command or "<(" in command or ">(" in command


def _command_matches(pattern: str, command: str) -> bool:
    # A legacy "prefix:*" form is accepted as "prefix *".
    if pattern.endswith(":*"):
        pattern = pattern[:-2] + "*"
    return fnmatch.fnmatchcase(command.strip(), pattern)


@dataclass
class PermissionPolicy:
    """Decides what a tool call may do. `session_allow` holds rules the user granted while the
    session runs ("allow always")."""

    mode: str = "ask"
    allow: list[Rule] = field(default_factory=list)
    ask: list[Rule] = field(default_factory=list)
    deny: list[Rule] = field(default_factory=list)

    @classmethod
    def from_strings(cls, mode: str, allow: Iterable[str] = (), ask: Iterable[str] = (),
                     deny: Iterable[str] = ()) -> PermissionPolicy:
        if mode not in MODES:
            raise RuleError(f"Unknown permission mode {mode!r}: use one of {', '.join(MODES)}")
        return cls(mode, [Rule.parse(r) for r in allow], [Rule.parse(r) for r in ask],
                   [Rule.parse(r) for r in deny])

    def decide(self, tool: str, subject: str, *, read_only: bool) -> Decision:
        """The decision for one call of `tool` whose rule subject is `subject`."""
        subjects = split_command(subject) if tool == "Bash" and subject else [subject]
        if any(r.matches(tool, s) for r in self.deny for s in subjects) or any(
            r.matches(tool, subject) for r in self.deny
        ):
            return Decision.DENY
        if self.mode == "read-only" and not read_only:
            return Decision.DENY
        if any(r.matches(tool, s) for r in self.ask for s in subjects):
            return Decision.ASK
        if tool == "Bash" and always_asks(subject):
            return Decision.ASK
        if read_only or self.mode == "yolo":
            return Decision.ALLOW
        if self.mode == "accept-edits" and tool in EDIT_TOOLS:
            return Decision.ALLOW
        if tool == "Bash" and has_substitution(subject):
            return Decision.ASK  # rules cannot see inside $(...)
        if subjects and all(any(r.matches(tool, s) for r in self.allow) for s in subjects):
            return Decision.ALLOW
        return Decision.ASK

    def grant(self, rule: str) -> None:
        """Add an allow rule for the rest of the session."""
        self.allow.append(Rule.parse(rule))


def suggest_rule(tool: str, subject: str) -> str:
    """An editable 'allow always' proposal: `Bash(pytest *)` for `pytest -x tests/`."""
    if tool == "Bash" and subject:
        first = split_command(subject)[0].split()
        head = " ".join(first[:2]) if len(first) > 1 and not first[1].startswith("-") else first[0]
        return f"Bash({head} *)" if len(first) > 1 else f"Bash({head})"
    if subject:
        return f"{tool}({subject})"
    return tool
