"""The network allowlist (`[sandbox] allow_domains`), under the real bubblewrap: a sandboxed
command without network reaches an allowed host through kimi-code's proxy (HTTPS_PROXY points
at a forwarder inside the sandbox), with curl and with raw CONNECT, and nothing else."""

from __future__ import annotations

import http.server
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kimi_code.config import parse_config
from kimi_code.safety.sandbox import Sandbox, SandboxMode, SandboxPolicy
from kimi_code.safety.sandbox_proxy import host_allowed, parse_connect
from tests.support.sandboxes import bash

BODY = b"hello-from-the-allowed-host"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def allowlisted(workspace: Path, *allowed: str) -> Sandbox:
    return Sandbox(SandboxPolicy.for_workspace(workspace, (), SandboxMode.WORKSPACE_WRITE,
                                               False, allow_domains=allowed))


def connect_script(target: str, request: str = "GET / HTTP/1.0\r\n\r\n") -> str:
    """Python run inside the sandbox: CONNECT `target` through $HTTPS_PROXY, then `request`."""
    code = ("import os,socket; u=os.environ['HTTPS_PROXY'].rsplit(':',1); "
            "s=socket.create_connection(('127.0.0.1', int(u[1])), 5); "
            f"s.sendall(b'CONNECT {target} HTTP/1.1\\r\\nHost: {target}\\r\\n\\r\\n'); "
            "head=s.recv(4096); print('PROXY', head.split(b'\\r\\n')[0].decode()); "
            f"s.sendall({request.encode()!r}) if b' 200 ' in head else None; "
            "print('BODY', b''.join(iter(lambda: s.recv(4096), b'')).split(b'\\r\\n\\r\\n')[-1]"
            ".decode()) if b' 200 ' in head else None")
    return f'python3 -c "{code}" 2>&1'


async def test_allowed_host_is_reached_through_the_proxy(workspace: Path, home: Path,
                                                         web: http.server.ThreadingHTTPServer) -> None:
    port = web.server_address[1]
    result = await bash(workspace, allowlisted(workspace, "127.0.0.1"),
                        connect_script(f"127.0.0.1:{port}") + "; echo $HTTPS_PROXY")
    assert "PROXY HTTP/1.1 200" in result.content, result.content
    assert BODY.decode() in result.content
    assert "http://127.0.0.1:3128" in result.content


async def test_curl_through_the_proxy(workspace: Path, home: Path,
                                      web: http.server.ThreadingHTTPServer) -> None:
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    port = web.server_address[1]
    result = await bash(workspace, allowlisted(workspace, "127.0.0.1"),
                        f"curl -s -m 10 -p http://127.0.0.1:{port}/ 2>&1")
    assert BODY.decode() in result.content, result.content


async def test_without_allowlist_there_is_no_proxy(workspace: Path, home: Path,
                                                   web: http.server.ThreadingHTTPServer) -> None:
    sandbox = Sandbox(SandboxPolicy.for_workspace(workspace))
    result = await bash(workspace, sandbox, "echo proxy=[$HTTPS_PROXY]; ls -a /tmp")
    assert "proxy=[]" in result.content and ".kimi-code-proxy.sock" not in result.content


def test_allow_domains_config_and_matching(tmp_path: Path) -> None:
    config = parse_config('[sandbox]\nallow_domains = ["pypi.org", "*.pythonhosted.org"]\n',
                          tmp_path / "c.toml")
    assert config.sandbox.allow_domains == ("pypi.org", "*.pythonhosted.org")
    allowed = config.sandbox.allow_domains
    assert host_allowed("pypi.org", allowed) and host_allowed("PyPI.org.", allowed)
    assert host_allowed("files.pythonhosted.org", allowed)
    for host in ("pythonhosted.org", "evilpypi.org", "pypi.org.evil.test", "evil-pythonhosted.org"):
        assert not host_allowed(host, allowed), host
    assert parse_connect(b"CONNECT pypi.org:443 HTTP/1.1\r\n\r\n") == ("pypi.org", 443)
    assert parse_connect(b"CONNECT [::1]:443 HTTP/1.1\r\n\r\n") == ("::1", 443)
    for bad in (b"CONNECT u@pypi.org:443 HTTP/1.1", b"CONNECT pypi.org HTTP/1.1",
                b"CONNECT pypi.org:0 HTTP/1.1", b"CONNECT pypi.org/x:443 HTTP/1.1"):
        assert parse_connect(bad + b"\r\n\r\n") == "400 Bad Request", bad
    assert parse_connect(b"GET http://pypi.org/ HTTP/1.1\r\n\r\n") == "405 Method Not Allowed"


def test_listener_socket_is_private(workspace: Path, home: Path) -> None:
    from kimi_code.safety.sandbox_proxy import proxy_for

    proxy = proxy_for(("127.0.0.1",))
    assert proxy.path.parent.stat().st_mode & 0o077 == 0
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(str(proxy.path))
        client.sendall(b"CONNECT evil.test:443 HTTP/1.1\r\n\r\n")
        assert client.recv(100).startswith(b"HTTP/1.1 403")
