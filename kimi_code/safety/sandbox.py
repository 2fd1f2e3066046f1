"""The OS sandbox for model-driven commands (bubblewrap): policy and enforcement kept apart.

`SandboxPolicy` is data: which directories are writable, which are protected (read-only even
inside a writable one), whether the network is reachable, resource limits. `Sandbox` enforces a
policy by rewriting a command's argv into a `bwrap` invocation:

- the whole filesystem read-only (`--ro-bind / /`), a private /tmp and /dev/shm (capped at the
  memory limit), fresh /dev and /proc;
- the workspace and every --add-dir bound read-write, every `.git` inside them (nested ones,
  pointer files and what they name; git_dirs.protected_git_paths, re-found per call) bound
  read-only on top;
- credential stores, kimi-code's own config/data/cache dirs, /run and host UNIX sockets hidden
  (sandbox_hide.py; the mount order is sandbox_mounts.py's);
- a seccomp filter (seccomp.py): no setuid/setgid bits, no io_uring or keyring, no foreign
  syscall ABIs, and no AF_UNIX sockets when the host network namespace is shared;
- every namespace unshared (network too, unless allowed), all capabilities dropped, a new
  session (no TIOCSTI into our terminal), `--die-with-parent`;
- its own PID namespace: when the command exits, bwrap's init exits and the kernel kills every
  process left in the namespace (daemons included), so nothing survives a call;
- a process-count limit (RLIMIT_NPROC inside; a pids cgroup when we run as root, for whom the
  kernel does not enforce RLIMIT_NPROC), a file-size limit, a per-process memory limit
  (RLIMIT_DATA), and the caller's timeout and output cap (see kimi_code.tools.process).

A sandboxed mode is never "on" while unenforced: the first use runs a self-test (canaries:
a write outside the writable roots, a connect to a listener of ours, a read of a hidden secret,
a connect to a host UNIX socket, a setuid chmod, a fork storm against a low process limit) and
refuses with an actionable `SandboxUnavailable` if any gets through. docs/sandbox.md is the
user's description.
Mode `off` is explicit and logged once.
"""

from __future__ import annotations

import atexit
import logging
import os
import shlex
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from kimi_code import paths
from kimi_code.config import ConfigError, SandboxConfig, load_config
from kimi_code.safety import seccomp
from kimi_code.safety.bundled_tools import distrust, locate_bwrap
from kimi_code.safety.git_dirs import protected_git_paths
from kimi_code.safety.sandbox_hide import plan_hidden
from kimi_code.safety.sandbox_mounts import mount_args
from kimi_code.safety.sandbox_probe import (
    SELF_TEST_NPROC,
    PidsCgroup,
    SandboxUnavailable,
    bwrap_options,
    find_bwrap,
    nproc_enforced,
    probe_python,
    run_self_test,
)
from kimi_code.safety.sandbox_proxy import sandbox_proxy_args

__all__ = ["Sandbox", "SandboxLimits", "SandboxMode", "SandboxPolicy", "SandboxUnavailable",
           "diagnose", "git_protected_paths", "mode_from_env", "sandbox_for_workspace"]

log = logging.getLogger("kimi_code.safety.sandbox")
ENV_MODE = "KIMI_CODE_SANDBOX"  # workspace-write | read-only | off
ENV_NETWORK = "KIMI_CODE_SANDBOX_NETWORK"  # 1 allows network from sandboxed commands


_DETACHED: list[PidsCgroup] = []  # background jobs' cgroups (root only), removed at exit


@atexit.register
def _remove_detached() -> None:
    for cgroup in _DETACHED:
        cgroup.remove()


