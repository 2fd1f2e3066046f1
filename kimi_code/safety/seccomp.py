"""The sandbox's seccomp filter: a classic-BPF program handed to bubblewrap (`--seccomp FD`).

It is assembled here with `struct` (a few dozen instructions) rather than through libseccomp,
which would need a system library a fresh machine may not have. What it denies, and why:

- setuid/setgid bits: chmod/fchmod/fchmodat/fchmodat2 with S_ISUID|S_ISGID in the mode, and
  open/openat/creat/mknod/mknodat creating a file with them. A setuid file left in the workspace
  outlives the sandbox (and kimi-code may run as root). `openat2` hides its mode behind a
  pointer BPF cannot read, so it answers ENOSYS (libc and runtimes fall back to openat).
- io_uring (its operations bypass seccomp entirely) and the kernel keyring (add_key, keyctl,
  request_key: the session keyring is shared with the user's other processes).
- other syscall ABIs: i386 (`int 0x80`) and x32 numbers would skip every check above, so on
  x86_64 they are refused outright.
- optionally `socket(AF_UNIX, ...)`: used when the sandbox shares the host network namespace,
  where the host's abstract sockets (containerd, X11, D-Bus) would otherwise be reachable.
  `socketpair` stays allowed: it only connects a process with itself.

Denied calls fail with EPERM (ENOSYS for openat2 and foreign ABIs); nothing is killed, so a tool
that tries sees an ordinary error.
"""

from __future__ import annotations

import errno
import hashlib
import os
import platform
import struct
from dataclasses import dataclass
from pathlib import Path

from kimi_code import paths

__all__ = ["SeccompUnsupported", "filter_file", "program"]

# Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
_LD_ABS_W = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K

_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_X32_BIT = 0x40000000

# struct seccomp_data: int nr; u32 arch; u64 ip; u64 args[6] (little-endian: low word first).
_NR, _ARCH = 0, 4


def _arg_low(index: int) -> int:
    return 16 + 8 * index


_SETID_BITS = 0o6000  # S_ISUID | S_ISGID
_CREATE_FLAGS = 0o100 | 0o20000000  # O_CREAT | __O_TMPFILE
_AF_UNIX = 1


@dataclass(frozen=True)
class _Abi:
    audit_arch: int
    mode_arg: dict[int, int]  # syscall -> index of a mode argument checked for setid bits
    create_mode: dict[int, tuple[int, int]]  # open-like syscall -> (flags index, mode index)
    denied: tuple[int, ...]  # refused with EPERM
    enosys: tuple[int, ...]  # refused with ENOSYS (callers fall back)
    socket: int
    rejects_x32: bool


_X86_64 = _Abi(
    audit_arch=0xC000003E,
    # chmod, fchmod, fchmodat, fchmodat2, mknod, mknodat
    mode_arg={90: 1, 91: 1, 268: 2, 452: 2, 133: 1, 259: 2},
    # open, openat, creat (creat always creates: flags index -1)
    create_mode={2: (1, 2), 257: (2, 3), 85: (-1, 1)},
    denied=(425, 426, 427, 248, 249, 250),  # io_uring_*, add_key, request_key, keyctl
    enosys=(437,),  # openat2
    socket=41,
    rejects_x32=True,
)
_AARCH64 = _Abi(
    audit_arch=0xC00000B7,
    mode_arg={52: 1, 53: 2, 452: 2, 33: 2},  # fchmod, fchmodat, fchmodat2, mknodat
    create_mode={56: (2, 3)},  # openat
    denied=(425, 426, 427, 217, 218, 219),
    enosys=(437,),
    socket=198,
    rejects_x32=False,
)
_ABIS = {"x86_64": _X86_64, "amd64": _X86_64, "aarch64": _AARCH64, "arm64": _AARCH64}


class SeccompUnsupported(RuntimeError):
    """No filter is defined for this machine's architecture."""


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def _block(nr: int, body: list[bytes]) -> list[bytes]:
    """`if nr == <nr>: body` where body ends in returns (falls through to the next block)."""
    return [_ins(_LD_ABS_W, _NR), _ins(_JEQ_K, nr, 0, len(body)), *body]


def _mode_check(index: int, deny: int) -> list[bytes]:
    return [_ins(_LD_ABS_W, _arg_low(index)), _ins(_JSET_K, _SETID_BITS, 0, 1),
            _ins(_RET_K, deny), _ins(_RET_K, _RET_ALLOW)]


def _create_check(flags_index: int, mode_index: int, deny: int) -> list[bytes]:
    if flags_index < 0:
        return _mode_check(mode_index, deny)
    check = _mode_check(mode_index, deny)
    return [_ins(_LD_ABS_W, _arg_low(flags_index)), _ins(_JSET_K, _CREATE_FLAGS, 0, len(check)),
            *check, _ins(_RET_K, _RET_ALLOW)]


def program(deny_unix_sockets: bool = False, machine: str | None = None) -> bytes:
    """The filter as raw `struct sock_filter` records for this (or the named) architecture."""
    abi = _ABIS.get((machine or platform.machine()).lower())
    if abi is None:
        raise SeccompUnsupported(f"no seccomp filter for architecture {machine or platform.machine()}")
    eperm, enosys = _RET_ERRNO | errno.EPERM, _RET_ERRNO | errno.ENOSYS
    out = [_ins(_LD_ABS_W, _ARCH), _ins(_JEQ_K, abi.audit_arch, 1, 0), _ins(_RET_K, enosys)]
    if abi.rejects_x32:
        out += [_ins(_LD_ABS_W, _NR), _ins(_JGE_K, _X32_BIT, 0, 1), _ins(_RET_K, enosys)]
    for nr, index in abi.mode_arg.items():
        out += _block(nr, _mode_check(index, eperm))
    for nr, (flags_index, mode_index) in abi.create_mode.items():
        out += _block(nr, _create_check(flags_index, mode_index, eperm))
    for nr in abi.denied:
        out += _block(nr, [_ins(_RET_K, eperm)])
    for nr in abi.enosys:
        out += _block(nr, [_ins(_RET_K, enosys)])
    if deny_unix_sockets:
        out += _block(abi.socket, [_ins(_LD_ABS_W, _arg_low(0)), _ins(_JEQ_K, _AF_UNIX, 0, 1),
                                   _ins(_RET_K, eperm), _ins(_RET_K, _RET_ALLOW)])
    out.append(_ins(_RET_K, _RET_ALLOW))
    if len(out) > 4096:  # BPF_MAXINSNS
        raise SeccompUnsupported("seccomp program too long")
    return b"".join(out)


_WRITTEN: dict[Path, int] = {}  # filter files this process wrote or checked -> size


def filter_file(deny_unix_sockets: bool = False) -> Path:
    """The compiled filter in kimi-code's cache (named by its content, written once), for
    bubblewrap to read through `--seccomp FD`. The cache is hidden inside the sandbox."""
    code = program(deny_unix_sockets)
    name = f"seccomp-{hashlib.sha256(code).hexdigest()[:16]}.bpf"
    path = paths.cache_dir() / "sandbox" / name
    try:
        # Checked in full once per process; after that a stat (it is on every Bash call).
        if _WRITTEN.get(path) == os.stat(path).st_size or path.read_bytes() == code:
            _WRITTEN[path] = len(code)
            return path
    except OSError:
        pass
    paths.ensure_dir(path.parent)
    tmp = path.with_name(f".{name}.{os.getpid()}")
    tmp.write_bytes(code)
    os.replace(tmp, path)
    _WRITTEN[path] = len(code)
    return path
