"""Automatic checkpoint gc: the cheap check made when a session starts, and nothing more.

This module is imported on every session start, so it stays light (no GitPython, no config):
deciding costs one or two `stat` calls. When a workspace's shadow store has not been collected
for a day, the collection runs in a detached child process (`python -m
kimi_code.git.checkpoints.auto WORKSPACE --protect SESSION`), started a few seconds later and at
low priority, so the session never waits for it except for the short spells in which the child
holds the store lock (a snapshot taken then waits, as it waits for another session's snapshot).

"Once a day" is tracked by the mtime of `<store>/last-gc`; a store without it counts from its
creation (the `workspace` file written when the store is made), so a fresh store is not
collected on its first day.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from kimi_code.git.checkpoints.layout import LOG_NAME, STAMP_NAME, store_dir
from kimi_code.safety.secrets import child_env

GC_INTERVAL_S = 24 * 3600
DISABLE_ENV = "KIMI_CODE_NO_CHECKPOINT_GC"
START_DELAY_S = 5.0             # let the session get going before the gc's Python starts


def gc_due(base: Path, now: float | None = None) -> bool:
    """True when the store at `base` exists and was last collected (or created) a day ago or
    more. A missing store is never due: there is nothing to collect."""
    now = time.time() if now is None else now
    for name in (STAMP_NAME, "workspace"):
        try:
            return now - (base / name).stat().st_mtime >= GC_INTERVAL_S
        except FileNotFoundError:
            continue
    return False


def schedule_auto_gc(workspace: Path, session_id: str, *, delay: float | None = None
                     ) -> subprocess.Popen[bytes] | None:
    """Start the daily collection of `workspace`'s store in the background when it is due.

    Called at session start. Returns the child process (tests wait on it) or None when nothing
    was started (not due, disabled, or the spawn failed: gc is housekeeping and never stops a
    session). The stamp is touched before the spawn, so sessions starting together start one
    collection, and a collection that crashes is retried a day later, not on every start.
    The child sleeps `delay` seconds (default START_DELAY_S) in a shell before Python even
    starts, so its interpreter start-up does not compete with the session's own start."""
    if os.environ.get(DISABLE_ENV) or os.environ.get("KIMI_CODE_NO_CHECKPOINTS"):
        return None
    base = store_dir(workspace)
    if not gc_due(base):
        return None
    try:
        stamp = base / STAMP_NAME
        stamp.touch()
        os.utime(stamp)
        log = open(base / LOG_NAME, "wb")  # noqa: SIM115 - handed to the child, closed below
    except OSError:
        return None
    wait = START_DELAY_S if delay is None else delay
    args = ["/bin/sh", "-c", 'sleep "$0" && exec "$@"', f"{wait:.3f}", sys.executable, "-m",
            "kimi_code.git.checkpoints.auto", str(Path(workspace).resolve()), "--protect",
            session_id]
    try:
        with log:
            # the allowlisted child environment: a detached gc has no use for API keys
            proc = subprocess.Popen(args, cwd=base, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=log, env=child_env(),
                                    start_new_session=True, close_fds=True)
    except OSError:
        return None
    # Reap the child when it ends so a long interactive session collects no zombies; the
    # thread is a daemon, and the child (its own session) outlives us if we exit first.
    threading.Thread(target=proc.wait, name="checkpoint-gc-reaper", daemon=True).start()
    return proc


def auto_main(workspace: Path, protect: str) -> int:
    """The detached run: low priority, policy from config, quiet. The result goes into the
    stamp file as JSON; errors to stderr (the store's gc.log). Heavy imports happen here only."""
    from kimi_code.config import ConfigError, load_config
    from kimi_code.git.checkpoints.gc import Policy, collect, record_run

    try:
        os.nice(10)
    except OSError:
        pass
    try:
        config = load_config()
    except ConfigError as exc:  # a broken config: the session reports it; gc just waits
        print(f"checkpoint gc skipped: {exc}", file=sys.stderr)
        return 0
    if not config.checkpoints.auto_gc:
        return 0
    record_run(collect(store_dir(workspace), Policy.from_config(config.checkpoints),
                       protect={protect} if protect else set()))
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m kimi_code.git.checkpoints.auto")
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--protect", default="", metavar="SESSION")
    opts = parser.parse_args(argv)
    return auto_main(opts.workspace, opts.protect)


if __name__ == "__main__":
    sys.exit(main())
