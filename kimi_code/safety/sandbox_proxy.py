"""A network allowlist for sandboxed commands: `[sandbox] allow_domains = [...]`.

Without network a sandboxed command has its own, empty network namespace. With an allowlist it
still has, and reaches the outside only through an HTTPS proxy of ours:

- kimi-code runs `DomainProxy` on a UNIX socket (a private directory under /tmp, threads): it
  answers `CONNECT host:port` for allowed hosts only (exact names, `*.suffix` patterns), and
  refuses everything else (plain-HTTP proxying would let one connection name several hosts).
  An allowed *name* that resolves to a loopback, private, link-local or otherwise non-public
  address is refused too (DNS rebinding into the host's own services); an address is reached
  only when the allowlist names that literal address.
- inside the sandbox the socket is bound at FORWARD_SOCKET, and a small forwarder started
  before the command (it binds first, then detaches, so the command never races it) listens on
  127.0.0.1:FORWARD_PORT of the sandbox's namespace; HTTPS_PROXY/HTTP_PROXY point at it. pip,
  npm, curl and git over https honour those variables.
"""

from __future__ import annotations

import collections
import fnmatch
import ipaddress
import os
import shlex
import socket
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

__all__ = ["FORWARDER", "FORWARD_PORT", "FORWARD_SOCKET", "DomainProxy", "host_allowed",
           "proxy_for", "sandbox_proxy_args"]

FORWARD_PORT = 3128
FORWARD_SOCKET = "/tmp/.kimi-code-proxy.sock"
_MAX_HEAD = 8192
_MAX_CONNECTIONS = 64

# Runs inside the sandbox: argv = port, socket path. Binds, then forks: the parent's exit tells
# the prologue the port is listening.
FORWARDER = r"""
import os, socket, sys, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(64)
if os.fork():
    os._exit(0)
def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    conn, _ = srv.accept()
    up = socket.socket(socket.AF_UNIX)
    try:
        up.connect(sys.argv[2])
    except OSError:
        conn.close()
        continue
    threading.Thread(target=pipe, args=(conn, up), daemon=True).start()
    threading.Thread(target=pipe, args=(up, conn), daemon=True).start()
"""


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """Whether `host` (a name or a literal address) matches the allowlist."""
    host = host.lower().rstrip(".")
    for pattern in allowed:
        pattern = pattern.lower().strip().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and fnmatch.fnmatchcase(host, pattern):
                return True
        elif host.strip("[]") == pattern.strip("[]"):
            return True
    return False


def _valid_host(host: str) -> bool:
    if _literal(host) is not None:
        return True
    labels = host.rstrip(".").split(".")
    return 0 < len(host) <= 253 and all(
        label and len(label) <= 63 and all(c.isalnum() or c == "-" for c in label)
        and label.isascii() for label in labels)


def parse_connect(head: bytes) -> tuple[str, int] | str:
    """(host, port) from a `CONNECT host:port HTTP/1.x` request head, else why not."""
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return "400 Bad Request"
    if parts[0] != "CONNECT":
        return "405 Method Not Allowed"
    host, sep, port = parts[1].rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not _valid_host(host):
        return "400 Bad Request"
    return host.strip("[]").lower(), int(port)


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return ip.is_global and not ip.is_multicast


class DomainProxy:
    """The host side: an allowlisting CONNECT proxy on a UNIX socket, served by threads."""

    def __init__(self, allowed: Sequence[str]) -> None:
        self.allowed = tuple(allowed)
        self._dir = tempfile.mkdtemp(prefix="kimi-proxy-")
        self.path = Path(self._dir) / "s"
        self._server = socket.socket(socket.AF_UNIX)
        self._server.bind(str(self.path))
        self._server.listen(_MAX_CONNECTIONS)
        self._slots = threading.BoundedSemaphore(_MAX_CONNECTIONS)
        self.refused: collections.deque[str] = collections.deque(maxlen=100)  # latest refusals
        threading.Thread(target=self._serve, name="kimi-sandbox-proxy", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                conn.close()
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        upstream: socket.socket | str = "400 Bad Request"
        try:
            conn.settimeout(30)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < _MAX_HEAD:
                chunk = conn.recv(_MAX_HEAD)
                if not chunk:
                    return
                head += chunk
            upstream = self._open(head)
            if isinstance(upstream, str):
                conn.sendall(f"HTTP/1.1 {upstream}\r\nContent-Length: 0\r\n"
                             "Connection: close\r\n\r\n".encode())
                return
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            rest = head.split(b"\r\n\r\n", 1)[1]
            if rest:
                upstream.sendall(rest)
            conn.settimeout(None)
            threading.Thread(target=_pipe, args=(upstream, conn), daemon=True).start()
            _pipe(conn, upstream)
        except OSError:
            pass
        finally:
            conn.close()
            if isinstance(upstream, socket.socket):
                upstream.close()
            self._slots.release()

    def _open(self, head: bytes) -> socket.socket | str:
        """A connection to the requested host, or the HTTP status refusing it."""
        target = parse_connect(head)
        if isinstance(target, str):
            self.refused.append(head.split(b"\r\n", 1)[0].decode("latin-1")[:200])
            return target
        host, port = target
        if not host_allowed(host, self.allowed):
            self.refused.append(f"{host}:{port} (not in allow_domains)")
            return "403 Forbidden"
        literal = _literal(host) is not None
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            return "502 Bad Gateway"
        # IPv4 and IPv6 socket addresses start with the address as a string.
        addresses = [info[4][0] for info in infos
                     if info[0] in (socket.AF_INET, socket.AF_INET6) and isinstance(info[4][0], str)]
        if not literal and (bad := [a for a in addresses if not _public(a)]):
            self.refused.append(f"{host}:{port} resolves to {bad[0]} (not a public address)")
            return "403 Forbidden"
        for address in addresses:
            try:
                return socket.create_connection((address, port), timeout=30)
            except OSError:
                continue
        return "502 Bad Gateway"

    def close(self) -> None:
        self._server.close()
        self.path.unlink(missing_ok=True)
        try:
            os.rmdir(self._dir)
        except OSError:
            pass


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    for sock in (src, dst):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


_PROXIES: dict[tuple[str, ...], DomainProxy] = {}
_LOCK = threading.Lock()


def proxy_for(allowed: Sequence[str]) -> DomainProxy:
    """The process's proxy for this allowlist (started on first use, kept until exit)."""
    key = tuple(sorted(allowed))
    with _LOCK:
        proxy = _PROXIES.get(key)
        if proxy is None or not proxy.path.exists():
            proxy = _PROXIES[key] = DomainProxy(key)
        return proxy


PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                   "all_proxy")


def sandbox_proxy_args(allowed: Sequence[str], python: str) -> tuple[list[str], str]:
    """The bwrap options (the proxy socket bound in, the proxy variables set) and the prologue
    step that starts the forwarder with `python` before the command runs."""
    proxy = proxy_for(allowed)
    url = f"http://127.0.0.1:{FORWARD_PORT}"
    args = ["--bind", str(proxy.path), FORWARD_SOCKET]
    for name in PROXY_VARIABLES:
        args += ["--setenv", name, url]
    args += ["--setenv", "KIMI_CODE_FORWARDER", FORWARDER]
    step = (f'{shlex.quote(python)} -I -S -c "$KIMI_CODE_FORWARDER" {FORWARD_PORT} '
            f"{FORWARD_SOCKET} </dev/null >/dev/null 2>&1 || {{ echo 'kimi-code: the sandbox "
            "network proxy did not start' >&2; exit 126; }; unset KIMI_CODE_FORWARDER; ")
    return args, step
