"""`kimi-code serve` hands its flags to the engine launcher (the real command, as a subprocess)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
KIMI = REPO / ".venv" / "bin" / "kimi-code"

pytestmark = pytest.mark.skipif(not KIMI.exists(), reason="needs the installed .venv/bin/kimi-code")


def kimi_serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KIMI), "serve", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ})


def test_expert_parallel_reaches_the_launcher(tiny_path: Path) -> None:
    # One GPU cannot split experts: the launcher's own check answers, so the flag got through.
    result = kimi_serve("--model", str(tiny_path), "--expert-parallel", "--port", "0")
    assert result.returncode == 2
    assert "--expert-parallel" in result.stderr and "--gpus 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_model_is_a_usage_error() -> None:
    env_free = kimi_serve("--model", "/nonexistent/checkpoint")
    assert env_free.returncode == 2
    assert "/nonexistent/checkpoint" in env_free.stderr and "Traceback" not in env_free.stderr


def test_engine_serve_shutdown_grace_flag(tiny_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kimi_engine import launch
    from kimi_engine.cli import main

    seen: list[float] = []
    monkeypatch.setattr(launch, "serve_main", lambda path, host, port, gpus, opts: seen.append(opts.shutdown_grace) or 0)
    assert main(["serve", str(tiny_path), "--shutdown-grace", "2.5"]) == 0
    assert seen == [2.5]
    assert main(["serve", str(tiny_path), "--shutdown-grace", "-1"]) == 1  # refused, not served
    assert seen == [2.5]
