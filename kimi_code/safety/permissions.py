"""Permission policy: modes and `Tool(glob)` rules. Policy only: enforcement (the OS sandbox)
lives in sandbox.py. A rule decides when to ask; it is not a security boundary.

Precedence: deny > ask > allow, then the mode's default. Shell commands are parsed with
tree-sitter-bash (bash_parse.py): an allow rule approves a command only when every simple
command in it (lists, pipelines, substitutions, `bash -c` strings, wrapped commands) matches an
allow rule; deny and ask rules match any simple command after normalisation (command_rules.py);
a command that cannot be judged statically is never auto-allowed. See docs/permissions.md.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from kimi_code.safety.bash_parse import CommandAnalysis, CommandUse, analyse, split_commands
from kimi_code.safety.command_rules import (
    allow_matches,
    deny_could_match,
    deny_matches,
    destructive_git,
    use_shape,
)

MODES = ("ask", "accept-edits", "yolo", "read-only")
EDIT_TOOLS = frozenset({"Write", "Edit"})
_RULE = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*(?:\((.*)\))?\s*$", re.S)


def always_asks(command: str) -> bool:
    """True for a shell command containing a destructive git operation (git push --force,
    reset --hard, clean, restore, branch -D, checkout -- path, stash drop/clear), seen through
    git's global options and wrappers. Always asked, whatever the mode or allow rules say (a
    deny rule still wins); without anyone to ask (headless), denied."""
    return any(destructive_git(use) for use in analyse(command).commands)


def unjudgeable(analysis: CommandAnalysis) -> list[str]:
    """Why a parsed command cannot be judged statically (empty when it can)."""
    reasons = list(analysis.opaque)
    for use in analysis.commands:
        if use.argv and use.argv[0] is not None and (why := use_shape(use).opaque):
            reasons.append(why)
    return reasons


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
        if tool == "Bash":  # as an allow rule: it covers every command in the line
            commands = analyse(subject).commands if subject else ()
            return bool(commands) and all(all_allowed([self], use) for use in commands)
        return fnmatch.fnmatchcase(subject, self.pattern)

    def __str__(self) -> str:
        return self.tool if self.pattern is None else f"{self.tool}({self.pattern})"


def split_command(command: str) -> list[str]:
    """The simple commands of a shell command line, as written (parsed, not split by regex)."""
    return split_commands(command)


def all_allowed(rules: list[Rule], use: CommandUse) -> bool:
    """Whether allow `rules` cover one simple command (a transparent wrapper is covered by
    what it runs, which is checked on its own)."""
    if use.transparent:
        return True
    for rule in rules:
        if rule.tool != "Bash":
            continue
        if rule.pattern is None or rule.pattern in ("", "*") or allow_matches(rule.pattern, use):
            return True
    return False


def _bash_rule_hits(rules: list[Rule], analysis: CommandAnalysis) -> bool:
    for rule in rules:
        if rule.tool != "Bash":
            continue
        if rule.pattern is None or rule.pattern in ("", "*"):
            return True
        if any(deny_matches(rule.pattern, use) for use in analysis.commands):
            return True
    return False


def _bash_rule_maybe(rules: list[Rule], analysis: CommandAnalysis) -> bool:
    return any(rule.tool == "Bash" and rule.pattern and deny_could_match(rule.pattern, use)
               for rule in rules for use in analysis.commands)


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
        if tool == "Bash" and subject:
            return self._decide_bash(subject)
        if any(r.matches(tool, subject) for r in self.deny):
            return Decision.DENY
        if self.mode == "read-only" and not read_only:
            return Decision.DENY
        if any(r.matches(tool, subject) for r in self.ask):
            return Decision.ASK
        if read_only or self.mode == "yolo":
            return Decision.ALLOW
        if self.mode == "accept-edits" and tool in EDIT_TOOLS:
            return Decision.ALLOW
        if any(r.matches(tool, subject) for r in self.allow):
            return Decision.ALLOW
        return Decision.ASK

    def _decide_bash(self, command: str) -> Decision:
        analysis = analyse(command)
        if _bash_rule_hits(self.deny, analysis):
            return Decision.DENY
        if self.mode == "read-only":
            # Bash can write (redirections, any program): never read-only. analysis.writes
            # names the redirection targets for front ends that show them.
            return Decision.DENY
        if _bash_rule_hits(self.ask, analysis) or _bash_rule_maybe(self.deny, analysis):
            return Decision.ASK
        if any(destructive_git(use) for use in analysis.commands):
            return Decision.ASK
        if unjudgeable(analysis) or analysis.asks:
            return Decision.ASK  # never auto-allowed, in any mode: rules cannot see it
        if self.mode == "yolo":
            return Decision.ALLOW
        if analysis.network:
            return Decision.ASK  # `> /dev/tcp/host/port` opens a connection, whatever the rule
        if analysis.commands and all(all_allowed(self.allow, use) for use in analysis.commands):
            return Decision.ALLOW
        return Decision.ASK

    def explain(self, tool: str, subject: str) -> str:
        """Why a Bash command is not simply allowed, in a sentence for the model or the user
        ("" when there is nothing more to say than the decision)."""
        if tool != "Bash" or not subject:
            return ""
        analysis = analyse(subject)
        for rule in self.deny:
            if rule.tool == "Bash" and _bash_rule_hits([rule], analysis):
                return f"it matches the deny rule {rule}"
        for rule in self.deny:
            if _bash_rule_maybe([rule], analysis):
                return f"the deny rule {rule} may match once its words are known"
        reasons = unjudgeable(analysis) + list(analysis.asks)
        if reasons:
            return f"the rules cannot judge it statically ({reasons[0]}); write it out plainly"
        for use in analysis.commands:
            if why := destructive_git(use):
                return f"{why}: always asked"
        if self.mode != "yolo":
            for use in analysis.commands:
                if not all_allowed(self.allow, use):
                    return f"no allow rule covers {use.raw.strip()[:200]!r}"
        return ""

    def grant(self, rule: str) -> None:
        """Add an allow rule for the rest of the session."""
        self.allow.append(Rule.parse(rule))


def suggest_rule(tool: str, subject: str) -> str:
    """An editable 'allow always' proposal: `Bash(pytest *)` for `pytest -x tests/`."""
    if tool == "Bash" and subject:
        first = _first_command_words(subject)
        if not first:
            return "Bash"
        head = " ".join(first[:2]) if len(first) > 1 and not first[1].startswith("-") else first[0]
        return f"Bash({head} *)" if len(first) > 1 else f"Bash({head})"
    if subject:
        return f"{tool}({subject})"
    return tool


def _first_command_words(command: str) -> list[str]:
    """The words of the first command that is not a transparent wrapper (`timeout 5 pytest`
    suggests `pytest`), as written."""
    for use in analyse(command).commands:
        if use.transparent or not use.argv:
            continue
        return [*use.assignments, *use.texts]
    parts = command.split()
    return parts[:2]
