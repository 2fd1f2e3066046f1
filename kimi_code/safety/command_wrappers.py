"""Commands that run other commands: `sudo rm`, `timeout 5 rm`, `env X=1 rm`, `xargs rm`,
`find -exec rm`, `bash -c 'rm'`, `eval rm`, `trap 'rm' EXIT`, `busybox rm`, ...

`unwrap(argv)` says what a wrapper runs: the inner argv(s), a shell string to parse in turn, or
that its commands come from somewhere rules cannot see (a pipe, a dynamic word). Options are
parsed from each wrapper's real option table; an option we do not know makes the command opaque
rather than a guess, because a wrong guess about which word is the inner command is a bypass.

Words are `str` (the static value) or None (known only at run time).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

Word = str | None
Argv = tuple[Word, ...]

SHELLS = frozenset({"bash", "sh", "dash", "zsh", "ksh", "mksh", "ash", "yash", "posh", "fish",
                    "csh", "tcsh"})
# Shells whose grammar is far from bash's (zsh's `=cmd` and glob qualifiers, fish, csh): their
# strings are not judged with a bash parser.
_FOREIGN_SHELLS = frozenset({"zsh", "fish", "csh", "tcsh"})
# Where a POSIX sh (dash) splits differently from bash: `((cmd))` is two subshells there,
# `a &>f b` runs `b`, `$'...'` is `$` and a quoted string, `<<<` and `|&` do not exist.
_SH_DIFFERS = re.compile(r"(?<!\$)\(\(|&>|\$'|\$\"|<<<|\|&")
_STDIN_SCRIPTS = ("-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0")


@dataclass(frozen=True)
class Unwrapped:
    """What a wrapper runs. `transparent`: the wrapper adds nothing but running its inner
    command (allow rules look only at the inner one); otherwise both must be allowed."""

    inners: tuple[Argv, ...] = ()
    shell: str | None = None  # a shell string the wrapper runs (parsed in turn)
    reads_stdin: bool = False  # a shell that reads its commands from standard input
    transparent: bool = True
    assignments: tuple[str, ...] = ()  # NAME=VALUE set for the inner command (env, sudo)
    opaque: str = ""  # why rules cannot see what runs
    ask: str = ""  # analysable, but always asked (eval)
    shell_name: str = "bash"  # the shell that reads `reads_stdin` scripts


@dataclass(frozen=True)
class _Spec:
    flags: str = ""  # short options without an argument
    arg_flags: str = ""  # short options taking an argument (attached or the next word)
    optional_arg: str = ""  # short options whose argument can only be attached (xargs -i)
    long_flags: frozenset[str] = field(default_factory=frozenset)
    long_arg: frozenset[str] = field(default_factory=frozenset)
    positionals: int = 0  # operands before the command (timeout's duration, chroot's root)
    transparent: bool = True
    numeric: bool = False  # `nice -10 cmd`
    assignments: bool = False  # NAME=VALUE words before the command (env, sudo)
    default: Argv = ()  # run when no command is given (xargs: echo)
    no_command: str = ""  # short options meaning nothing is run (command -v)


def _f(*names: str) -> frozenset[str]:
    return frozenset(names)


_SPECS: dict[str, _Spec] = {
    "command": _Spec(flags="pvV", no_command="vV"),
    "exec": _Spec(flags="cl", arg_flags="a"),
    "builtin": _Spec(),
    "nohup": _Spec(),
    "time": _Spec(flags="apvq", arg_flags="fo", long_arg=_f("--format", "--output"),
                  long_flags=_f("--append", "--portability", "--verbose", "--quiet")),
    "nice": _Spec(arg_flags="n", long_arg=_f("--adjustment"), numeric=True),
    "timeout": _Spec(flags="fpv", arg_flags="sk", long_arg=_f("--signal", "--kill-after"),
                     long_flags=_f("--foreground", "--preserve-status", "--verbose"),
                     positionals=1),
    "stdbuf": _Spec(arg_flags="ioe", long_arg=_f("--input", "--output", "--error")),
    "setsid": _Spec(flags="cfw", long_flags=_f("--ctty", "--fork", "--wait")),
    "ionice": _Spec(flags="t", arg_flags="cnpPu", no_command="pPu"),
    "taskset": _Spec(flags="ac", positionals=1, no_command="p"),
    "env": _Spec(flags="i0v", arg_flags="uC", assignments=True,
                 long_flags=_f("--ignore-environment", "--null", "--debug"),
                 long_arg=_f("--unset", "--chdir")),
    "sudo": _Spec(flags="AbEeHiKklnPSsVvBN", arg_flags="CDghprtTUuRa", transparent=False,
                  assignments=True,
                  long_flags=_f("--askpass", "--background", "--preserve-env", "--edit",
                                "--set-home", "--login", "--remove-timestamp", "--list",
                                "--reset-timestamp", "--non-interactive", "--stdin",
                                "--preserve-groups", "--shell", "--validate", "--bell"),
                  long_arg=_f("--chdir", "--group", "--host", "--prompt", "--role", "--type",
                              "--command-timeout", "--other-user", "--user", "--close-from",
                              "--chroot", "--auth-type", "--login-class")),
    "doas": _Spec(flags="nsL", arg_flags="uC", transparent=False),
    "chroot": _Spec(long_arg=_f("--userspec", "--groups"), long_flags=_f("--skip-chdir"),
                    positionals=1, transparent=False),
    "strace": _Spec(flags="cCdDfFhikqrtTvVwxyzZ", arg_flags="abeEIoOpPsSuUX", transparent=False),
    "ltrace": _Spec(flags="cCfhiLrStTV", arg_flags="aAeEFlnopsuwxD", transparent=False),
    "xargs": _Spec(flags="0oprtx", arg_flags="adEILnPs", optional_arg="eil", transparent=False,
                   default=("echo",),
                   long_flags=_f("--null", "--open-tty", "--interactive", "--no-run-if-empty",
                                 "--verbose", "--exit", "--show-limits"),
                   long_arg=_f("--arg-file", "--delimiter", "--eof", "--replace", "--max-lines",
                               "--max-args", "--max-procs", "--max-chars",
                               "--process-slot-var")),
}


def command_basename(word: str) -> str:
    """`/usr/bin/rm` and `./rm` name the program `rm`."""
    return posixpath.basename(word) or word


def unwrap(argv: Argv) -> Unwrapped | None:
    """What the command `argv` (static name) runs, or None when it is not a wrapper."""
    name = command_basename(argv[0] or "")
    args = argv[1:]
    if name in SHELLS:
        return _shell(name, args)
    if name in ("busybox", "toybox"):
        return Unwrapped(inners=(args,)) if args else None
    if name == "eval":
        return _string_of(args, "eval", ask="eval builds its command from strings")
    if name == "trap":
        return _trap(args)
    if name in ("source", "."):
        return _source(args)
    if name == "find":
        return _find(args)
    if name in ("su", "runuser"):
        return _su(args)
    if name == "script":
        return _script(args)
    if name == "watch":
        return _watch(args)
    if name == "flock":
        return _flock(args)
    if name == "hash" and any(word is None or word.startswith("-") and "p" in word
                              for word in args):
        return Unwrapped(opaque="hash -p makes a command name run another program",
                         transparent=False)
    if name == "alias" and any(word is None or "=" in word for word in args):
        return Unwrapped(opaque="an alias changes what later commands mean", transparent=False)
    if name == "coproc":
        return Unwrapped(inners=(args,)) if args else None
    spec = _SPECS.get(name)
    return _generic(name, args, spec) if spec is not None else None


def _generic(name: str, args: Argv, spec: _Spec) -> Unwrapped:
    index, opaque, stop = _skip_options(name, args, spec)
    if opaque:
        return Unwrapped(opaque=opaque, transparent=spec.transparent)
    if stop:
        return Unwrapped(transparent=False)  # e.g. `command -v rm`: nothing runs
    assignments: list[str] = []
    while spec.assignments and index < len(args) and _is_assignment(args[index], name == "env"):
        assignments.append(str(args[index]))
        index += 1
    for _ in range(spec.positionals):
        if index >= len(args):
            return Unwrapped(transparent=spec.transparent)
        index += 1
    inner = args[index:] or spec.default
    if inner and inner[0] is None:
        return Unwrapped(opaque=f"{name} runs a command named only at run time",
                         transparent=spec.transparent)
    return Unwrapped(inners=(inner,) if inner else (), transparent=spec.transparent,
                     assignments=tuple(assignments))


def _skip_options(name: str, args: Argv, spec: _Spec) -> tuple[int, str, bool]:
    """(index of the first operand, why opaque, whether an option means nothing runs)."""
    i = 0
    while i < len(args):
        word = args[i]
        if word is None:
            return i, f"{name} has an option known only at run time", False
        if word == "--":
            return i + 1, "", False
        if word.startswith("--"):
            option, eq, _ = word.partition("=")
            if option in spec.long_arg:
                i += 1 if eq else 2
                continue
            if option in spec.long_flags:
                i += 1
                continue
            if name == "env" and option == "--split-string":
                return i, "env --split-string builds the command from a string", False
            return i, f"{name} has an option rules do not know: {option}", False
        if not word.startswith("-") or word == "-":
            return i, "", False
        if spec.numeric and word[1:].isdigit():
            i += 1
            continue
        consumed, reason, stop = _cluster(name, word, spec)
        if reason or stop:
            return i, reason, stop
        i += consumed
    return i, "", False


def _cluster(name: str, word: str, spec: _Spec) -> tuple[int, str, bool]:
    """Words consumed by one `-abc` cluster, or why it is opaque, or that nothing runs."""
    for pos, letter in enumerate(word[1:], start=1):
        if letter in spec.no_command:
            return 1, "", True
        if letter in spec.arg_flags:
            return (1 if pos + 1 < len(word) else 2), "", False
        if letter in spec.optional_arg:
            return 1, "", False
        if letter not in spec.flags:
            return 1, f"{name} has an option rules do not know: -{letter}", False
    return 1, "", False


def _is_assignment(word: Word, any_name: bool = False) -> bool:
    """NAME=VALUE; for env any NAME (env exports `BASH_FUNC_f%%=...` too)."""
    if word is None or "=" not in word:
        return False
    if any_name:
        return not word.startswith("=")
    key = word.split("=", 1)[0]
    return bool(key) and (key[0].isalpha() or key[0] == "_") and key.replace("_", "a").isalnum()


def _string_of(args: Argv, name: str, ask: str = "") -> Unwrapped:
    if not args:
        return Unwrapped()
    if any(word is None for word in args):
        return Unwrapped(opaque=f"{name} runs a string known only at run time")
    return Unwrapped(shell=" ".join(str(word) for word in args), ask=ask)


def _sh_string_of(args: Argv, name: str) -> Unwrapped:
    """A string that `name` hands to `sh -c` (su, script, watch, flock): not transparent."""
    string = _string_of(args, name)
    if string.shell is None:
        return Unwrapped(opaque=string.opaque, transparent=False)
    judged = posix_string(string.shell)
    return Unwrapped(shell=judged.shell, opaque=judged.opaque, transparent=False)


def posix_string(string: str, shell: str = "sh") -> Unwrapped:
    """A string a non-bash shell runs: judged with the bash grammar only where they agree."""
    if shell in _FOREIGN_SHELLS:
        return Unwrapped(opaque=f"{shell} strings are not bash: rules cannot judge them")
    if shell != "bash" and _SH_DIFFERS.search(string):
        return Unwrapped(opaque=f"{shell} reads this string differently from bash")
    return Unwrapped(shell=string)


def _shell(name: str, args: Argv) -> Unwrapped | None:
    """`bash [options] -c STRING`, `bash [-s]` (stdin), or `bash script` (not a wrapper)."""
    i, has_c, reads_stdin = 0, False, False
    while i < len(args):
        word = args[i]
        if word is None:
            return Unwrapped(opaque="a shell with an option or script known only at run time")
        if word in ("--rcfile", "--init-file") or word.startswith(("--rcfile=", "--init-file=")):
            return Unwrapped(opaque="the shell sources a start-up file rules cannot see")
        if word in ("-o", "+o", "-O", "+O"):
            i += 2
            continue
        if word == "--":
            i += 1
            break
        if word.startswith("--"):
            i += 1
            continue
        if len(word) > 1 and word[0] in "-+":
            has_c = has_c or (word[0] == "-" and "c" in word)
            reads_stdin = reads_stdin or (word[0] == "-" and "s" in word)
            i += 1
            continue
        break
    operand = args[i] if i < len(args) else None
    if has_c:
        if i >= len(args):
            return Unwrapped(opaque="a shell -c without its command string")
        if operand is None:
            return Unwrapped(opaque="a shell runs a string known only at run time")
        return posix_string(operand, name)
    if i >= len(args) or reads_stdin:
        return Unwrapped(reads_stdin=True, shell_name=name)
    if operand is None or operand in _STDIN_SCRIPTS or operand.startswith(("/dev/fd/", "/proc/")):
        return Unwrapped(opaque="a shell runs a script rules cannot read (stdin, a pipe, a "
                                "substitution)")
    return None  # `bash script.sh`: an ordinary command, matched as written


def _trap(args: Argv) -> Unwrapped | None:
    if not args or args[0] in ("-l", "-p", "-", "") or (args[0] or "").startswith("-"):
        return None
    return _string_of(args[:1], "trap")


def _source(args: Argv) -> Unwrapped | None:
    script = args[0] if args else ""
    if script is None or script in _STDIN_SCRIPTS or script.startswith(("/dev/fd/", "/proc/")):
        return Unwrapped(opaque="source reads a script rules cannot see")
    return None


def _find(args: Argv) -> Unwrapped | None:
    inners: list[Argv] = []
    i = 0
    while i < len(args):
        if args[i] in ("-exec", "-execdir", "-ok", "-okdir"):
            end = i + 1
            while end < len(args) and args[end] not in (";", "+"):
                end += 1
            inner = args[i + 1:end]
            if not inner or inner[0] is None:
                return Unwrapped(opaque="find -exec runs a command known only at run time",
                                 transparent=False)
            inners.append(inner)
            i = end
        i += 1
    return Unwrapped(inners=tuple(inners), transparent=False) if inners else None


def _su(args: Argv) -> Unwrapped | None:
    for i, word in enumerate(args):
        if word is None:
            return Unwrapped(opaque="su with an argument known only at run time", transparent=False)
        if word in ("-c", "--command", "--session-command"):
            rest = args[i + 1:i + 2]
            return _sh_string_of(rest, "su") if rest else None
        if word.startswith(("--command=", "--session-command=")):
            return _sh_string_of((word.split("=", 1)[1],), "su")
        if word.startswith("-") and not word.startswith("--") and word.endswith("c"):
            return _sh_string_of(args[i + 1:i + 2], "su")
    return None


def _script(args: Argv) -> Unwrapped | None:
    """`script -c CMD [file]` runs CMD through a shell (util-linux)."""
    for i, word in enumerate(args):
        if word is None:
            return Unwrapped(opaque="script with an argument known only at run time",
                             transparent=False)
        if word in ("-c", "--command") or (word.startswith("-") and not word.startswith("--")
                                           and word.endswith("c")):
            return _sh_string_of(args[i + 1:i + 2], "script")
        if word.startswith("--command="):
            return _sh_string_of((word.split("=", 1)[1],), "script")
    return None


def _watch(args: Argv) -> Unwrapped | None:
    spec = _Spec(flags="bceghptwx", arg_flags="dnq", optional_arg="",
                 long_arg=_f("--interval", "--differences", "--chgexit"), transparent=False,
                 long_flags=_f("--beep", "--color", "--errexit", "--exec", "--no-title",
                               "--precise", "--no-wrap", "--no-linewrap"))
    index, opaque, _ = _skip_options("watch", args, spec)
    if opaque:
        return Unwrapped(opaque=opaque, transparent=False)
    rest = args[index:]
    if not rest:
        return None
    if any(word in ("-x", "--exec") for word in args[:index]):
        return Unwrapped(inners=(rest,), transparent=False)
    return _sh_string_of(rest, "watch")


def _flock(args: Argv) -> Unwrapped | None:
    spec = _Spec(flags="sexunoF", arg_flags="wE", transparent=False, positionals=1,
                 long_flags=_f("--shared", "--exclusive", "--unlock", "--nonblock",
                               "--close", "--no-fork"),
                 long_arg=_f("--timeout", "--conflict-exit-code"))
    index, opaque, _ = _skip_options("flock", args, spec)
    if opaque:
        return Unwrapped(opaque=opaque, transparent=False)
    rest = args[index + 1:]
    if rest[:1] in (("-c",), ("--command",)):
        return _sh_string_of(rest[1:2], "flock")
    if rest and rest[0] is None:
        return Unwrapped(opaque="flock runs a command known only at run time", transparent=False)
    return Unwrapped(inners=(rest,), transparent=False) if rest else None
