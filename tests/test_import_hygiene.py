"""`kimi-code --help` and `kimi-code run` must load neither Textual nor torch (fast start, and the
core never depends on the UI or the engine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.cli_runs import base_env
from tests.support.scripted_server import ScriptedServer

HEAVY = ("textual", "torch", "triton", "kimi_engine", "transformers")

PROBE = f"""
import json, sys
from kimi_code.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))
sys.stderr.write('HEAVY=' + json.dumps(heavy) + '\\n')
"""


def _loaded(args: list[str], cwd: Path, env: dict[str, str]) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)
    line = [x for x in proc.stderr.splitlines() if x.startswith("HEAVY=")]
    assert line, proc.stderr
    return json.loads(line[-1][len("HEAVY="):])


def test_help_loads_no_heavy_modules(tmp_path: Path) -> None:
    assert _loaded(["--help"], tmp_path, base_env(tmp_path)) == []


def test_run_loads_no_heavy_modules(tmp_path: Path) -> None:
    with ScriptedServer([{"tool_calls": [{"name": "Read", "arguments": {"file_path": "x.txt"}}]},
                         {"text": "done"}]) as server:
        (tmp_path / "x.txt").write_text("hello\n")
        env = base_env(tmp_path / "home", server)
        assert _loaded(["run", "read x.txt"], tmp_path, env) == []
        assert len(server.model_bodies()) == 2  # the run really happened


def test_core_never_imports_textual() -> None:
    code = ("import sys, kimi_code.cli, kimi_code.app.run, kimi_code.app.run_session, "
            "kimi_code.agent.loop, kimi_code.app.interactive, kimi_code.ui.plain; "
            "print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
