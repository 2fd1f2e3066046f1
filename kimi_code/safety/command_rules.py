"""Matching `Bash(pattern)` rules against the simple commands bash_parse found.

- allow: a pattern matches a command as written (quotes removed, or verbatim), NAME=VALUE
  prefixes included, so `Bash(pytest *)` never approves `PATH=. pytest`, `./pytest` or
  `sudo pytest`. Transparent wrappers (`timeout 5 pytest`, `bash -c 'pytest'`) are judged by
  what they run.
- deny/ask: a pattern matches after normalisation: the program's basename, quotes and
  backslashes removed, wrappers unwrapped, assignments dropped, git's global options skipped,
  and (as a second reading) option clusters expanded and reordered (`rm -r -f x`,
  `rm --force -R x`, `rm x -fr` all match `rm -rf *`).
- the always-ask git list (destructive git) sees through git's global options too.
"""

from __future__ import annotations

import fnmatch
import shlex
from functools import lru_cache

from kimi_code.safety.bash_parse import CommandUse
from kimi_code.safety.command_shape import Shape, shape
from kimi_code.safety.command_wrappers import command_basename

_GLOB = frozenset("*?[")
# Programs that a file name starting with `-` (from an unquoted `*`) can make run a command:
# `tar cf x.tar *` with a file named `--checkpoint-action=exec=sh x.sh`, `find *`, `rsync -e`...
_GLOB_INJECTABLE = frozenset({
    "tar", "bsdtar", "find", "rsync", "zip", "7z", "xargs", "awk", "gawk", "mawk", "sed", "perl",
    "python", "python3", "ruby", "node", "make", "git", "ssh", "scp", "sort", "chown", "chmod",
    "curl", "wget", "env", "bash", "sh", "zsh", "less", "vim", "nvim", "tcpdump", "cpio",
})


def legacy(pattern: str) -> str:
    """A legacy `prefix:*` pattern is `prefix*`."""
    return pattern[:-2] + "*" if pattern.endswith(":*") else pattern


def _shown(value: str | None, text: str) -> str:
    if value is None:
        return text
    return shlex.quote(value) if (not value or any(c.isspace() for c in value)) else value


def _words(use: CommandUse) -> list[str]:
    return [_shown(v, t) for v, t in zip(use.argv, use.texts, strict=False)]


def allow_matches(pattern: str, use: CommandUse) -> bool:
    """An allow rule's pattern against one command, as written."""
    pattern = legacy(pattern)
    if _glob_can_inject_options(use):
        return False
    written = " ".join([*use.assignments, *_words(use)])
    raw = " ".join([*use.assignments, use.raw]) if use.assignments and use.argv else use.raw
    return fnmatch.fnmatchcase(written, pattern) or fnmatch.fnmatchcase(raw.strip(), pattern)


def _glob_can_inject_options(use: CommandUse) -> bool:
    """An unquoted glob that could expand to a file named like an option, given to a program
    whose options can run commands (no `--` before it)."""
    if not use.argv or use.argv[0] is None \
            or command_basename(use.argv[0]) not in _GLOB_INJECTABLE:
        return False
    for value, text in zip(use.argv[1:], use.texts[1:], strict=False):
        if value == "--":
            return False
        if value is None and text[:1] in _GLOB:
            return True
    return False


def deny_matches(pattern: str, use: CommandUse) -> bool:
    """A deny (or ask) rule's pattern against one command, after normalisation."""
    if not use.argv:
        return any(fnmatch.fnmatchcase(a, legacy(pattern)) for a in use.assignments)
    pattern = legacy(pattern)
    words = _words(use)
    forms = {" ".join(words), use.raw.strip()}
    if words:
        forms.add(" ".join([command_basename(words[0]), *words[1:]]))
    patterns = {pattern, _basename_first(pattern)}
    if any(fnmatch.fnmatchcase(f, p) for f in forms for p in patterns):
        return True
    target = use_shape(use)
    # git's global options skipped: `git -C dir push --force` reads as `git push --force`
    if len(target.names) > 1 and fnmatch.fnmatchcase(
            " ".join([*target.names, *words[target.rest_start:]]), pattern):
        return True
    return _shape_matches(pattern, target)


def deny_could_match(pattern: str, use: CommandUse) -> bool:
    """A command with words known only at run time, whose program a deny pattern names: the
    rule might apply once the words are known."""
    if not use.argv or all(v is not None for v in use.argv[1:]):
        return False
    tokens = _tokens(legacy(pattern))
    if not tokens or use.argv[0] is None:
        return False
    return fnmatch.fnmatchcase(command_basename(use.argv[0]), command_basename(tokens[0]))


@lru_cache(maxsize=1024)
def use_shape(use: CommandUse) -> Shape:
    words = [v if v is not None else t for v, t in zip(use.argv, use.texts, strict=False)]
    return shape(words, dynamic=any(v is None for v in use.argv))