class SandboxMode(StrEnum):
    WORKSPACE_WRITE = "workspace-write"
    READ_ONLY = "read-only"
    OFF = "off"


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one sandboxed command (time and kept output are the caller's)."""

    max_processes: int = 512  # processes + threads of the command tree
    max_output_bytes: int = 64 * 1024 * 1024  # the command is killed past this much output
    max_file_bytes: int = 4 * 1024 * 1024 * 1024  # largest file it may write (ulimit -f)
    # Data memory per process (RLIMIT_DATA, ulimit -d: heap and private writable mappings, not
    # the address space that node, Go and Java reserve up front); 0 = half the machine's RAM.
    max_memory_bytes: int = 0

    def memory_bytes(self) -> int:
        """The memory limit in force (the default resolved against this machine)."""
        return self.max_memory_bytes or default_memory_bytes()


def default_memory_bytes() -> int:
    """Half of physical memory: one runaway process cannot take the machine down."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError):
        return 8 * 1024 * 1024 * 1024


@dataclass(frozen=True)
class SandboxPolicy:
    """What a sandboxed command may touch. Pure data; `Sandbox` enforces it."""

    mode: SandboxMode
    writable: tuple[Path, ...] = ()
    protected: tuple[Path, ...] = ()  # read-only even when inside a writable root
    network: bool = False
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    hide: tuple[str, ...] = ()  # hidden on top of sandbox_hide's defaults ([sandbox] hide)
    allow_domains: tuple[str, ...] = ()  # without network: reachable through our proxy
    unhide: tuple[str, ...] = ()  # defaults left visible ([sandbox] unhide)

    @classmethod
    def for_workspace(cls, workspace: Path, extra_dirs: Sequence[Path] = (),
                      mode: SandboxMode = SandboxMode.WORKSPACE_WRITE, network: bool = False,
                      limits: SandboxLimits | None = None, hide: Sequence[str] = (),
                      unhide: Sequence[str] = (),
                      allow_domains: Sequence[str] = ()) -> SandboxPolicy:
        """The agent's policy: the workspace and extra dirs writable (in workspace-write),
        their git internals and kimi-code's own directories protected (and hidden)."""
        roots = tuple(Path(os.path.realpath(p)) for p in (workspace, *extra_dirs))
        protected: list[Path] = []
        for root in roots:
            protected.extend(git_protected_paths(root))
        protected.extend(agent_dirs())
        return cls(mode=mode, writable=roots if mode is SandboxMode.WORKSPACE_WRITE else (),
                   protected=_dedupe(protected), network=network,
                   limits=limits or SandboxLimits(), hide=tuple(hide), unhide=tuple(unhide),
                   allow_domains=tuple(allow_domains))

    def with_root(self, root: Path) -> SandboxPolicy:
        """This policy plus `root` as a writable root (a subagent's worktree), its git
        internals protected."""
        real = Path(os.path.realpath(root))
        if self.mode is not SandboxMode.WORKSPACE_WRITE or real in self.writable:
            return self
        return replace(self, writable=(*self.writable, real),
                       protected=_dedupe([*self.protected, *git_protected_paths(real)]))


def _dedupe(items: Sequence[Path]) -> tuple[Path, ...]:
    return tuple(dict.fromkeys(items))


def agent_dirs() -> list[Path]:
    """kimi-code's own config, data and cache directories (sessions, trust store, keys)."""
    return [Path(os.path.realpath(p)) for p in (paths.config_dir(), paths.data_dir(),
                                                 paths.cache_dir())]


def git_protected_paths(root: Path) -> list[Path]:
    """`.git` under `root` and, when it is a worktree/submodule pointer file (`gitdir: X`),
    the git directory X and its common dir (the main repository's .git)."""
    dot_git = root / ".git"
    found: list[Path] = []
    if dot_git.is_dir() and not dot_git.is_symlink():
        return [dot_git]
    if not (dot_git.is_file() or dot_git.is_symlink()):
        return found
    found.append(dot_git)
    try:
        first = dot_git.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return found
    if dot_git.is_symlink():  # a symlinked .git: protect what it points at
        found.append(Path(os.path.realpath(dot_git)))
        return found
    if not first.startswith("gitdir:"):
        return found
    gitdir = Path(first.removeprefix("gitdir:").strip())
    gitdir = Path(os.path.realpath(gitdir if gitdir.is_absolute() else root / gitdir))
    found.append(gitdir)
    commondir = gitdir / "commondir"
    if commondir.is_file():
        common = Path(commondir.read_text(encoding="utf-8").strip())
        found.append(Path(os.path.realpath(common if common.is_absolute() else gitdir / common)))
    return found


def mode_from_env(default: SandboxMode = SandboxMode.WORKSPACE_WRITE) -> SandboxMode:
    """The mode chosen by KIMI_CODE_SANDBOX (a clear error for a bad value)."""
    raw = os.environ.get(ENV_MODE, "").strip().lower()
    if not raw:
        return default
    try:
        return SandboxMode(raw)
    except ValueError:
        choices = ", ".join(m.value for m in SandboxMode)
        raise ValueError(f"{ENV_MODE}={raw!r} is not a sandbox mode (choose one of {choices})") from None


class Sandbox:
    """Enforces a `SandboxPolicy` on command argvs. Create one per workspace and keep it:
    the self-test runs once per process and configuration."""

    def __init__(self, policy: SandboxPolicy, bwrap: str | None = None) -> None:
        self.policy = policy
        # What a sandboxed command can write, kimi-code never runs from outside (bwrap, rg).
        distrust(policy.writable)
        self._bwrap = bwrap
        self._off_logged = False

    @property
    def enforced(self) -> bool:
        return self.policy.mode is not SandboxMode.OFF

    def for_root(self, root: Path) -> Sandbox:
        """The same sandbox with `root` (a subagent worktree) also writable."""
        policy = self.policy.with_root(root)
        return self if policy is self.policy else Sandbox(policy, self._bwrap)

    @property
    def bwrap(self) -> str | None:
        return self._bwrap

    def ensure_ready(self) -> None:
        """Prove enforcement (once per process and configuration): raise SandboxUnavailable
        naming the cause and the fix."""
        if not self.enforced:
            return
        self._bwrap = self._bwrap or find_bwrap()
        run_self_test((self._bwrap, self.policy.network), self._self_test_spawn)

    def _self_test_spawn(self, argv: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        """Run the canary probe through this very policy, with a low process limit."""
        limits = replace(self.policy.limits, max_processes=SELF_TEST_NPROC)
        probe = Sandbox(replace(self.policy, limits=limits), self._bwrap)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        with probe._spawn_argv(argv, cwd) as full:
            return subprocess.run(full, cwd=cwd, env=env, capture_output=True, text=True,
                                  timeout=60, stdin=subprocess.DEVNULL)

    def wrap(self, argv: Sequence[str], cwd: Path) -> list[str]:
        """The bwrap argv running `argv` in `cwd` under this policy (or `argv` when off).
        Call `ensure_ready` first (`prepared` does)."""
        if not self.enforced:
            if not self._off_logged:
                log.warning("sandbox mode is off: commands run without OS confinement")
                self._off_logged = True
            return list(argv)
        assert self._bwrap is not None, "call ensure_ready() before wrap()"
        limits = self.policy.limits
        # RLIMIT_NPROC caps processes for a non-root user (root is exempt: the pids cgroup
        # covers it). bash names it -u, dash -p; in sh mode both count -f in 512-byte blocks;
        # -d (RLIMIT_DATA) counts KiB.
        n = limits.max_processes
        prologue = (f"{{ ulimit -u {n} || ulimit -p {n}; }} 2>/dev/null; "
                    f"ulimit -f {limits.max_file_bytes // 512} 2>/dev/null; "
                    f"ulimit -d {limits.memory_bytes() // 1024} 2>/dev/null; ")
        try:
            base = self._base_args(self._bwrap, Path(os.path.realpath(cwd)))
            if self.policy.allow_domains and not self.policy.network:
                # [sandbox] allow_domains: out only through our allowlisting proxy.
                proxy_args, start = sandbox_proxy_args(self.policy.allow_domains, probe_python())
                base[-2:-2] = proxy_args  # before --chdir, after the private /tmp
                prologue += start
            inner = ["/bin/sh", "-c", prologue + 'exec "$@"', "sh", *argv]
            # With network shared, the host's abstract sockets are reachable: no AF_UNIX.
            filter_path = seccomp.filter_file(deny_unix_sockets=self.policy.network)
        except seccomp.SeccompUnsupported as exc:
            log.warning("%s: running without the seccomp layer", exc)
            return [*base, *inner]
        except OSError as exc:  # kimi-code's cache unwritable, a path vanished mid-call...
            raise SandboxUnavailable(f"cannot prepare the sandbox for this command: {exc}. "
                                     "Run `kimi-code doctor`.") from None
        # bwrap reads the filter from an fd: a shell opens it as fd 3 and execs bwrap.
        return ["/bin/sh", "-c", 'exec "$@" 3<"$0"', str(filter_path), *base,
                "--seccomp", "3", *inner]

    def _base_args(self, bwrap: str, cwd: Path, network: bool | None = None) -> list[str]:
        policy = self.policy
        # The sandbox's own tmpfs mounts (/tmp, /dev/shm) hold RAM: capped at the memory limit.
        size = (["--size", str(policy.limits.memory_bytes())]
                if "--size" in bwrap_options(bwrap) else [])
        args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", *size, "--tmpfs", "/dev/shm",
                "--proc", "/proc", *size, "--tmpfs", "/tmp", "--unshare-all"]
        if policy.network if network is None else network:
            args.append("--share-net")
        args += ["--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        # Re-evaluated per call: credential stores, sockets and nested .git dirs come and go.
        plan = plan_hidden(policy.hide, policy.unhide, keep_visible=policy.writable,
                           exposed=[cwd])
        protected = [*policy.protected]
        for root in policy.writable:
            protected.extend(protected_git_paths(root))
        mounts, chdir = mount_args(plan, policy.writable, _dedupe(protected), cwd)
        return [*args, *mounts, "--chdir", str(chdir)]

    @contextmanager
    def prepared(self, argv: Sequence[str], cwd: Path) -> Iterator[list[str]]:
        """Self-test (first time), then yield the argv to spawn; per-call resources (a pids
        cgroup when running as root) are released on exit."""
        self.ensure_ready()
        with self._spawn_argv(argv, cwd) as full:
            yield full

    @contextmanager
    def _spawn_argv(self, argv: Sequence[str], cwd: Path) -> Iterator[list[str]]:
        wrapped = self.wrap(argv, cwd)
        if not self.enforced or nproc_enforced():
            yield wrapped
            return
        cgroup = PidsCgroup.create(self.policy.limits.max_processes)
        try:
            yield cgroup.enter_argv(wrapped)
        finally:
            cgroup.remove()

    def detached_argv(self, argv: Sequence[str], cwd: Path) -> list[str]:
        """Like `prepared` for a background job: a pids cgroup (root only) lives until it is
        empty, checked at the next detached start, or until kimi-code exits (then its
        processes are killed)."""
        self.ensure_ready()
        wrapped = self.wrap(argv, cwd)
        if not self.enforced or nproc_enforced():
            return wrapped
        _DETACHED[:] = [c for c in _DETACHED if not c.remove_if_empty()]
        cgroup = PidsCgroup.create(self.policy.limits.max_processes)
        _DETACHED.append(cgroup)
        return cgroup.enter_argv(wrapped)

    def describe(self) -> str:
        """One line for logs and /status: mode, roots, network."""
        if not self.enforced:
            return "sandbox off (commands are not confined)"
        roots = ", ".join(shlex.quote(str(r)) for r in self.policy.writable) or "nothing"
        net = "network allowed" if self.policy.network else (
            f"network only to {', '.join(self.policy.allow_domains)}"
            if self.policy.allow_domains else "no network")
        return f"sandbox {self.policy.mode.value}: writable {roots}; {net}"


def sandbox_for_workspace(workspace: Path, extra_dirs: Sequence[Path] = (),
                          mode: SandboxMode | None = None,
                          settings: SandboxConfig | None = None) -> Sandbox:
    """The agent's sandbox for a workspace: mode from the argument, else KIMI_CODE_SANDBOX,
    else workspace-write; network from KIMI_CODE_SANDBOX_NETWORK=1; hiding and the memory
    limit from `settings`, else the user's config file ([sandbox]; a project's never counts).
    ValueError for a bad mode or config."""
    chosen = mode or mode_from_env()
    network = os.environ.get(ENV_NETWORK, "").strip().lower() in {"1", "true", "yes"}
    if settings is None:
        try:
            settings = load_config().sandbox
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    limits = SandboxLimits(max_memory_bytes=settings.memory_mb * 1024 * 1024)
    return Sandbox(SandboxPolicy.for_workspace(workspace, extra_dirs, chosen, network, limits,
                                               hide=settings.hide, unhide=settings.unhide,
                                               allow_domains=settings.allow_domains))


def diagnose() -> tuple[bool, str]:
    """For `kimi-code doctor`: whether the default sandbox (with the user's [sandbox] settings)
    is enforced here, what it hides, and why not."""
    try:
        sandbox = sandbox_for_workspace(Path.cwd(), mode=SandboxMode.WORKSPACE_WRITE)
        sandbox.ensure_ready()
    except (SandboxUnavailable, ValueError) as exc:
        return False, str(exc)
    how = "RLIMIT_NPROC" if nproc_enforced() else "a pids cgroup (running as root)"
    found = locate_bwrap()
    which = found.describe() if found else sandbox.bwrap
    policy = sandbox.policy
    plan = plan_hidden(policy.hide, policy.unhide, keep_visible=policy.writable)
    return True, (f"bubblewrap enforces ({which}): canary write, connect, secret "
                  f"read, host-socket connect, setuid chmod and fork storm blocked; process "
                  f"limit via {how}; hides {len(plan.dirs)} directories and {len(plan.files)} "
                  f"files here (credential stores, kimi-code's own, sockets); memory limit "
                  f"{policy.limits.memory_bytes() // (1024 * 1024)} MiB per process")
