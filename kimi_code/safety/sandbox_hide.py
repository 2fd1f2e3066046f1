"""What the sandbox hides: credential stores and host sockets (issue 15, class 5).

The sandbox sees the host filesystem read-only, which is enough to stop writes but not reads or
connections: `cat ~/.aws/credentials` reads, and connecting to a UNIX socket needs no write
access to the mount it lives on (`/var/run/docker.sock` on a read-only bind still answers). So,
re-evaluated for every call (stores and sockets appear and go):

- credential stores under HOME (`~/.ssh`, `~/.aws`, `~/.gnupg`, `~/.netrc`, ...), the ones the
  user's environment names (`AWS_SHARED_CREDENTIALS_FILE`, `KUBECONFIG`, ...), and kimi-code's
  own config, data (session database, trust store) and cache directories are covered: a
  directory by an empty read-only tmpfs, a file by an empty read-only file;
- host sockets: `/run` (and `$XDG_RUNTIME_DIR`) become an empty tmpfs (its symlinks, such as
  `/run/shm`, are recreated, and `/etc/resolv.conf` is bound back when it lives there); every
  listening socket the host lists in `/proc/net/unix`, and the sockets the environment names
  (`SSH_AUTH_SOCK`, `DOCKER_HOST`, D-Bus addresses), are covered by an empty file. `/tmp` is
  private already. Abstract sockets live in the network namespace, which is unshared unless
  network is allowed (then the seccomp filter refuses `socket(AF_UNIX)`: see seccomp.py).

`[sandbox] hide = [...]` adds paths; `[sandbox] unhide = [...]` takes a default one off (e.g.
"~/.config/gh" for a workflow that runs `gh` inside the sandbox).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kimi_code import paths

__all__ = ["HOME_SECRETS", "HidePlan", "empty_file", "plan_hidden"]

# Relative to HOME. Directories and files alike; whichever exists is covered.
HOME_SECRETS: tuple[str, ...] = (
    ".ssh", ".aws", ".gnupg", ".netrc", ".git-credentials", ".config/git/credentials",
    ".config/gh", ".config/hub", ".config/glab-cli", ".docker", ".kube", ".pypirc", ".npmrc",
    ".yarnrc", ".yarnrc.yml", ".config/gcloud", ".azure", ".oci", ".config/doctl",
    ".terraform.d/credentials.tfrc.json", ".vault-token", ".password-store",
    ".local/share/keyrings", ".pki", ".cargo/credentials", ".cargo/credentials.toml",
    ".gem/credentials", ".m2/settings.xml", ".m2/settings-security.xml",
    ".gradle/gradle.properties", ".ivy2/.credentials", ".composer/auth.json",
    ".config/composer/auth.json", ".config/containers/auth.json", ".config/rclone",
    ".s3cfg", ".boto", ".pgpass", ".my.cnf", ".kaggle", ".huggingface",
    ".cache/huggingface/token", ".config/op", ".mozilla", ".config/google-chrome",
    ".config/chromium", ".bash_history", ".zsh_history", ".python_history", ".psql_history",
    ".mysql_history", ".lesshst", ".wget-hsts",
)
# Environment variables naming credential files or directories (KUBECONFIG is a list).
SECRET_PATH_VARS = ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "GNUPGHOME",
                    "GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "AZURE_CONFIG_DIR",
                    "DOCKER_CONFIG", "GH_CONFIG_DIR", "NETRC", "PASSWORD_STORE_DIR",
                    "KUBECONFIG", "REGISTRY_AUTH_FILE", "HF_TOKEN_PATH")
# Sockets outside /run that well-known daemons use (LXD's gives root to whoever connects).
KNOWN_SOCKETS = ("/var/snap/lxd/common/lxd/unix.socket", "/var/lib/lxd/unix.socket",
                 "/var/lib/docker/docker.sock")


@dataclass(frozen=True)
class HidePlan:
    """Mounts that hide things: `dirs` get an empty read-only tmpfs, `files` an empty file;
    `symlinks` (target, path) are recreated inside a hidden dir and `reexpose` bound back."""

    dirs: tuple[Path, ...]
    files: tuple[Path, ...]
    symlinks: tuple[tuple[str, Path], ...] = ()
    reexpose: tuple[Path, ...] = ()

    def hides(self, path: Path) -> Path | None:
        """The hidden dir or file that covers `path` (the deepest), or None."""
        best: Path | None = None
        for hidden in (*self.dirs, *self.files):
            if (path == hidden or hidden in path.parents) and (
                    best is None or len(hidden.parts) > len(best.parts)):
                best = hidden
        return best


def _expand(raw: str | Path, home: Path) -> Path:
    path = Path(os.path.expanduser(str(raw)))
    return path if path.is_absolute() else home / path


def _resolved(path: Path) -> Path | None:
    """The real path of something that exists, else None."""
    if not os.path.lexists(path):
        return None
    real = Path(os.path.realpath(path))
    return real if os.path.lexists(real) else None


def _env_paths(env: Mapping[str, str]) -> list[Path]:
    found: list[Path] = []
    for name in SECRET_PATH_VARS:
        for part in env.get(name, "").split(os.pathsep):
            if part.strip():
                found.append(Path(os.path.expanduser(part.strip())))
    return found


def _socket_from_address(value: str) -> str | None:
    """The filesystem path in `unix:path=/x,guid=..`, `unix:///x` or a bare `/x`."""
    value = value.strip()
    if value.startswith("unix://"):
        return value.removeprefix("unix://") or None
    if value.startswith("unix:"):
        for item in value.removeprefix("unix:").split(","):
            if item.startswith("path="):
                return item.removeprefix("path=")
        return None
    return value if value.startswith("/") else None


def _env_sockets(env: Mapping[str, str]) -> list[Path]:
    found: list[Path] = []
    for name in ("SSH_AUTH_SOCK", "DOCKER_HOST", "CONTAINER_HOST", "DBUS_SESSION_BUS_ADDRESS",
                 "DBUS_SYSTEM_BUS_ADDRESS", "PULSE_SERVER", "GPG_AGENT_INFO"):
        for part in env.get(name, "").split(";"):
            if (path := _socket_from_address(part.split(":")[0] if name == "GPG_AGENT_INFO"
                                             else part)):
                found.append(Path(path))
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and env.get("WAYLAND_DISPLAY"):
        found.append(Path(runtime) / env["WAYLAND_DISPLAY"])
    return found


def listening_sockets(table: str = "/proc/net/unix") -> list[Path]:
    """Filesystem paths of the UNIX sockets bound in our network namespace (abstract ones,
    written with a leading '@', are left to the network namespace)."""
    try:
        with open(table, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()[1:]
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split(None, 7)
        if len(fields) == 8 and fields[7].startswith("/"):
            found.append(Path(fields[7]))
    return found


def _runtime_dirs(env: Mapping[str, str]) -> list[Path]:
    dirs = [Path("/run"), Path("/var/run")]
    if env.get("XDG_RUNTIME_DIR"):
        dirs.append(Path(env["XDG_RUNTIME_DIR"]))
    return dirs


def _candidates(env: Mapping[str, str], home: Path, extra: Iterable[str | Path]) -> list[str]:
    prefix = f"{home}/"
    found = [prefix + rel for rel in HOME_SECRETS]
    found += map(str, _env_paths(env))
    found += map(str, (paths.config_dir(), paths.data_dir(), paths.cache_dir()))
    found += (str(_expand(raw, home)) for raw in extra)
    found += map(str, _runtime_dirs(env))
    return found


def _sockets(env: Mapping[str, str]) -> list[str]:
    return [*map(str, _env_sockets(env)), *KNOWN_SOCKETS, *map(str, listening_sockets())]


def _private(path: str, exposed: Sequence[str]) -> bool:
    """Under /tmp, which the sandbox replaces with its own, and not in a directory bound back
    into it (a workspace or cwd under /tmp): a socket there is out of reach."""
    return path.startswith("/tmp/") and not any(
        path == d or path.startswith(d.rstrip("/") + "/") for d in exposed)


def _existing(candidates: Iterable[str]) -> list[str]:
    """The candidates that exist (one lstat each: most of the defaults do not)."""
    found = []
    for candidate in candidates:
        try:
            os.lstat(candidate)
        except (OSError, ValueError):
            continue
        found.append(candidate)
    return found


def plan_hidden(extra: Sequence[str | Path] = (), unhide: Sequence[str | Path] = (),
                keep_visible: Sequence[Path] = (), env: Mapping[str, str] | None = None,
                exposed: Sequence[Path] = ()) -> HidePlan:
    """The hide mounts for one call. A path equal to a `keep_visible` root (a workspace the user
    chose to open there) stays visible. Sockets under /tmp are private already unless inside
    one of the `exposed` directories bound into the sandbox (roots, the cwd)."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home())
    skip = {p for raw in unhide if (p := _resolved(_expand(raw, home))) is not None}
    skip |= {_expand(raw, home) for raw in unhide}
    skip |= set(keep_visible)
    dirs: dict[Path, None] = {}
    files: dict[Path, None] = {}
    bound = [str(p) for p in (*keep_visible, *exposed)]
    candidates = _candidates(env, home, extra) + [
        s for s in _sockets(env) if not _private(s, bound)]
    for candidate in map(Path, _existing(candidates)):
        if candidate in skip or (real := _resolved(candidate)) is None or real in skip:
            continue
        if real in (Path("/"), Path("/tmp")):
            continue
        mode = os.stat(real).st_mode if os.path.exists(real) else 0
        (dirs if stat.S_ISDIR(mode) else files)[real] = None
    # Something inside a hidden dir is hidden already (its mount point would not even exist),
    # unless a visible root lies between the two.
    outer = HidePlan(tuple(dirs), ())
    kept_dirs = tuple(d for d in dirs if not _covered(d, outer, keep_visible, itself=False))
    plan = HidePlan(kept_dirs, ())
    kept_files = tuple(f for f in files if not _covered(f, plan, keep_visible, itself=True))
    plan = HidePlan(kept_dirs, kept_files)
    return HidePlan(plan.dirs, plan.files, *_restore_run_entries(plan))


