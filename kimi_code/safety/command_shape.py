"""The normalised shape of a simple command, for deny/ask rules and the always-ask git list:
program basename, git's global options skipped (`git -C d -c k=v reset` is `git reset`), short
option clusters expanded (`-rf` is `-r -f`), long spellings aliased (`--recursive` is `-r`) for
the commands whose options we know, options separated from operands (order then no longer
matters: `rm x -f -r` has the shape of `rm -rf x`).

The same function shapes a rule's pattern, so `Bash(rm -rf *)` and `rm --force -R x` meet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kimi_code.safety.command_wrappers import command_basename

# Git's global options (before the subcommand): those that take the next word as their value.
_GIT_GLOBAL_ARG = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace",
                             "--super-prefix", "--config-env", "--attr-source", "--list-cmds"})
_GIT_GLOBAL_FLAGS = frozenset({
    "-p", "--paginate", "-P", "--no-pager", "--bare", "--no-replace-objects", "--no-lazy-fetch",
    "--literal-pathspecs", "--glob-pathspecs", "--noglob-pathspecs", "--icase-pathspecs",
    "--no-optional-locks", "--html-path", "--man-path", "--info-path", "--no-advice",
})
# `git -c KEY=VALUE`: keys that only change output or identity. Any other key can make git run
# a program (alias.x=!cmd, core.pager, core.sshCommand, core.fsmonitor, filters, include.path...),
# so such a command is opaque.
_GIT_SAFE_CONFIG_PREFIXES = ("user.", "color.", "advice.", "core.quotepath", "core.autocrlf",
                             "core.safecrlf", "init.defaultbranch", "commit.gpgsign",
                             "tag.gpgsign", "log.", "format.pretty", "pull.rebase",
                             "push.default", "merge.ff", "status.", "diff.renames",
                             "column.", "i18n.", "pager.status")


@dataclass(frozen=True)
class _Options:
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    arg_short: str = ""  # short options that take a value
    arg_long: frozenset[str] = field(default_factory=frozenset)


def _a(**pairs: str) -> dict[str, tuple[str, ...]]:
    """Aliases written as short letter=canonical spellings (space-separated for several)."""
    return {("-" + k if len(k) == 1 else "--" + k.replace("_", "-")): tuple(v.split())
            for k, v in pairs.items()}


_RM = _a(r="-r", R="-r", recursive="-r", f="-f", force="-f", i="-i", I="-I",
         interactive="-i", d="-d", dir="-d", v="-v", verbose="-v")
_OPTIONS: dict[str, _Options] = {
    "rm": _Options(_RM),
    "rmdir": _Options(_a(p="-p", parents="-p", v="-v", verbose="-v")),
    "cp": _Options(_a(r="-r", R="-r", recursive="-r", f="-f", force="-f", a="-a", archive="-a",
                      n="-n", no_clobber="-n", l="-l", link="-l", s="-s", symbolic_link="-s",
                      u="-u", update="-u", v="-v", verbose="-v"), "tS",
                   frozenset({"--target-directory", "--suffix"})),
    "mv": _Options(_a(f="-f", force="-f", n="-n", no_clobber="-n", u="-u", update="-u",
                      v="-v", verbose="-v"), "tS", frozenset({"--target-directory", "--suffix"})),
    "ln": _Options(_a(s="-s", symbolic="-s", f="-f", force="-f", n="-n", v="-v"), "tS",
                   frozenset({"--target-directory", "--suffix"})),
    "chmod": _Options(_a(R="-R", recursive="-R", v="-v", c="-c", f="-f", silent="-f")),
    "chown": _Options(_a(R="-R", recursive="-R", h="-h", v="-v", c="-c", f="-f")),
    "chgrp": _Options(_a(R="-R", recursive="-R", h="-h", v="-v", c="-c", f="-f")),
    "mkdir": _Options(_a(p="-p", parents="-p", v="-v"), "m", frozenset({"--mode"})),
    "shred": _Options(_a(u="-u", remove="-u", f="-f", force="-f", z="-z", zero="-z", v="-v"),
                      "ns", frozenset({"--iterations", "--size"})),
    "git push": _Options(_a(f="--force", force="--force", d="--delete", delete="--delete",
                            n="--dry-run", dry_run="--dry-run", u="--set-upstream",
                            set_upstream="--set-upstream", v="-v", q="-q"), "o",
                         frozenset({"--push-option", "--repo", "--receive-pack", "--exec"})),
    "git clean": _Options(_a(f="--force", force="--force", n="--dry-run", dry_run="--dry-run",
                             d="-d", x="-x", X="-X", q="--quiet", quiet="--quiet",
                             i="--interactive", interactive="--interactive"), "e",
                          frozenset({"--exclude"})),
    "git branch": _Options(_a(d="--delete", delete="--delete", D="--delete --force",
                              f="--force", force="--force", m="--move", move="--move",
                              M="--move --force", c="--copy", copy="--copy",
                              C="--copy --force", r="-r", a="-a", v="-v", t="-t", q="-q"),
                           "u", frozenset({"--set-upstream-to", "--contains", "--merged",
                                           "--no-merged", "--points-at", "--format", "--sort"})),
    "git checkout": _Options(_a(f="--force", force="--force", q="-q", m="--merge",
                                merge="--merge", p="--patch", patch="--patch", t="--track",
                                track="--track"), "bB", frozenset({"--orphan"})),
    "git switch": _Options(_a(f="--discard-changes", force="--discard-changes",
                              discard_changes="--discard-changes", m="--merge", t="--track"),
                           "cC", frozenset({"--create", "--force-create", "--orphan"})),
    "git reset": _Options(_a(q="-q", p="--patch", patch="--patch")),
    "git commit": _Options(_a(a="--all", all="--all", n="--no-verify", no_verify="--no-verify",
                              s="--signoff", v="-v", q="-q", e="--edit"), "mFCct",
                           frozenset({"--message", "--file", "--reuse-message", "--author",
                                      "--reedit-message", "--template", "--date", "--fixup"})),
}


@dataclass(frozen=True)
class Shape:
    """A simple command reduced to what rules compare: names, option set, operands."""

    names: tuple[str, ...]  # ("rm",) or ("git", "push")
    options: frozenset[str]
    operands: tuple[str, ...]
    dynamic: bool = False  # some word is known only at run time
    opaque: str = ""  # why this command cannot be judged (git -c alias.x=!cmd)
    rest_start: int = 1  # index in argv of the first word after the names


def shape(argv: list[str], dynamic: bool = False) -> Shape:
    """Shape of an argv (static values, or the source text of dynamic words)."""
    if not argv:
        return Shape((), frozenset(), (), dynamic)
    names = [command_basename(argv[0])]
    rest = argv[1:]
    opaque, rest_start = "", 1
    if names[0] == "git":
        index, opaque = _skip_git_globals(rest)
        if index < len(rest):
            names.append(rest[index])
        rest = rest[index + 1:]
        rest_start = index + 2
    options, operands = _split(rest, _OPTIONS.get(" ".join(names), _OPTIONS.get(names[0])))
    return Shape(tuple(names), frozenset(options), tuple(operands), dynamic, opaque,
                 rest_start)


def _skip_git_globals(args: list[str]) -> tuple[int, str]:
    """Index of git's subcommand in `args`, and why the globals make it opaque (if they do)."""
    i, opaque = 0, ""
    while i < len(args):
        word = args[i]
        option, eq, value = word.partition("=")
        if option in _GIT_GLOBAL_ARG:
            if not eq:
                value = args[i + 1] if i + 1 < len(args) else ""
                i += 1
            if option in ("-c", "--config-env") and not _safe_git_config(value):
                opaque = f"git {option} {value} can make git run a program"
            i += 1
        elif option == "--exec-path":
            opaque = opaque or "git --exec-path changes which programs git runs"
            i += 1
        elif word in _GIT_GLOBAL_FLAGS:
            i += 1
        elif word.startswith("-"):
            opaque = opaque or f"git global option rules do not know: {word}"
            i += 1
        else:
            break
    return i, opaque


