"""GitPython, with every git process it starts going through the safe runner.

GitPython builds each child's environment from os.environ (API keys included) and runs git with
the repository's own configuration in force. `SafeRepo` swaps in `SafeGit`, whose `execute`
runs the argv and environment of `git_invocation` instead: the same switches for fsmonitor,
hooks, drivers, pagers and transports as every other git call of kimi-code. The object database
(`git cat-file --batch` processes) uses the same `SafeGit`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import git
from git.compat import safe_decode
from git.exc import GitCommandError, GitCommandNotFound

from kimi_code.git.runner import git_invocation


class SafeGit(git.Git):
    """`git.Git` whose commands run through `git_invocation` (hooks only when `hooks`)."""

    hooks = False

    # override: GitPython declares execute as overloads on literal flags; this one signature
    # accepts the same calls.
    def execute(self, command: str | Sequence[Any], istream: Any = None,  # type: ignore[override]
                with_extended_output: bool = False, with_exceptions: bool = True,
                as_process: bool = False, output_stream: Any = None,
                stdout_as_string: bool = True, strip_newline_in_stdout: bool = True,
                env: Mapping[str, str] | None = None, **_ignored: Any) -> Any:
        """Run `command` (["git", subcommand, ...]) like GitPython's execute, safely."""
        if isinstance(command, str):
            raise TypeError("SafeGit runs argument lists only")
        args = [str(a) for a in command[1:]]
        cwd = Path(self._working_dir or Path.cwd())
        argv, full_env = git_invocation(args, cwd=cwd, env=env, hooks=self.hooks)
        full_env.update(LANGUAGE="C", LC_ALL="C")  # GitPython's parsers expect English output
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=full_env, stdin=istream or subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except FileNotFoundError as exc:
            raise GitCommandNotFound(list(command), exc) from exc
        if as_process:
            return self.AutoInterrupt(proc, list(command))
        if output_stream is None:
            out, err = proc.communicate()
        else:
            out_pipe, err_pipe = proc.stdout, proc.stderr  # locals: the lambda keeps the narrowing
            assert out_pipe is not None and err_pipe is not None
            for chunk in iter(lambda: out_pipe.read(65536), b""):
                output_stream.write(chunk)
            out, err = b"", err_pipe.read()
            proc.wait()
        if strip_newline_in_stdout and out.endswith(b"\n"):
            out = out[:-1]
        err = err[:-1] if err.endswith(b"\n") else err
        if with_exceptions and proc.returncode != 0:
            raise GitCommandError(list(command), proc.returncode, err, out)
        stdout: str | bytes = safe_decode(out) if stdout_as_string else out
        if with_extended_output:
            return proc.returncode, stdout, safe_decode(err)
        return stdout


class _HookedGit(SafeGit):
    hooks = True


class SafeRepo(git.Repo):
    """A `git.Repo` whose git processes are safe (see the module docstring)."""

    GitCommandWrapperType = SafeGit


class HookedRepo(git.Repo):
    """`SafeRepo` that lets the repository's hooks run: `kimi-code commit` only."""

    GitCommandWrapperType = _HookedGit


__all__ = ["SafeGit", "SafeRepo", "HookedRepo"]
