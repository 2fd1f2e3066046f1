"""Dependency hygiene: kimi_engine never imports kimi_code, and its text-side modules (tokenizer,
chat template, parsers) load without torch so callers can reuse them cheaply."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine" / "kimi_engine"


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, timeout=120, check=True)
    return set(out.stdout.split())


def test_text_modules_do_not_import_torch() -> None:
    mods = _modules_after("import kimi_engine.tokenizer, kimi_engine.chat_template, kimi_engine.parsers")
    assert "torch" not in mods and "kimi_code" not in mods


def test_full_engine_does_not_import_kimi_code() -> None:
    mods = _modules_after("import kimi_engine.engine, kimi_engine.cli, kimi_engine.convert, kimi_engine.plan")
    assert not any(m == "kimi_code" or m.startswith("kimi_code.") for m in mods)
    for source in ENGINE.glob("*.py"):
        assert "kimi_code" not in source.read_text(), source
