"""Learning a repository's commit-message convention from its recent history.

The result is both data (tested directly) and a short style guide plus real examples that the
commit prompt gives the model, so messages come out in the repository's own voice.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import git

CONVENTIONAL_RE = re.compile(r"^(?P<type>[a-z][a-z0-9-]*)(?:\((?P<scope>[^()\s]+)\))?(?P<bang>!)?: (?P<desc>\S.*)$")
TRAILER_RE = re.compile(r"^(?P<key>[A-Z][A-Za-z0-9-]*(?:-[A-Za-z]+)*): \S")
TICKET_RE = re.compile(r"^\[?(?P<ticket>[A-Z][A-Z0-9]+-\d+)\]?[:\s]")


@dataclass
class Convention:
    """What the recent history says about how this repository writes commit messages."""

    sample_size: int = 0
    conventional: bool = False
    types: list[str] = field(default_factory=list)       # most used first
    scopes: list[str] = field(default_factory=list)      # most used first
    capitalized: bool = True                             # first letter of the description
    trailing_period: bool = False
    imperative_hint: bool = True
    body_ratio: float = 0.0                              # share of commits with a body
    trailers: list[str] = field(default_factory=list)    # e.g. Signed-off-by (used by most)
    ticket_prefix: bool = False                          # "ABC-123: ..." subjects
    max_subject: int = 72
    examples: list[str] = field(default_factory=list)

    def guide(self) -> str:
        """The style guide given to the model (plain sentences, most important first)."""
        if self.sample_size == 0:
            return ("This repository has no history yet. Use a concise imperative subject line "
                    "(under 72 characters), a blank line, then a short body only if it helps.")
        lines = []
        if self.conventional:
            kinds = ", ".join(self.types[:8]) or "feat, fix, docs, refactor, test, chore"
            lines.append(f"Use Conventional Commits: `type(scope): description`. Types seen: {kinds}.")
            if self.scopes:
                lines.append(f"Scopes seen (reuse one when it fits): {', '.join(self.scopes[:12])}.")
            else:
                lines.append("This repository does not use scopes; write `type: description`.")
        else:
            lines.append("Do NOT use Conventional Commits prefixes (no `feat:`/`fix:`); write a "
                         "plain subject line like the examples.")
        if self.ticket_prefix:
            lines.append("Subjects start with a ticket id like the examples; reuse one only if "
                         "the diff or branch names it, otherwise omit it.")
        case = "a capital letter" if self.capitalized else "a lower-case letter"
        lines.append(f"The description starts with {case}"
                     + (" and ends with a period." if self.trailing_period else
                        " and has no trailing period."))
        lines.append(f"Keep the subject under {self.max_subject} characters, imperative mood.")
        if self.body_ratio >= 0.5:
            lines.append("Most commits have a body: add a blank line and a short body explaining why.")
        elif self.body_ratio < 0.2:
            lines.append("Most commits are a single line; add a body only for non-obvious changes.")
        if self.trailers:
            lines.append(f"Trailers used here: {', '.join(self.trailers)} (git adds Signed-off-by "
                         "itself; do not invent names or emails).")
        return "\n".join(f"- {line}" for line in lines)


def _subject_parts(subject: str) -> tuple[bool, str]:
    match = CONVENTIONAL_RE.match(subject)
    if match:
        return True, match.group("desc")
    ticket = TICKET_RE.match(subject)
    return False, subject[ticket.end():].strip() if ticket else subject


def _trailer_keys(message: str) -> list[str]:
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    if len(paragraphs) < 2:
        return []
    keys = []
    for line in paragraphs[-1].splitlines():
        match = TRAILER_RE.match(line.strip())
        if not match:
            return []  # git trailers are a block of nothing but trailers
        keys.append(match.group("key"))
    return keys


def learn_from_messages(messages: list[str]) -> Convention:
    """Infer the convention from full commit messages (newest first). Merge commits and
    fixup!/squash! messages are ignored."""
    msgs = [m.strip() for m in messages if m.strip()]
    msgs = [m for m in msgs if not re.match(r"^(Merge |fixup! |squash! |Revert \")", m)]
    conv = Convention(sample_size=len(msgs))
    if not msgs:
        return conv
    subjects = [m.splitlines()[0].strip() for m in msgs]
    matches = [CONVENTIONAL_RE.match(s) for s in subjects]
    conv.conventional = sum(1 for m in matches if m) >= max(1, 0.6 * len(subjects))
    conv.types = [t for t, _ in Counter(m.group("type") for m in matches if m).most_common()]
    conv.scopes = [s for s, _ in Counter(m.group("scope") for m in matches
                                         if m and m.group("scope")).most_common()]
    descs = [_subject_parts(s)[1] for s in subjects]
    letters = [d[0] for d in descs if d and d[0].isalpha()]
    conv.capitalized = sum(1 for c in letters if c.isupper()) >= len(letters) / 2 if letters else True
    conv.trailing_period = sum(1 for d in descs if d.endswith(".")) > len(descs) / 2
    conv.ticket_prefix = sum(1 for s in subjects if TICKET_RE.match(s)) > len(subjects) / 2
    conv.body_ratio = sum(1 for m in msgs if len(m.split("\n\n", 1)) > 1
                          and not _only_trailers(m)) / len(msgs)
    trailer_counts = Counter(k for m in msgs for k in set(_trailer_keys(m)))
    conv.trailers = [k for k, n in trailer_counts.most_common() if n >= len(msgs) / 2]
    longest = sorted(len(s) for s in subjects)[int(0.9 * (len(subjects) - 1))]
    conv.max_subject = max(50, min(100, longest + 5))
    conv.examples = subjects[:10]
    return conv


def _only_trailers(message: str) -> bool:
    parts = [p for p in message.strip().split("\n\n") if p.strip()]
    return len(parts) == 2 and bool(_trailer_keys(message))


def learn_convention(repo: git.Repo, limit: int = 60) -> Convention:
    """Read up to `limit` recent first-parent commits of HEAD and learn from them."""
    try:
        out = repo.git.log(f"-n{limit}", "--first-parent", "--no-merges", "--format=%B%x00")
    except git.GitCommandError:
        return Convention()  # no commits yet
    return learn_from_messages([m for m in out.split("\x00")])
