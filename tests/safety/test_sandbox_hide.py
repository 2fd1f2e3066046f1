"""Hiding, configuration and the tools people run, under the real bubblewrap (issue 15, class 5):
what is hidden can be un-hidden, what is added is hidden, a worktree inside kimi-code's hidden
data dir stays writable, the memory limit leaves ordinary work alone, and git, Python, pytest
and node keep working with every layer on (the seccomp filter included)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kimi_code import paths
from kimi_code.config import ConfigError, SandboxConfig, parse_config
from kimi_code.safety import seccomp
from kimi_code.safety.sandbox import (
    Sandbox,
    SandboxLimits,
    SandboxMode,
    SandboxPolicy,
    sandbox_for_workspace,
)
from kimi_code.safety.sandbox_hide import listening_sockets, plan_hidden
from tests.support.sandboxes import bash, make_sandbox

TOKEN = "hide-token-" + uuid.uuid4().hex


@pytest.fixture
def fake_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A HOME with a few stores, under /var/tmp (visible inside the sandbox unless hidden)."""
    root = Path("/var/tmp") / f"kimi-hide-{uuid.uuid4().hex[:10]}"
    for rel in (".ssh/id_rsa", ".config/gh/hosts.yml", "notes/plain.txt", "custom/secret.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"{rel} {TOKEN}\n")
    monkeypatch.setenv("HOME", str(root))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _policy(workspace: Path, **kwargs: object) -> Sandbox:
    return Sandbox(SandboxPolicy.for_workspace(workspace, **kwargs))  # type: ignore[arg-type]


async def test_defaults_hide_and_leave_the_rest(workspace: Path, fake_home: Path) -> None:
    result = await bash(workspace, make_sandbox(workspace),
                        f"cat {fake_home}/notes/plain.txt; cat {fake_home}/.ssh/id_rsa; "
                        f"ls -a {fake_home}/.ssh; echo end")
    assert "notes/plain.txt " + TOKEN in result.content  # ordinary files stay readable
    assert ".ssh/id_rsa " + TOKEN not in result.content and "end" in result.content, result.content


async def test_unhide_and_hide_from_the_config(workspace: Path, fake_home: Path) -> None:
    sandbox = _policy(workspace, unhide=("~/.config/gh",), hide=(str(fake_home / "custom"),))
    result = await bash(workspace, sandbox, f"cat {fake_home}/.config/gh/hosts.yml; "
                        f"cat {fake_home}/custom/secret.txt; cat {fake_home}/.ssh/id_rsa; echo end")
    assert ".config/gh/hosts.yml " + TOKEN in result.content, result.content
    assert "custom/secret.txt " + TOKEN not in result.content
    assert ".ssh/id_rsa " + TOKEN not in result.content


async def test_user_config_reaches_the_agent_sandbox(workspace: Path, fake_home: Path) -> None:
    # sandbox_for_workspace (what the runtime builds) reads [sandbox] from the user's config.
    paths.config_file().write_text('[sandbox]\nunhide = ["~/.ssh"]\nhide = ["~/notes"]\n'
                                   'memory_mb = 300\n')
    sandbox = sandbox_for_workspace(workspace)
    assert sandbox.policy.limits.memory_bytes() == 300 * 1024 * 1024
    result = await bash(workspace, sandbox, f"cat {fake_home}/.ssh/id_rsa {fake_home}/notes/plain.txt;"
                        " python3 -c \"bytearray(600 << 20); print('BIG')\" 2>&1 | tail -1")
    assert ".ssh/id_rsa " + TOKEN in result.content, result.content
    assert "notes/plain.txt " + TOKEN not in result.content and "BIG" not in result.content


def test_config_section_is_validated(tmp_path: Path) -> None:
    config = parse_config('[sandbox]\nhide = ["~/a"]\nunhide = ["~/.kube"]\nmemory_mb = 512\n',
                          tmp_path / "c.toml")
    assert config.sandbox == SandboxConfig(hide=("~/a",), unhide=("~/.kube",), memory_mb=512)
    with pytest.raises(ConfigError, match=r"c.toml:2: sandbox.hidden: unknown key"):
        parse_config("[sandbox]\nhidden = []\n", tmp_path / "c.toml")
    with pytest.raises(ConfigError, match="memory_mb"):
        parse_config("[sandbox]\nmemory_mb = -1\n", tmp_path / "c.toml")
    with pytest.raises(ConfigError, match="list of strings"):
        parse_config("[sandbox]\nhide = [1]\n", tmp_path / "c.toml")


async def test_worktree_inside_the_hidden_data_dir_is_writable(workspace: Path) -> None:
    # Swarm worktrees live under kimi-code's data dir, which is hidden: the root bound on top
    # of the hiding tmpfs stays writable while its siblings (the session database) stay hidden.
    data = paths.ensure_dir(paths.data_dir())
    (data / "sessions.db").write_text(TOKEN)
    tree = data / "worktrees" / "agent-1"
    tree.mkdir(parents=True)
    sandbox = make_sandbox(workspace).for_root(tree)
    result = await bash(tree, sandbox, f"echo made > made.txt; cat {data}/sessions.db; pwd")
    assert (tree / "made.txt").read_text() == "made\n", result.content
    assert TOKEN not in result.content and str(tree) in result.content


async def test_memory_limit_leaves_ordinary_work_alone(workspace: Path) -> None:
    limits = SandboxLimits(max_memory_bytes=256 * 1024 * 1024)
    sandbox = make_sandbox(workspace, limits=limits)
    result = await bash(workspace, sandbox, "python3 -c \"b = bytearray(64 << 20); print('OK64')\";"
                        " dd if=/dev/zero of=/tmp/f bs=1M count=64 2>/dev/null && echo TMP64")
    assert "OK64" in result.content and "TMP64" in result.content, result.content


TOOLS = ("git init -q t && cd t && echo x > f && git add f && "
         "git -c user.name=a -c user.email=a@b commit -qm m && git log --oneline | wc -l && cd .. && "
         "python3 -m venv /tmp/v && /tmp/v/bin/python -c 'print(\"venv-ok\")' && "
         "printf 'def test_a():\\n    assert 1\\n' > test_a.py && "
         "{python} -m pytest -q -p no:cacheprovider test_a.py 2>&1 | tail -1 && "
         "python3 -c 'import multiprocessing as m; print(\"pool\", m.Pool(2).map(abs, [-3]))' && "
         "python3 -c 'import asyncio; asyncio.run(asyncio.sleep(0)); print(\"asyncio-ok\")' && "
         "python3 -c 'import socket; a, b = socket.socketpair(); a.send(b\"p\"); print(\"pair\", b.recv(1))'")


@pytest.mark.parametrize("network", [False, True], ids=["no-network", "network"])
async def test_everyday_tools_work_with_every_layer(workspace: Path, network: bool) -> None:
    import sys

    command = TOOLS.format(python=sys.executable)
    if shutil.which("node"):
        command += (" && node -e 'require(\"child_process\").exec(\"echo node-child\","
                    " (e, o) => console.log(o.trim()))'")
    # The interpreter running these tests (and its pytest) may live under /tmp, which is private
    # inside the sandbox (a CI clone in /tmp): make its prefix visible, as --add-dir would.
    sandbox = make_sandbox(workspace, network=network, extra=(Path(sys.prefix).resolve(),))
    result = await bash(workspace, sandbox, command, timeout_ms=120_000)
    for expected in ("venv-ok", "1 passed", "pool [3]", "asyncio-ok", "pair b'p'"):
        assert expected in result.content, result.content
    assert "node-child" in result.content or not shutil.which("node")


async def test_unix_sockets_inside_the_sandbox_without_network(workspace: Path) -> None:
    # Without network the sandbox's own UNIX sockets work (a test server, multiprocessing's
    # Manager); only the host's are out of reach.
    result = await bash(workspace, make_sandbox(workspace),
                        "python3 -c 'import multiprocessing as m; print(\"manager\", "
                        "m.Manager().list([7]))'")
    assert "manager [7]" in result.content, result.content


def test_run_symlinks_are_recreated() -> None:
    plan = plan_hidden()
    run = Path("/run")
    if run not in plan.dirs:
        pytest.skip("/run is not hidden on this machine (no such directory)")
    links = {link for _, link in plan.symlinks}
    expected = {run / e.name for e in run.iterdir() if e.is_symlink()}
    assert links == expected


def test_listening_sockets_are_parsed(tmp_path: Path) -> None:
    table = tmp_path / "unix"
    table.write_text("Num       RefCount Protocol Flags    Type St Inode Path\n"
                     "0000: 00000002 00000000 00010000 0001 01 1 /run/a.sock\n"
                     "0000: 00000002 00000000 00010000 0001 01 2 @abstract\n"
                     "0000: 00000003 00000000 00000000 0001 03 3\n"
                     "0000: 00000002 00000000 00010000 0001 01 4 /var/x y.sock\n")
    assert listening_sockets(str(table)) == [Path("/run/a.sock"), Path("/var/x y.sock")]


def test_seccomp_programs_for_each_architecture() -> None:
    for machine in ("x86_64", "aarch64"):
        for unix in (False, True):
            code = seccomp.program(unix, machine)
            assert len(code) % 8 == 0 and 8 < len(code) // 8 < 4096
    assert seccomp.program(True, "x86_64") != seccomp.program(False, "x86_64")
    with pytest.raises(seccomp.SeccompUnsupported):
        seccomp.program(False, "riscv64")


async def test_read_only_mode_keeps_the_layers(workspace: Path, fake_home: Path) -> None:
    sandbox = make_sandbox(workspace, mode=SandboxMode.READ_ONLY)
    result = await bash(workspace, sandbox, f"cat {fake_home}/.ssh/id_rsa; touch s; chmod u+s s;"
                        " echo end")
    assert TOKEN not in result.content and "end" in result.content
    assert not (workspace / "s").exists()


async def test_unwritable_cache_is_a_tool_error(workspace: Path, home: Path) -> None:
    # kimi-code's cache (the seccomp filter, the blank that covers files) cannot be made: the
    # Bash call fails as a tool error saying so, and nothing runs.
    from kimi_code.safety.sandbox import SandboxUnavailable
    from kimi_code.tools.base import ToolError

    (home / "cache").write_text("not a directory")
    with pytest.raises(ToolError) as info:
        await bash(workspace, make_sandbox(workspace), "echo ran > ran.txt")
    assert isinstance(info.value, SandboxUnavailable) and "cannot prepare" in str(info.value)
    assert not (workspace / "ran.txt").exists()
