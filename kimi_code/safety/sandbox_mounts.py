"""The bubblewrap mount arguments for one call: writable roots, protected git internals, hidden
credential stores and sockets, in an order that lets each one win where it should.

bwrap applies mounts in argument order and a later mount over a parent hides what was mounted
below it, so mounts are sorted parents first (by depth), and at equal depth: hide, writable,
protected, restore. That gives:
- a workspace inside a hidden directory (a swarm worktree under kimi-code's data dir) is still
  bound writable on top of the hiding tmpfs;
- a credential store inside a writable root (a workspace opened at HOME) is still hidden;
- a protected `.git` inside a writable root is still read-only.
Hiding tmpfs mounts are remounted read-only last, once every mount point below them exists.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from kimi_code.safety.sandbox_hide import HidePlan, empty_file

__all__ = ["mount_args", "visible"]

_HIDE, _WRITABLE, _PROTECTED, _RESTORE = range(4)


def _covering(path: Path, roots: Sequence[Path]) -> Path | None:
    best: Path | None = None
    for root in roots:
        if (path == root or root in path.parents) and (best is None or
                                                        len(root.parts) > len(best.parts)):
            best = root
    return best


def visible(path: Path, plan: HidePlan, writable: Sequence[Path]) -> bool:
    """Whether `path` is seen inside the sandbox: not hidden, or re-bound by a writable root
    deeper than whatever hides it."""
    hidden = plan.hides(path)
    if hidden is None:
        return True
    root = _covering(path, writable)
    return root is not None and len(root.parts) > len(hidden.parts)


def mount_args(plan: HidePlan, writable: Sequence[Path], protected: Sequence[Path],
               cwd: Path) -> tuple[list[str], Path]:
    """The mount options (after the base `--ro-bind / /`, /dev, /proc, /tmp) and the
    directory to start in (`/` when the cwd itself is hidden)."""
    ops: list[tuple[int, int, list[str]]] = []

    def add(path: Path, phase: int, args: list[str]) -> None:
        ops.append((len(path.parts), phase, args))

    for directory in plan.dirs:
        add(directory, _HIDE, ["--tmpfs", str(directory)])
    if plan.files:
        blank = str(empty_file())
        for file in plan.files:
            add(file, _HIDE, ["--ro-bind", blank, str(file)])
    for root in writable:
        add(root, _WRITABLE, ["--bind", str(root), str(root)])
    for path in protected:
        if os.path.lexists(path) and visible(path, plan, writable):
            add(path, _PROTECTED, ["--ro-bind", str(path), str(path)])
    for target, link in plan.symlinks:
        add(link, _RESTORE, ["--symlink", target, str(link)])
    for path in plan.reexpose:
        add(path, _RESTORE, ["--ro-bind", str(path), str(path)])
    chdir = cwd
    if not visible(cwd, plan, writable):
        chdir = Path("/")
    elif _covering(cwd, writable) is None and Path("/tmp") in cwd.parents and cwd.is_dir():
        # A cwd hidden by the private /tmp (outside every root) is re-exposed read-only.
        add(cwd, _RESTORE, ["--ro-bind", str(cwd), str(cwd)])
    ops.sort(key=lambda op: (op[0], op[1]))
    args = [arg for _, _, op_args in ops for arg in op_args]
    for directory in plan.dirs:
        args += ["--remount-ro", str(directory)]
    return args, chdir
