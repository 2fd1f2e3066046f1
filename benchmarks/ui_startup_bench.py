"""Time to the first frame of the TUI (process start -> first refresh on screen, headless), and
to "session open", against a bare Textual app measured the same way. Prints figures and the
ratio (no thresholds).

    .venv/bin/python benchmarks/ui_startup_bench.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

OURS = """
import time
from kimi_code.app.interactive import InteractiveSession
from kimi_code.ui.app import KimiApp

class Probe(KimiApp):
    def on_mount(self):
        self.call_after_refresh(lambda: print("FRAME", flush=True))
        super().on_mount()
        self.set_interval(0.005, self._ready_probe)

    def _ready_probe(self):
        if self.ready:
            print("READY", flush=True)
            self.exit(0)

Probe(InteractiveSession.create()).run(headless=True)
"""

BARE = """
from textual.app import App
from textual.widgets import Static

class Bare(App):
    def compose(self):
        yield Static("hello")
    def on_mount(self):
        self.call_after_refresh(lambda: (print("FRAME", flush=True), self.exit()))

Bare().run(headless=True)
"""


def measure(code: str, env: dict[str, str], cwd: str) -> dict[str, float]:
    """Seconds from spawning the interpreter to each marker line."""
    script = Path(env["KIMI_CODE_HOME"]) / "probe.py"  # a file: Textual locates CSS via source
    script.write_text(code)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=cwd)
    marks: dict[str, float] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        marks[line.strip()] = time.perf_counter() - started
    proc.wait(timeout=60)
    if proc.returncode != 0 or "FRAME" not in marks:
        raise SystemExit(f"probe failed (exit {proc.returncode}): {marks}")
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "KIMI_CODE_HOME": home, "KIMI_API_KEY": "x", "KIMI_MODEL_NAME": "m",
               "KIMI_BASE_URL": "http://127.0.0.1:9/v1", "KIMI_CODE_NO_REPO_MAP": "1",
               "PYTHONPATH": str(ROOT)}
        # Trust the workspace first (in the temporary home) so the first-open trust prompt does
        # not wait for an answer; the timing covers a returning user's start.
        subprocess.run([sys.executable, "-c", "from pathlib import Path; from kimi_code.safety import trust; "
                        f"trust.trust(Path({str(ROOT)!r}))"], env=env, check=True)
        measure(BARE, env, str(ROOT))  # warm the OS file cache and bytecode
        measure(OURS, env, str(ROOT))
        ours = [measure(OURS, env, str(ROOT)) for _ in range(args.runs)]
        bare = [measure(BARE, env, str(ROOT)) for _ in range(args.runs)]
    frame = statistics.median(m["FRAME"] for m in ours) * 1000
    ready = statistics.median(m["READY"] for m in ours) * 1000
    base = statistics.median(m["FRAME"] for m in bare) * 1000
    print(f"runs: {args.runs} each, medians (process spawn included)")
    print(f"bare Textual app, first frame : {base:7.0f} ms")
    print(f"kimi-code TUI, first frame    : {frame:7.0f} ms   ratio vs bare {frame / base:.2f}x")
    print(f"kimi-code TUI, session open   : {ready:7.0f} ms")


if __name__ == "__main__":
    main()
