"""`kimi-code checkpoints list|gc`: what the shadow checkpoint stores hold, and collecting them.

`list` shows, per session of this workspace's store, how many checkpoints it has, the newest,
and the bytes only that session holds (about what dropping it frees). `gc` applies the
retention policy of `[checkpoints]` in config.toml (checkpoints_gc.py) and prints what was (or,
with --dry-run, would be) dropped and the bytes freed; --all-workspaces does every store and
removes the stores of workspaces that no longer exist.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypedDict

from kimi_code.git.checkpoints.auto import STAMP_NAME, store_dir
from kimi_code.git.checkpoints.gc import (
    GcReport,
    Policy,
    SessionChain,
    collect,
    measure_sizes,
    read_chains,
    record_run,
    store_bytes,
)
from kimi_code.git.checkpoints.stores import (
    StoreInfo,
    list_stores,
    remove_store,
    sweep_trash,
    trash_leftovers,
)
from kimi_code.git.repo import GitError, workspace_root


def human(n: int) -> str:
    """Bytes as B / KiB / MiB / GiB with one decimal."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _policy() -> Policy:
    from kimi_code.config import load_config

    return Policy.from_config(load_config().checkpoints)


def _last_gc(base: Path) -> str:
    try:
        data = json.loads((base / STAMP_NAME).read_text(encoding="utf-8"))
        return _when(datetime.fromisoformat(data["finished"]))
    except (OSError, ValueError, KeyError, TypeError):
        return "never"


# ---- list ----------------------------------------------------------------------------------


def _chain_dict(chain: SessionChain) -> dict[str, object]:
    return {"session_id": chain.session_id, "checkpoints": chain.count,
            "oldest": chain.oldest.isoformat(), "newest": chain.newest.isoformat(),
            "bytes": chain.size}


def _list_here(as_json: bool) -> int:
    workspace = workspace_root()
    base = store_dir(workspace)
    chains = read_chains(base)
    live = measure_sizes(base, chains) if chains else 0
    total = store_bytes(base) if base.exists() else 0
    if as_json:
        print(json.dumps({"workspace": str(workspace), "store": str(base), "bytes": total,
                          "live_bytes": live, "sessions": [_chain_dict(c) for c in chains]},
                         indent=2))
        return 0
    if not chains:
        print(f"No checkpoints for {workspace} yet.")
        return 0
    print(f"Checkpoints of {workspace}  (store {base}, {human(total)})")
    print(f"{'SESSION':<28} {'CHECKPOINTS':>11}  {'NEWEST':<16}  ONLY IN THIS SESSION")
    for chain in chains:
        print(f"{chain.session_id:<28} {chain.count:>11}  {_when(chain.newest):<16}  "
              f"{human(chain.size or 0)}")
    print(f"{len(chains)} session(s), {sum(c.count for c in chains)} checkpoint(s). "
          f"Policy: {_policy().describe()}. Last gc: {_last_gc(base)}.")
    return 0


class _StoreRow(TypedDict):
    """One line of `checkpoints list --all-workspaces` (and its --json object)."""

    workspace: str | None
    store: str
    exists: bool
    bytes: int
    sessions: int
    checkpoints: int


def _list_all(as_json: bool) -> int:
    rows: list[_StoreRow] = []
    for info in list_stores():
        chains = read_chains(info.base)
        rows.append({"workspace": info.workspace, "store": str(info.base),
                     "exists": info.exists, "bytes": info.bytes, "sessions": len(chains),
                     "checkpoints": sum(c.count for c in chains)})
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("No checkpoint stores.")
        return 0
    for row in rows:
        state = "" if row["exists"] else "  (workspace gone: `checkpoints gc --all-workspaces`)"
        print(f"{row['workspace'] or '(unknown workspace)'}  {row['sessions']} session(s), "
              f"{row['checkpoints']} checkpoint(s), {human(row['bytes'])}{state}")
    print(f"{len(rows)} store(s), {human(sum(r['bytes'] for r in rows))} in all.")
    return 0


def checkpoints_list_main(all_workspaces: bool = False, as_json: bool = False) -> int:
    """Entry point of `kimi-code checkpoints list` (0 ok, 1 git failure, 2 config error)."""
    return _guarded(lambda: _list_all(as_json) if all_workspaces else _list_here(as_json))


# ---- gc ------------------------------------------------------------------------------------


def _print_report(report: GcReport, dry_run: bool) -> None:
    verb = "would drop" if dry_run else "dropped"
    if report.dropped:
        count = sum(d.chain.count for d in report.dropped)
        print(f"{report.workspace}: {verb} {len(report.dropped)} session(s), {count} "
              "checkpoint(s):")
        for drop in report.dropped:
            c = drop.chain
            print(f"  {c.session_id}  {c.count} checkpoint(s), newest {_when(c.newest)}  "
                  f"-- {drop.reason}")
    else:
        print(f"{report.workspace}: nothing to drop ({len(report.sessions)} session(s) kept).")
    if dry_run:
        print(f"  would free about {human(report.freed)} ({human(report.bytes_before)} -> about "
              f"{human(report.bytes_after)}; an estimate, repacking usually frees more)")
    else:
        print(f"  freed {human(report.freed)} ({human(report.bytes_before)} -> "
              f"{human(report.bytes_after)})")
    for note in report.notes:
        print(f"  note: {note}")


def _gc_here(dry_run: bool) -> int:
    workspace = workspace_root()
    base = store_dir(workspace)
    if not (base / "repo" / "HEAD").exists():
        print(f"No checkpoints for {workspace}; nothing to collect.")
        return 0
    report = collect(base, _policy(), dry_run=dry_run)
    record_run(report)
    _print_report(report, dry_run)
    return 0


def _remove_orphan(info: StoreInfo, dry_run: bool) -> int:
    verb = "would remove" if dry_run else "removed"
    print(f"{info.workspace}: workspace no longer exists; {verb} its store "
          f"({human(info.bytes)}, {info.base})")
    if not dry_run:
        remove_store(info.base)
    return info.bytes


def _gc_all(dry_run: bool) -> int:
    policy = _policy()
    freed = 0
    leftovers = trash_leftovers()
    if leftovers:
        size = sum(store_bytes(p) for p in leftovers)
        print(f"{'would delete' if dry_run else 'deleted'} {len(leftovers)} interrupted "
              f"removal(s) ({human(size)})")
        freed += size if dry_run else sweep_trash()
    for info in list_stores():
        if info.orphan:
            freed += _remove_orphan(info, dry_run)
        elif info.workspace is None:
            print(f"{info.base}: no workspace recorded; left alone")
        else:
            report = collect(info.base, policy, dry_run=dry_run)
            record_run(report)
            _print_report(report, dry_run)
            freed += report.freed
    print(f"{'Would free about' if dry_run else 'Freed'} {human(freed)} in all.")
    return 0


def checkpoints_gc_main(dry_run: bool = False, all_workspaces: bool = False) -> int:
    """Entry point of `kimi-code checkpoints gc` (0 ok, 1 git failure, 2 config error)."""
    return _guarded(lambda: _gc_all(dry_run) if all_workspaces else _gc_here(dry_run))


def _guarded(action: Callable[[], int]) -> int:
    from kimi_code.config import ConfigError

    try:
        return action()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (GitError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