def _safe_git_config(assignment: str) -> bool:
    key = assignment.split("=", 1)[0].lower()
    return bool(key) and key.startswith(_GIT_SAFE_CONFIG_PREFIXES)


def _split(words: list[str], known: _Options | None) -> tuple[list[str], list[str]]:
    """Options (expanded, canonical) and operands (in order)."""
    options: list[str] = []
    operands: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            options.append("--")  # kept: `git checkout -- path` discards that path's changes
            operands.extend(words[i:])
            break
        if not word.startswith("-") or word == "-":
            operands.append(word)
            continue
        if known is None:
            options.extend(_long_forms(word))
            continue
        if word.startswith("--"):
            option, eq, _ = word.partition("=")
            options.extend(_long_option(option, known))
            if eq:
                options.append(word)
            elif option in known.arg_long:
                i += 1  # its value is not an operand
            continue
        for pos, letter in enumerate(word[1:], start=1):
            options.extend(known.aliases.get("-" + letter, ("-" + letter,)))
            if letter in known.arg_short:
                if pos + 1 == len(word):
                    i += 1
                break
    return options, operands


def _long_option(option: str, known: _Options) -> tuple[str, ...]:
    """Canonical spellings of a long option; getopt_long and git accept any unambiguous
    prefix (`rm --rec --for`, `git reset --har`), so a prefix counts as every option it
    could abbreviate."""
    if option in known.aliases:
        return known.aliases[option]
    if len(option) < 3:
        return (option,)
    spelled = [canon for name, canons in known.aliases.items()
               if name.startswith("--") and name.startswith(option) for canon in canons]
    return (option, *spelled)


def _long_forms(word: str) -> list[str]:
    option, eq, _ = word.partition("=")
    return [option, word] if eq else [word]
