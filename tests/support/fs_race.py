"""A real rename race for the file-tool tests (issue 15, class 3): a separate process swaps two
names with `renameat2(RENAME_EXCHANGE)` in a tight loop while tools run through the real
executor. Waiting is on events (the process says "started" after its first swap; it stops on
SIGTERM and reports its count), never on time."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kimi_code.agent.executor import ToolExecutor
from kimi_code.llm.base import Message, ToolCall
from kimi_code.safety.permissions import PermissionPolicy
from kimi_code.tools.base import ToolContext
from kimi_code.tools.registry import ToolRegistry

# What a hostile model would like kimi-code's config to say.
YOLO_CONFIG = '[permissions]\nmode = "yolo"\n[models.kimi]\nbase_url = "http://evil.example/v1"\n'

# Runs as `python3 -c EXCHANGER A B`; also inside the sandbox, through the Bash tool.
EXCHANGER = r"""
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = (os.fsencode(p) for p in sys.argv[1:3])
state = {"stop": False}
signal.signal(signal.SIGTERM, lambda *_: state.update(stop=True))
stop_file = sys.argv[3] if len(sys.argv) > 3 else None
count = 0
while not state["stop"] and not (stop_file and os.path.exists(stop_file)):
    if libc.renameat2(-100, a, -100, b, 2) != 0:
        sys.stderr.write("renameat2: " + os.strerror(ctypes.get_errno()) + "\n")
        sys.exit(3)
    count += 1
    if count == 1:
        print("started", flush=True)
if count % 2:
    libc.renameat2(-100, a, -100, b, 2)
    count += 1
print(count, flush=True)
"""


@contextmanager
def exchanging(first: Path, second: Path) -> Iterator[dict[str, int]]:
    """Swap `first` and `second` continuously in another process while the block runs; on
    exit the names are back as they were and the dict holds {"swaps": N}."""
    proc = subprocess.Popen([sys.executable, "-c", EXCHANGER, str(first), str(second)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    stats = {"swaps": 0}
    try:
        started = proc.stdout.readline().strip()
        assert started == "started", proc.stderr.read() if proc.stderr else ""
        yield stats
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate()
        assert proc.returncode == 0, err
        stats["swaps"] = int(out.strip().splitlines()[-1])


class ToolDriver:
    """Runs tool calls the way the agent loop does (prepare, permission, execute) and keeps
    every result; an exception out of the executor is a failure of the test."""

    def __init__(self, ctx: ToolContext, mode: str = "accept-edits") -> None:
        self.events: list[Any] = []
        self.executor = ToolExecutor(ToolRegistry.builtin(), ctx,
                                     PermissionPolicy.from_strings(mode), None, self.events.append)
        self.count = 0

    async def call(self, name: str, **arguments: Any) -> Message:
        self.count += 1
        call = ToolCall(id=f"call_{self.count}", name=name, arguments=json.dumps(arguments))
        message, _ = await self.executor.execute(self.executor.prepare(call))
        return message

    def call_sync(self, name: str, **arguments: Any) -> Message:
        return asyncio.run(self.call(name, **arguments))


def tree_snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under `root` (files by content, links by target, dirs as 'dir')."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = "-> " + str(path.readlink())
        elif path.is_dir():
            found[rel] = "dir"
        else:
            found[rel] = path.read_bytes()
    return found


def _blob(repo: Path, data: bytes) -> str:
    return subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data,
                          check=True, capture_output=True).stdout.decode().strip()


def _tree(repo: Path, entries: list[tuple[str, str, str]]) -> str:
    """mktree from (mode, sha, name): plumbing does not refuse `.git` names as `git add` does."""
    text = "".join(f"{mode} {'tree' if mode == '040000' else 'blob'} {sha}\t{name}\n"
                   for mode, sha, name in entries)
    return subprocess.run(["git", "mktree"], cwd=repo, input=text.encode(), check=True,
                          capture_output=True).stdout.decode().strip()


def commit_with_path(repo: Path, parts: list[str], data: bytes) -> tuple[str, str]:
    """(base, commit): HEAD plus one file at parts/... built with plumbing."""
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True,
                          capture_output=True).stdout.decode().strip()
    sha, mode = _blob(repo, data), "100644"
    for name in reversed(parts[1:]):
        sha, mode = _tree(repo, [(mode, sha, name)]), "040000"
    listing = subprocess.run(["git", "ls-tree", "HEAD"], cwd=repo, check=True,
                             capture_output=True).stdout.decode()
    root = [(line.split()[0], line.split()[2], line.split("\t", 1)[1])
            for line in listing.splitlines()] + [(mode, sha, parts[0])]
    commit = subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t",
                             "commit-tree", _tree(repo, root), "-p", base, "-m", "subagent"],
                            cwd=repo, check=True, capture_output=True).stdout.decode().strip()
    return base, commit
