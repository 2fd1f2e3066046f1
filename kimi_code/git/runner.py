"""The one way kimi-code runs git.

A repository's configuration (and that of a nested or newly created repository, or of any
file it includes) can name programs git runs: fsmonitor daemons, hooks, clean/smudge/process
filters, textconv and external diff drivers, merge drivers, pagers, editors, credential helpers,
ssh commands, signing programs. kimi-code's own git calls (file listings, status, checkpoints,
the swarm's snapshots and worktrees, review's export and diffs, commit's diffs) must run none of
them, and must not hand git the agent's environment (API keys). So every git process goes
through `git_invocation` (argv + environment) or `run_git` built on it:

- fixed `-c` overrides switch off every single-key program setting (command-line config wins
  over every file, and git passes it on to the git processes it starts itself);
- driver settings are per name (`filter.<name>.clean`, `diff.<name>.textconv`, ...), so the
  names defined in every configuration file git could read here are found and each is
  neutralised (`driver_names`);
- `--no-ext-diff --no-textconv` go after `diff`/`log`/`show`, and status/diff never descend
  into submodules' work trees (their configuration is not ours to read);
- the environment is the agent's child allowlist (no secrets) with every GIT_* variable dropped
  except identity and the global-config pointer; callers add their own (GIT_DIR, GIT_INDEX_FILE)
  explicitly.

The one exception is `hooks=True`, for `kimi-code commit`'s own `git commit`: the user's commit
hooks run there (they are the user's), everything else stays off.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from kimi_code.git.config_scan import (
    DRIVER_SECTIONS,
    WORKTREE,
    config_files,
    discovered_work_tree,
    scan_names,
)
from kimi_code.safety.secrets import child_env

# Single-key settings that name a program, switched off for every call. `false` where git
# needs something to run (it runs /bin/false: nothing of the repository's), empty where empty
# means "none".
_NO_PROGRAMS: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.pager", "cat"),
    ("core.editor", "false"),
    ("sequence.editor", "false"),
    ("core.sshCommand", "false"),
    ("core.askPass", ""),
    ("credential.helper", ""),          # an empty value resets the helper list
    ("protocol.allow", "never"),        # no transport at all: ext::, file://, ssh, http
    # a repository's protocol.<name>.allow=always would beat protocol.allow: the known names
    # here, and every name a configuration file mentions in `_driver_env`
    ("protocol.ext.allow", "never"), ("protocol.file.allow", "never"),
    ("protocol.ssh.allow", "never"), ("protocol.git.allow", "never"),
    ("protocol.http.allow", "never"), ("protocol.https.allow", "never"),
    ("diff.external", ""),              # and --no-ext-diff on diff/log/show
    ("gpg.program", "gpg"),             # signing (user commits) only with the standard tools
    ("gpg.openpgp.program", "gpg"),
    ("gpg.x509.program", "gpgsm"),
    ("gpg.ssh.program", "ssh-keygen"),
    ("gpg.ssh.defaultKeyCommand", ""),
    ("submodule.recurse", "false"),
    ("diff.ignoreSubmodules", "dirty"),  # never run git inside a submodule's work tree
    ("gc.auto", "0"),                   # no background `git gc --auto` children
    ("maintenance.auto", "false"),
)
_NO_HOOKS: tuple[tuple[str, str], ...] = (("core.hooksPath", os.devnull),)

# Output settings our parsers rely on and a user's configuration may change: an empty context
# line printed as "" (suppressBlankEmpty) shifts line numbers and breaks `git apply`; signature
# output would land inside `git log --format` text.
_STABLE_OUTPUT: tuple[tuple[str, str], ...] = (
    ("diff.suppressBlankEmpty", "false"),
    ("diff.noprefix", "false"),
    ("diff.mnemonicPrefix", "false"),
    ("log.showSignature", "false"),
    ("color.ui", "never"),
)

# Per-name keys and the value that disables each (merge: `false` makes a conflict instead of
# silently keeping "ours"; protocol: a transport the repository allowed by name).
_DRIVER_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "filter": (("clean", ""), ("smudge", ""), ("process", "")),
    "diff": (("textconv", ""), ("command", "")),
    "merge": (("driver", "false"),),
    "protocol": (("allow", "never"),),
    # configured hooks (git >= 2.54): an empty event value resets the hook's event list
    "hook": (("event", ""),),
}
# Porcelain that would run textconv or external diff drivers unless told not to.
_DIFF_PORCELAIN = frozenset({"diff", "log", "show"})
_STATUS_FLAGS = ("--ignore-submodules=dirty",)
# What `kimi-code commit` stages with: there a filtered file must not go in unfiltered.
_STAGING = frozenset({"add", "commit", "stash", "update-index"})

# GIT_* variables of kimi-code's own environment that git may see: identity and the pointer
# to the user's global configuration. Everything else (GIT_DIR, GIT_EXTERNAL_DIFF, GIT_SSH*,
# GIT_CONFIG_PARAMETERS/COUNT, GIT_EXEC_PATH, GIT_TRACE*, ...) is dropped.
_KEPT_GIT_VARS = frozenset({
    "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE", "GIT_CONFIG_GLOBAL",
})
# What callers may add: the repository they mean (checkpoints' shadow store, a private index),
# identity, locale. Anything else in `extra` is dropped, so a caller that passes
# {**os.environ, ...} still hands git no API key and no GIT_EXTERNAL_DIFF.
_CALLER_VARS = frozenset({
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_OPTIONAL_LOCKS", "GIT_CONFIG_GLOBAL",
    "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE", "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE", "LC_ALL", "LANG", "LANGUAGE",
})
_FIXED_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat",
              "PAGER": "cat"}

class GitError(Exception):
    """A git command failed; `stderr` holds git's own explanation."""

    def __init__(self, message: str, stderr: str = "", returncode: int | None = None) -> None:
        super().__init__(message)
        self.stderr = stderr
        self.returncode = returncode


