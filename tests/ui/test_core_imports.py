"""Only kimi_code.ui imports Textual: the CLI, headless mode and the agent never do."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import kimi_code.cli, kimi_code.app.run, kimi_code.agent.loop, kimi_code.app.interactive
import kimi_code.ui, kimi_code.ui.plain, kimi_code.ui.render, kimi_code.ui.history
import kimi_code.ui.mentions, kimi_code.ui.config_edit, kimi_code.ui.prices
bad = sorted(m for m in sys.modules if m == "textual" or m.startswith("textual."))
print("LOADED:" + ",".join(bad))
import kimi_code.ui.app
print("AFTER:" + str("textual" in sys.modules))
"""


def test_core_never_imports_textual() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert "LOADED:\n" in out, out  # nothing of textual before the TUI itself is imported
    assert "AFTER:True" in out  # and the probe does see it once the app module is imported