def _covered(path: Path, plan: HidePlan, roots: Sequence[Path], itself: bool) -> bool:
    """Whether a hidden dir of `plan` (other than `path` unless `itself`) covers `path` with
    no root of `roots` in between."""
    for hidden in plan.dirs:
        if hidden in path.parents or (itself and hidden == path):
            if not any(hidden in r.parents and (r == path or r in path.parents) for r in roots):
                return True
    return False


def _restore_run_entries(plan: HidePlan) -> tuple[tuple[tuple[str, Path], ...], tuple[Path, ...]]:
    """Symlinks directly inside hidden runtime dirs (e.g. /run/shm, NixOS's
    /run/current-system) and the resolver config, which may live under /run."""
    symlinks: list[tuple[str, Path]] = []
    for runtime in (Path("/run"),):
        if runtime not in plan.dirs:
            continue
        try:
            entries = list(os.scandir(runtime))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_symlink():
                    symlinks.append((os.readlink(entry.path), Path(entry.path)))
            except OSError:  # gone since the listing
                continue
    reexpose: list[Path] = []
    for config in ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf"):
        real = _resolved(Path(config))
        if real is not None and real != Path(config) and plan.hides(real) is not None \
                and os.path.isfile(real):
            reexpose.append(real)
    return tuple(symlinks), tuple(reexpose)


def empty_file() -> Path:
    """An empty, read-only file that covers hidden files (kept in kimi-code's cache)."""
    path = paths.cache_dir() / "sandbox" / "empty"
    try:
        info = os.lstat(path)
        if stat.S_ISREG(info.st_mode) and info.st_size == 0:
            return path
        path.unlink()
    except FileNotFoundError:
        pass
    paths.ensure_dir(path.parent)
    path.touch(mode=0o444)
    return path
