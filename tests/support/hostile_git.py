"""Hostile git repositories for the git-execution tests: configuration that names a program
(a trap script that records it ran), and a spy `git` on PATH that records the environment and
arguments of every git process kimi-code starts.

A test arms a repository, proves the trap is live with plain git (`assert_live`: the attack
works when nobody defends against it), then drives a kimi-code call site and checks that the
trap never ran (`marker_lines() == []`) and that the canary secret never reached git
(`spy.saw_canary()` is False while `spy.calls()` is not empty).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

CANARY = "sk-canary-0123456789abcdef-never-in-git"


@dataclass
class Trap:
    """A script that appends `<tag> <args>` to `marker` and passes stdin through (so as a
    filter or textconv it keeps git working)."""

    script: Path
    marker: Path
    quick_script: Path  # records and exits without reading stdin (transports, signing)

    def command(self, tag: str) -> str:
        return f"{self.script} {tag}"

    def quick(self, tag: str) -> str:
        return f"{self.quick_script} {tag}"

    def lines(self) -> list[str]:
        try:
            return [line for line in self.marker.read_text().splitlines() if line.strip()]
        except FileNotFoundError:
            return []

    def reset(self) -> None:
        self.marker.unlink(missing_ok=True)


def make_trap(where: Path) -> Trap:
    where.mkdir(parents=True, exist_ok=True)
    marker = where / "PWNED"
    script = where / "trap.sh"
    script.write_text(f"#!/bin/sh\necho \"$*\" >> '{marker}'\ncat\n")
    script.chmod(0o755)
    quick = where / "quick-trap.sh"
    quick.write_text(f"#!/bin/sh\necho \"quick $*\" >> '{marker}'\nexit 1\n")
    quick.chmod(0o755)
    return Trap(script, marker, quick)


@dataclass
class Spy:
    """Records every `git` started through PATH: one block per call (argv line, then env)."""

    log: Path

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def calls(self) -> list[str]:
        return [block for block in self.text().split("\n@@END@@\n") if block.strip()]

    def saw_canary(self) -> bool:
        return CANARY in self.text()

    def env_values(self, name: str) -> list[str]:
        """The values `name` had in the recorded git environments."""
        out = []
        for block in self.calls():
            for line in block.splitlines():
                if line.startswith(name + "="):
                    out.append(line[len(name) + 1:])
        return out


def install_spy(where: Path, monkeypatch: pytest.MonkeyPatch) -> Spy:
    """Put a recording `git` first on PATH (it execs the real one) and the canary secret in
    our environment under names an attacker would hope for."""
    real = shutil.which("git")
    assert real, "git must be installed for these tests"
    bindir = where / "spybin"
    bindir.mkdir(parents=True, exist_ok=True)
    log = where / "spy.log"
    wrapper = bindir / "git"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"{{ printf 'ARGV'; printf ' %s' \"$@\"; printf '\\n'; env; printf '\\n@@END@@\\n'; }}"
        f" >> '{log}'\n"
        f"exec '{real}' \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    for name in ("MOONSHOT_API_KEY", "KIMI_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                 "GITHUB_TOKEN"):
        monkeypatch.setenv(name, CANARY)
    return Spy(log)


def git(cwd: Path, *args: str, env: dict[str, str] | None = None, check: bool = True,
        input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Plain git, as an undefended program would run it (for arming and for `assert_live`)."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, input=input,
                          stdin=subprocess.DEVNULL if input is None else None,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace')}")
    return proc


def new_repo(root: Path, files: dict[str, str] | None = None, *, commit: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    for rel, text in (files or {"README.md": "hello\n", "src/app.py": "print('hi')\n"}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    if commit:
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "initial")
    return root


def configure(repo: Path, pairs: dict[str, str], *, file: Path | None = None) -> None:
    """Write config keys into the repository's config (or into `file`)."""
    for key, value in pairs.items():
        where = ["--file", str(file)] if file else []
        git(repo, "config", *where, key, value)


def arm_everything(repo: Path, trap: Trap) -> None:
    """Every program-naming setting and driver at once, plus attributes that select them."""
    configure(repo, {
        "core.fsmonitor": trap.command("fsmonitor"),
        "core.pager": trap.command("pager"),
        "pager.diff": trap.command("pager.diff"), "pager.log": trap.command("pager.log"),
        "core.editor": trap.command("editor"), "sequence.editor": trap.command("seqeditor"),
        "core.sshCommand": trap.command("ssh"), "credential.helper": "!" + trap.command("cred"),
        "core.askPass": trap.command("askpass"), "diff.external": trap.command("extdiff"),
        "filter.evil.clean": trap.command("clean"), "filter.evil.smudge": trap.command("smudge"),
        "diff.evil.textconv": trap.command("textconv"),
        "diff.evil.command": trap.command("diffcmd"),
        "merge.evil.driver": trap.command("merge") + " %O %A %B",
    })
    hooks = Path(git(repo, "rev-parse", "--git-path", "hooks").stdout.decode().strip())
    hooks = hooks if hooks.is_absolute() else repo / hooks
    arm_hooks(hooks, trap)
    info = Path(git(repo, "rev-parse", "--git-path", "info").stdout.decode().strip())
    info = info if info.is_absolute() else repo / info
    info.mkdir(parents=True, exist_ok=True)
    (info / "attributes").write_text("* filter=evil diff=evil merge=evil\n")


HOOK_NAMES = ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "post-checkout",
              "post-merge", "reference-transaction", "post-index-change", "pre-auto-gc",
              "post-rewrite", "pre-push")


def arm_hooks(hooks: Path, trap: Trap) -> None:
    hooks.mkdir(parents=True, exist_ok=True)
    for name in HOOK_NAMES:
        hook = hooks / name
        hook.write_text(f"#!/bin/sh\necho 'hook {name}' >> '{trap.marker}'\nexit 0\n")
        hook.chmod(0o755)


def assert_live(repo: Path, trap: Trap, *args: str, env: dict[str, str] | None = None) -> None:
    """The trap fires under plain git (so a later absence of the marker means a defence held),
    then the marker is cleared."""
    git(repo, *args, env=env, check=False)
    assert trap.lines(), f"sanity: plain `git {' '.join(args)}` should have run the trap"
    trap.reset()


def make_stat_dirty(path: Path) -> None:
    """Change a tracked file's stat data without changing its size class, so git must read
    (and clean-filter) it to know whether it changed."""
    path.write_text(path.read_text() + "changed\n")
    os.utime(path, (1_000_000_000, 1_000_000_000))


def touch_stat(path: Path, when: float = 1_500_000_000) -> None:
    """Same content and size, other stat data: git has to read the file (through its clean
    filter) to know it did not change."""
    os.utime(path, (when, when))
