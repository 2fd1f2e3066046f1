"""Cost of race-free file I/O and of the per-call git-directory scan (issue 15, classes 2-3).

    .venv/bin/python benchmarks/fs_tools_bench.py [--calls 300] [--tree PATH]

1. Read / Write / Edit through the real tools (fd-verified opens beneath the workspace, temp
   file + renameat in the verified directory) against a by-name baseline doing the same
   work with plain open/os.replace, interleaved so machine noise hits both alike: medians
   and the ratio, with openat2 and with the O_NOFOLLOW walk.
2. `protected_git_paths(root)` (what the sandbox binds read-only before every Bash call) on a
   tree: the first walk, and repeat walks that reuse unchanged directory listings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kimi_code.safety import fs_beneath  # noqa: E402
from kimi_code.safety.git_dirs import protected_git_paths  # noqa: E402
from kimi_code.tools.base import ToolContext  # noqa: E402
from kimi_code.tools.registry import load_tool_class  # noqa: E402


def _by_name(path: Path, i: int) -> None:
    """What the tools did before: realpath, then read, write a temp file (fsync) and replace,
    all by name."""
    real = Path(os.path.realpath(path))
    data = real.read_bytes()
    tmp = real.with_name(f".{real.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data[:-1] + str(i % 10).encode())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, real)


def _verified(root: Path, path: Path, i: int) -> None:
    """The same work through fs_beneath: directory fds verified from the root, read on the
    opened fd, temp file and renameat inside the verified directory."""
    real = Path(os.path.realpath(path))
    with fs_beneath.entry_beneath(root, real) as entry:
        fd = entry.open_read()
        with os.fdopen(fd, "rb") as fh:
            data = fh.read()
        entry.replace(data[:-1] + str(i % 10).encode(), 0o644)


def _open_by_name(path: Path) -> None:
    with open(os.path.realpath(path), "rb") as fh:
        fh.read()


def _open_verified(root: Path, path: Path) -> None:
    with fs_beneath.entry_beneath(root, Path(os.path.realpath(path))) as entry, \
            os.fdopen(entry.open_read(), "rb") as fh:
        fh.read()


def _tools(ctx: ToolContext, i: int) -> None:
    async def run() -> None:
        read, write, edit = (load_tool_class(n)() for n in ("Read", "Write", "Edit"))
        await read.run(read.parse_args({"file_path": "pkg/mod/file.py"}), ctx)
        await write.run(write.parse_args({"file_path": "pkg/mod/file.py",
                                          "content": f"value = {i}\n" * 50}), ctx)
        await edit.run(edit.parse_args({"file_path": "pkg/mod/file.py",
                                        "old_string": f"value = {i}\n" * 50,
                                        "new_string": f"value = {i + 1}\n" * 50}), ctx)
    asyncio.run(run())


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _time(fn: Callable[[int], None], i: int) -> float:
    started = time.perf_counter()
    fn(i)
    return time.perf_counter() - started


def io_overhead(calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp).resolve() / "ws"
        (ws / "pkg" / "mod").mkdir(parents=True)
        target = ws / "pkg" / "mod" / "file.py"
        target.write_text("value = 0\n" * 50)
        os.environ["KIMI_CODE_HOME"] = str(Path(tmp) / "home")
        ctx = ToolContext(workspace=ws)
        for label, disable in (("openat2", False), ("O_NOFOLLOW walk", True)):
            if disable:
                without = object.__new__(fs_beneath._Openat2)
                without._syscall = None
                fs_beneath._openat2 = without
            elif not fs_beneath.openat2_available():
                print("openat2: not available on this kernel")
                continue
            plain = [_time(lambda _: _open_by_name(target), i) for i in range(calls * 5)]
            checked = [_time(lambda _: _open_verified(ws, target), i) for i in range(calls * 5)]
            p, c = _median_ms(plain), _median_ms(checked)
            print(f"open+read ({label}): verified {c * 1000:.0f} us median vs by name "
                  f"{p * 1000:.0f} us (+{(c - p) * 1000:.0f} us, ratio {c / p:.2f}x)")
            base, verified, tools = [], [], []
            for i in range(calls):
                base.append(_time(lambda n: _by_name(target, n), i))
                verified.append(_time(lambda n: _verified(ws, target, n), i))
                tools.append(_time(lambda n: _tools(ctx, n), i))
            b, v, t = _median_ms(base), _median_ms(verified), _median_ms(tools)
            print(f"read+replace ({label}): verified {v:.3f} ms median vs by name {b:.3f} ms "
                  f"(+{v - b:.3f} ms, ratio {v / b:.2f}x); Read+Write+Edit through the tools "
                  f"{t:.2f} ms")
        fs_beneath._openat2 = None


def git_scan(tree: Path, repeats: int) -> None:
    entries = sum(len(d) + len(f) for _, d, f in os.walk(tree))
    first = _time(lambda _: protected_git_paths(tree), 0)
    again = [_time(lambda _: protected_git_paths(tree), i) for i in range(repeats)]
    print(f"protected_git_paths({tree}): {entries} entries, first walk {first * 1000:.1f} ms, "
          f"repeat walk {_median_ms(again):.1f} ms median (ratio {first / statistics.median(again):.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    io_overhead(args.calls)
    git_scan(args.tree, 10)


if __name__ == "__main__":
    main()
