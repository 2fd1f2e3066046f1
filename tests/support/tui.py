"""Fixtures for the TUI tests: a scripted model server, an isolated KIMI_CODE_HOME, a small git
workspace as the current directory, and helpers that wait on the app's own signals."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.scripted_server import ScriptedServer

WAIT_S = 20.0


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with two tracked files, made the current directory."""
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.py").write_text("def main():\n    return 1\n")
    (root / "README.md").write_text("# demo\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run([*git, "add", "."], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=root, check=True)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("KIMI_CODE_HOME", str(path))
    monkeypatch.setenv("KIMI_CODE_NO_REPO_MAP", "1")
    monkeypatch.setenv("KIMI_API_KEY", "x")
    monkeypatch.setenv("KIMI_MODEL_NAME", "test")
    monkeypatch.delenv("KIMI_PROVIDER", raising=False)
    return path


@pytest.fixture
def server(home: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    from kimi_code.safety import trust

    trust.trust(workspace)  # the first-open trust prompt has its own test (test_trust.py)
    with ScriptedServer([]) as s:
        monkeypatch.setenv("KIMI_BASE_URL", s.base_url_openai)
        yield s


def make_app(**kwargs: Any) -> Any:
    from kimi_code.app.interactive import InteractiveSession
    from kimi_code.ui.app import KimiApp

    session = InteractiveSession.create(permission_mode=kwargs.pop("mode", None))
    return KimiApp(session, **kwargs)


async def until(pilot: Any, predicate: Callable[[], bool], what: str = "condition") -> None:
    """Let the app run until `predicate()` holds (its own signals), failing after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.01)


async def type_text(pilot: Any, text: str) -> None:
    """Type into the prompt (insert directly: key-by-key typing is slow and adds nothing)."""
    pilot.app.prompt.insert(text)
    await pilot.pause()


def transcript_text(app: Any) -> str:
    """Everything the transcript shows, as plain text (Markdown as its source)."""
    from textual.widgets import Static

    from kimi_code.ui.widgets.assistant_block import AssistantBlock

    parts = []
    for block in app.transcript.blocks:
        if isinstance(block, AssistantBlock):
            parts.append(block.text)
            continue
        for widget in [block, *block.walk_children()]:
            if isinstance(widget, Static):
                parts.append(str(widget.render()))
    return "\n".join(parts)


def read_edit_script(new: str = "return 2") -> list[dict[str, Any]]:
    """Read src/main.py, then Edit it, then answer."""
    usage = {"input_tokens": 900, "output_tokens": 20}  # fixed, so snapshots are stable
    return [
        {"tool_calls": [{"id": "r1", "name": "Read", "arguments": {"file_path": "src/main.py"}}],
         "usage": usage},
        {"tool_calls": [{"id": "e1", "name": "Edit", "arguments": {
            "file_path": "src/main.py", "old_string": "return 1", "new_string": new}}],
         "usage": usage},
        {"text": "Edited.", "usage": usage},
    ]


def last_request_messages(server: ScriptedServer) -> list[dict[str, Any]]:
    return server.model_bodies()[-1]["messages"]