_base_cache: list[tuple[tuple[tuple[str, str], ...], dict[str, str]]] = []


def _base_environment() -> dict[str, str]:
    """child_env() without our GIT_* variables, computed again only when os.environ changed
    (the allowlist's pattern matching costs milliseconds; git runs often)."""
    raw = getattr(os.environ, "_data", None)  # bytes on POSIX: no decoding per call
    key = tuple((raw if isinstance(raw, dict) else os.environ).items())
    if _base_cache and _base_cache[0][0] == key:
        return _base_cache[0][1]
    env = {k: v for k, v in child_env().items()
           if not k.startswith("GIT_") or k in _KEPT_GIT_VARS}
    _base_cache[:] = [(key, env)]
    return env


def git_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of every git child: the agent's allowlisted child environment (no API
    keys), no GIT_* of ours beyond identity and the global-config pointer, plus the repository
    variables of `extra` (others in it are dropped)."""
    env = dict(_base_environment())
    env.update(_FIXED_ENV)
    env.update({k: v for k, v in (extra or {}).items() if k in _CALLER_VARS})
    return env


def _names_from_git(cwd: Path, env: Mapping[str, str]) -> set[tuple[str, str]]:
    """Driver names as git itself reads the configuration (includes followed)."""
    argv = ["git", "--no-pager", *_config_args(hooks=False), "config", "-z", "--name-only",
            "--get-regexp", r"^(filter|diff|merge|protocol|hook)\.|^core\.worktree$"]
    try:
        proc = subprocess.run(argv, cwd=cwd, env=dict(env), capture_output=True,
                              stdin=subprocess.DEVNULL, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"cannot read the git configuration safely: {exc}") from None
    found = set()
    for key in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
        section, _, rest = key.partition(".")
        name, dot, _ = rest.rpartition(".")
        if dot and section in DRIVER_SECTIONS:
            found.add((section, name))
        elif key == "core.worktree":
            found.add(WORKTREE)
    return found


def driver_names(cwd: Path, env: Mapping[str, str]) -> set[tuple[str, str]]:
    """Every (section, name) of a filter/diff/merge driver (or transport) git could find for a
    call in `cwd`: the configuration files scanned here, or git's own reading of them when a
    file holds something the scan does not follow."""
    names = scan_names(cwd, env)
    return names if names is not None else _names_from_git(cwd, env)


def _config_args(*, hooks: bool) -> list[str]:
    pairs = [*_NO_PROGRAMS, *_STABLE_OUTPUT, *(() if hooks else _NO_HOOKS)]
    return [arg for key, value in pairs for arg in ("-c", f"{key}={value}")]


def _driver_env(names: set[tuple[str, str]], *, strict: bool,
                hooks: bool = False) -> dict[str, str]:
    """GIT_CONFIG_COUNT pairs that neutralise each driver (names may hold '=' or spaces, which
    `-c` could not carry). `strict`: a required filter then fails loudly instead of letting an
    unfiltered file be committed (git-lfs in `kimi-code commit`'s staging commands)."""
    pairs = []
    for section, name in sorted(names):
        if section not in _DRIVER_KEYS or (hooks and section == "hook"):
            continue  # `hooks`: kimi-code commit runs the user's hooks, configured ones too
        pairs += [(f"{section}.{name}.{key}", value) for key, value in _DRIVER_KEYS[section]]
        if section == "filter":
            pairs.append((f"filter.{name}.required", "true" if strict else "false"))
    env = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for i, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def _split_subcommand(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """(leading `-c k=v` options, subcommand and the rest). Other global options are refused:
    a caller names the directory with `cwd` and the repository with env (GIT_DIR)."""
    leading: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] != "-c" or i + 1 >= len(args):
            raise ValueError(f"run_git: global option {args[i]!r} is not allowed; use cwd/env")
        leading += args[i:i + 2]
        i += 2
    return leading, list(args[i:])


def _pinned_work_tree(cwd: Path) -> str | None:
    """A repository's core.worktree can point git at any directory (the user's ~/.ssh): every
    `add -A`, status or listing would then read files outside the workspace. The work tree is
    pinned to what discovery gives without it; a git directory whose core.worktree is all the
    work tree it has is refused. None: no repository here, nothing to pin."""
    kind, found = discovered_work_tree(cwd)
    if kind == "gitdir":
        raise GitError(f"refusing to run git in {cwd}: its configuration sets core.worktree, "
                       "which would point git at files outside the workspace")
    return found


def git_invocation(args: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None,
                   hooks: bool = False) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) for running `git *args` in `cwd` safely. `env` adds variables (the
    repository: GIT_DIR, GIT_INDEX_FILE, ...) to the safe environment; it never replaces it."""
    leading, rest = _split_subcommand(args)
    if rest and rest[0] in _DIFF_PORCELAIN:
        rest[1:1] = ["--no-ext-diff", "--no-textconv"]
    elif rest and rest[0] == "status":
        rest[1:1] = list(_STATUS_FLAGS)
    full_env = git_environment(env)
    strict = hooks and bool(rest) and rest[0] in _STAGING
    names = driver_names(Path(cwd), full_env)
    full_env.update(_driver_env(names, strict=strict, hooks=hooks))
    if WORKTREE in names and not {"GIT_DIR", "GIT_WORK_TREE"} & set(env or {}):
        if (pinned := _pinned_work_tree(Path(cwd))) is not None:
            full_env["GIT_WORK_TREE"] = pinned
    return ["git", "--no-pager", *_config_args(hooks=hooks), *leading, *rest], full_env


def run_git(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
    hooks: bool = False,
    pass_fds: tuple[int, ...] = (),
    timeout: float | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run `git *args` in `cwd` through the safe invocation and return the completed process
    (stdout/stderr as bytes). `env` adds variables to the safe environment. Raises GitError
    naming the command and git's message when `check` and git fails. `pass_fds`: descriptors
    git inherits (a held flock stays held while git runs, even if we die)."""
    argv, full_env = git_invocation(args, cwd=cwd, env=env, hooks=hooks)
    try:
        proc = subprocess.run(argv, cwd=cwd, env=full_env, input=input, capture_output=True,
                              stdin=subprocess.DEVNULL if input is None else None, check=False,
                              pass_fds=pass_fds, timeout=timeout)
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH; install git and retry.") from None
    if check and proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        name = _split_subcommand(args)[1][:1] or ["?"]
        raise GitError(f"git {name[0]} failed: {err or 'exit ' + str(proc.returncode)}",
                       stderr=err, returncode=proc.returncode)
    return proc


__all__ = ["GitError", "config_files", "driver_names", "git_environment", "git_invocation",
           "run_git"]