def _basename_first(pattern: str) -> str:
    head, sep, rest = pattern.partition(" ")
    return command_basename(head) + sep + rest if "/" in head else pattern


@lru_cache(maxsize=256)
def _tokens(pattern: str) -> tuple[str, ...]:
    try:
        return tuple(shlex.split(pattern))
    except ValueError:
        return tuple(pattern.split())


def _shape_matches(pattern: str, target: Shape) -> bool:
    """The structural reading: every option the pattern names is present (in any order or
    spelling), the operands match, and a trailing `*` allows more."""
    parsed = _pattern_shape(pattern)
    if parsed is None:
        return False
    is_open, globbed, wanted = parsed
    pairs = zip(target.names, wanted.names, strict=False)
    if len(wanted.names) > len(target.names) or not all(
            fnmatch.fnmatchcase(have, want) for have, want in pairs):
        return False
    if len(wanted.names) < len(target.names):
        # `git *` against `git push -f`: only an open pattern with nothing more can match
        return is_open and not wanted.options and not wanted.operands and not globbed
    if not wanted.options <= target.options:
        return False
    if not all(any(fnmatch.fnmatchcase(o, g) for o in target.options) for g in globbed):
        return False
    operands = " ".join(target.operands)
    expected = " ".join(wanted.operands)
    if fnmatch.fnmatchcase(operands, expected):
        return True
    return is_open and (not expected or fnmatch.fnmatchcase(operands, expected + " *")
                        or fnmatch.fnmatchcase(operands, expected + "*"))


@lru_cache(maxsize=256)
def _pattern_shape(pattern: str) -> tuple[bool, tuple[str, ...], Shape] | None:
    """(open, option globs, shape) of a deny pattern, or None when it has no program."""
    tokens = list(_tokens(pattern))
    if not tokens:
        return None
    is_open = tokens[-1].endswith("*")
    if tokens[-1] == "*":
        tokens = tokens[:-1]
    if not tokens:
        return None
    # `--force*` is a glob over option spellings: some option of the command must match it
    globbed = tuple(t for t in tokens[1:] if t.startswith("-") and _GLOB & set(t))
    wanted = shape([tokens[0], *(t for t in tokens[1:] if t not in globbed)])
    return is_open, globbed, wanted


def destructive_git(use: CommandUse) -> str:
    """Why this git command destroys work or rewrites shared history ("" when it does not)."""
    if not use.argv or use.argv[0] is None or command_basename(use.argv[0]) != "git":
        return ""
    target = use_shape(use)
    if len(target.names) < 2:
        return "git with a subcommand known only at run time" if target.dynamic else ""
    sub, opts, operands = target.names[1], target.options, target.operands
    if sub.startswith("$") or "$" in sub:
        return "git with a subcommand known only at run time"
    reason = _destructive(sub, opts, operands)
    if not reason and target.dynamic and sub in _MAYBE_DESTRUCTIVE:
        reason = f"git {sub} with arguments known only at run time"
    return reason


_MAYBE_DESTRUCTIVE = frozenset({"push", "reset", "branch", "clean", "checkout", "restore",
                                "stash", "switch"})


def _with_prefixes(opts: frozenset[str], known: set[str]) -> frozenset[str]:
    """`--har` is git's abbreviation of `--hard`: an option that prefixes a known long option
    counts as it."""
    spelled = {name for o in opts if o.startswith("--") and len(o) >= 3
               for name in known if name.startswith(o.split("=", 1)[0])}
    return opts | spelled


_DANGEROUS_LONG = {"--force", "--force-with-lease", "--force-if-includes", "--mirror",
                   "--delete", "--prune", "--hard", "--merge", "--discard-changes",
                   "--force-create", "--move", "--copy"}


def _destructive(sub: str, opts: frozenset[str], operands: tuple[str, ...]) -> str:
    opts = _with_prefixes(opts, _DANGEROUS_LONG)
    if sub == "push" and (opts & {"--force", "--force-with-lease", "--force-if-includes",
                                  "--mirror", "--delete", "--prune"}
                          or any(o.startswith(("+", ":")) for o in operands[1:])):
        return "git push that overwrites or deletes remote history"
    if sub == "reset" and "--hard" in opts:
        return "git reset --hard discards changes"
    if sub == "branch" and opts & {"--delete", "--force"}:
        return "git branch that deletes or overwrites a branch"
    if sub in ("clean", "restore"):
        return f"git {sub} discards files"
    if sub == "checkout" and ("--force" in opts or "." in operands or "--" in opts
                              or "--merge" in opts):
        return "git checkout that discards changes"
    if sub == "switch" and opts & {"--discard-changes", "--force-create"}:
        return "git switch that discards changes"
    if sub == "stash" and operands[:1] in (("drop",), ("clear",)):
        return "git stash that drops stashes"
    return ""
