"""Garbage collection of a workspace's checkpoint store (see checkpoints.py for the store).

The unit of retention is a session's chain (`refs/kimi/sessions/<id>`): checkpoint ids must stay
valid for `rewind --to`, so a chain is never cut in the middle (that would rewrite every later
commit). A session is kept when it is among the `keep_sessions` most recently active sessions of
the workspace, when its newest checkpoint is younger than `keep_days`, when it is the session
starting now, or when a live process holds it. Then, while the store is over `max_bytes`, the
oldest remaining sessions are dropped first (never the newest one).

Dropping = deleting the chain refs in one `update-ref --stdin` transaction (each ref is either
there or gone after a crash; objects are untouched) and emptying the store's reflogs, under the
store lock; then `git repack -A -d` without the lock (it deletes nothing, so snapshots may run
beside it), then, under the lock again, `git prune --expire=now`, so the objects really go and
no snapshot can be between writing an object and referencing it while they do. gc sees the
shadow index as GIT_INDEX_FILE, so the blobs the index points at (the last snapshot's) always
stay. A crash at any point leaves a valid store (checkpoints_io.py says how lock files a killed
step leaves behind are recovered).

The daily background run that session start launches is in auto.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from kimi_code.git.checkpoints.io import (
    gc_step,
    held_flock,
    store_bytes,
    store_git,
    store_lock,
    store_workspace,
)
from kimi_code.git.checkpoints.layout import STAMP_NAME

if TYPE_CHECKING:  # the type only: this module does not load config
    from kimi_code.config import CheckpointsConfig

SESSIONS_PREFIX = "refs/kimi/sessions/"
LATEST_REF = "refs/kimi/latest"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Policy:
    """What a collection keeps. `max_bytes` 0 means no size cap."""

    keep_days: int = 30
    keep_sessions: int = 20
    max_bytes: int = 1024 * MIB

    @classmethod
    def from_config(cls, config: CheckpointsConfig) -> Policy:
        """From the `[checkpoints]` settings."""
        return cls(keep_days=config.keep_days, keep_sessions=config.keep_sessions,
                   max_bytes=config.max_size_mb * MIB)

    def describe(self) -> str:
        cap = f"{self.max_bytes // MIB} MiB" if self.max_bytes else "no size cap"
        return f"keep the last {self.keep_sessions} sessions and {self.keep_days} days; {cap}"


@dataclass
class SessionChain:
    """One session's checkpoints in a store. `size` (bytes only this session holds, i.e. about
    what dropping it frees) is measured on demand by `measure_sizes`."""

    ref: str
    session_id: str
    tip: str
    count: int
    oldest: datetime
    newest: datetime
    size: int | None = None


@dataclass
class Drop:
    chain: SessionChain
    reason: str


@dataclass
class GcReport:
    """What a collection of one store did (or, `applied` False, would do)."""

    base: Path
    workspace: str
    sessions: list[SessionChain]
    dropped: list[Drop] = field(default_factory=list)
    bytes_before: int = 0
    bytes_after: int = 0          # measured after the gc; in a dry run an estimate
    applied: bool = False
    notes: list[str] = field(default_factory=list)
    protected: set[str] = field(default_factory=set)  # never dropped (starting or in use)

    @property
    def freed(self) -> int:
        return max(0, self.bytes_before - self.bytes_after)


# ---- reading a store -----------------------------------------------------------------------


def _parse_time(value: object, fallback: int) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return datetime.fromtimestamp(fallback, UTC)


def read_chains(base: Path) -> list[SessionChain]:
    """Every session chain in the store, most recently active first. One `git log` over all
    chains (they share no commits, so `--source` names each commit's chain)."""
    if not (base / "repo" / "HEAD").exists():
        return []
    out = store_git(base, "log", "--source", f"--glob={SESSIONS_PREFIX}*",
               "--format=%S%x1f%H%x1f%ct%x1f%B%x1e")
    chains: dict[str, SessionChain] = {}
    for record in out.split("\x1e"):
        record = record.strip("\n")
        if not record:
            continue
        ref, commit, ctime, body = record.split("\x1f", 3)
        try:
            meta = json.loads(body)
        except json.JSONDecodeError:
            meta = {}
        when = _parse_time(meta.get("created"), int(ctime))
        chain = chains.get(ref)
        if chain is None:  # log lists each chain's tip before its ancestors
            sid = str(meta.get("session_id") or ref[len(SESSIONS_PREFIX):])
            chains[ref] = SessionChain(ref, sid, commit, 1, when, when)
            continue
        chain.count += 1
        chain.oldest, chain.newest = min(chain.oldest, when), max(chain.newest, when)
    return sorted(chains.values(), key=lambda c: c.newest, reverse=True)


def _object_sizes(base: Path) -> dict[str, int]:
    out = store_git(base, "cat-file", "--batch-all-objects",
               "--batch-check=%(objectname) %(objectsize:disk)")
    sizes = {}
    for line in out.splitlines():
        oid, _, size = line.partition(" ")
        sizes[oid] = int(size)
    return sizes


def _owners(base: Path, order: list[SessionChain]) -> tuple[dict[str, int], dict[str, int]]:
    """For each object reachable from a chain: how many chains reach it, and the position in
    `order` of the last chain that does. Objects the shadow index needs count as owned by a
    position past the end (they are never freed)."""
    counts: dict[str, int] = {}
    last: dict[str, int] = {}
    for pos, chain in enumerate(order):
        for line in store_git(base, "rev-list", "--objects", chain.tip).splitlines():
            oid = line.split(" ", 1)[0]
            counts[oid] = counts.get(oid, 0) + 1
            last[oid] = pos
    for entry in store_git(base, "ls-files", "-s", "-z", check=False).split("\0"):
        parts = entry.split(" ", 2)
        if len(parts) == 3:
            last[parts[1]] = len(order)
    return counts, last


def measure_sizes(base: Path, chains: list[SessionChain]) -> int:
    """Fill each chain's `size` (bytes of objects no other chain reaches) and return the bytes
    of all objects reachable from any chain or the index (the store's live data)."""
    sizes = _object_sizes(base)
    counts, last = _owners(base, chains)
    for chain in chains:
        chain.size = 0
    for oid, pos in last.items():
        if pos < len(chains) and counts.get(oid) == 1:
            chains[pos].size = (chains[pos].size or 0) + sizes.get(oid, 0)
    return sum(sizes.get(oid, 0) for oid in last)


# ---- deciding ------------------------------------------------------------------------------


def sessions_in_use(session_ids: list[str]) -> set[str]:
    """Sessions a live process holds (their flock in `<data>/locks`, see session/lock.py).
    Read from /proc/locks so that looking never takes the lock itself (a session starting at
    that instant would see itself "in use"); without /proc, an existing lock file counts."""
    from kimi_code import paths

    lock_dir = paths.data_dir() / "locks"
    inodes: dict[int, str] = {}
    for sid in session_ids:
        try:
            inodes[(lock_dir / f"{sid}.lock").stat().st_ino] = sid
        except (OSError, ValueError):
            continue
    if not inodes:
        return set()
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return set(inodes.values())
    held: set[str] = set()
    for line in table.splitlines():
        for token in line.split():
            if token.count(":") == 2:  # major:minor:inode
                inode = token.rsplit(":", 1)[1]
                if inode.isdigit() and int(inode) in inodes:
                    held.add(inodes[int(inode)])
    return held


def retention_drops(chains: list[SessionChain], policy: Policy, protect: set[str],
                    now: datetime | None = None) -> list[Drop]:
    """The chains the retention rules drop. `chains` most recently active first (as
    `read_chains` returns them); the first is always kept."""
    now = now or datetime.now(UTC)
    horizon = now - timedelta(days=policy.keep_days)
    drops = []
    for rank, chain in enumerate(chains):
        if rank < max(1, policy.keep_sessions) or chain.newest >= horizon \
                or chain.session_id in protect:
            continue
        drops.append(Drop(chain, f"older than {policy.keep_days} days and not among the last "
                                 f"{policy.keep_sessions} sessions"))
    return drops


def cap_drops(base: Path, kept: list[SessionChain], policy: Policy, protect: set[str],
              overhead: int) -> tuple[list[Drop], int]:
    """Oldest-first drops that bring the store under `policy.max_bytes`. `kept` most recently
    active first; the newest and protected sessions are never dropped. Returns the drops and the
    estimated store size after them (live object bytes + `overhead`, the non-object files)."""
    droppable = [c for c in reversed(kept[1:]) if c.session_id not in protect]  # oldest first
    fixed = [c for c in kept if c.session_id in protect or c is kept[0]]
    order = droppable + fixed  # objects of fixed chains get positions nobody drops past
    sizes = _object_sizes(base)
    _counts, last = _owners(base, order)
    freed_by = [0] * (len(order) + 1)
    for oid, pos in last.items():
        freed_by[pos] += sizes.get(oid, 0)
    size = sum(freed_by) + overhead
    drops: list[Drop] = []
    for pos, chain in enumerate(droppable):
        if not policy.max_bytes or size <= policy.max_bytes:
            break
        size -= freed_by[pos]
        drops.append(Drop(chain, f"store over the {policy.max_bytes // MIB} MiB size cap "
                                 "(oldest dropped first)"))
    return drops, size


# ---- changing ------------------------------------------------------------------------------


def delete_chains(base: Path, drops: list[Drop], kept: list[SessionChain]) -> None:
    """Delete the dropped chains' refs in one transaction (each guarded by the tip we read, so a
    chain that grew meanwhile is not deleted), and point refs/kimi/latest at the newest kept
    chain when it pointed into a dropped one."""
    if not drops:
        return
    lines = ["start"] + [f"delete {d.chain.ref} {d.chain.tip}" for d in drops]
    latest = store_git(base, "rev-parse", "-q", "--verify", LATEST_REF, check=False).strip()
    if latest:
        holders = set(store_git(base, "for-each-ref", "--format=%(refname)", "--contains", latest,
                           SESSIONS_PREFIX).split())
        if holders and holders <= {d.chain.ref for d in drops}:
            lines.append(f"update {LATEST_REF} {kept[0].tip}" if kept else f"delete {LATEST_REF}")
    lines += ["prepare", "commit"]
    store_git(base, "update-ref", "--stdin", input=("\n".join(lines) + "\n").encode())


def drop_reflogs(base: Path) -> None:
    """Stop and empty the store's reflogs. Stores made before checkpoints.py switched them off
    log every HEAD move (HEAD is a symref to refs/kimi/latest), which would keep every
    checkpoint ever taken reachable. Under the store lock (snapshots write them)."""
    store_git(base, "config", "core.logAllRefUpdates", "false")
    store_git(base, "reflog", "expire", "--expire=now", "--expire-unreachable=now", "--all")


def repack(base: Path) -> None:
    """Pack everything reachable (refs and the shadow index) into one pack; unreachable objects
    of the old packs come out loose, none is deleted. Safe beside snapshots, so it runs
    without the store lock: an object a snapshot reuses meanwhile is either packed or loosened,
    never lost."""
    store_git(base, "repack", "-A", "-d", "-q")


def prune_objects(base: Path) -> None:
    """Delete every unreachable loose object now, and pack the refs. Under the store lock: no
    snapshot can be between writing an object and referencing it."""
    store_git(base, "pack-refs", "--all", "--prune")
    store_git(base, "prune", "--expire=now")


# ---- one store -----------------------------------------------------------------------------


def collect(base: Path, policy: Policy, *, protect: set[str] | None = None,
            dry_run: bool = False, now: datetime | None = None) -> GcReport:
    """Apply `policy` to the store at `base` (or, `dry_run`, say what it would drop and about
    how much that frees). `protect`: session ids never dropped (the session starting now).

    The store lock is held only for the short steps (deciding and deleting refs; the final
    prune): the repack between them, the long part, runs beside snapshots. `gc.lock` keeps two
    collections of one store from running at once."""
    report = GcReport(base, store_workspace(base) or "(unknown workspace)", [],
                      bytes_before=store_bytes(base))
    report.bytes_after = report.bytes_before
    if not (base / "repo" / "HEAD").exists():
        return report
    if dry_run:  # reads only: no lock
        kept = _decide(base, report, policy, protect, now)
        overhead = report.bytes_before - sum(_object_sizes(base).values())
        more, report.bytes_after = cap_drops(base, kept, policy, report.protected, overhead)
        report.dropped += more
        return report
    with held_flock(base / "gc.lock"):
        kept = _decide(base, report, policy, protect, now)  # reads (git log): outside the lock
        with store_lock(base), gc_step(base):
            tips = _tips(base)  # a chain that grew since is in use after all: keep it
            report.dropped = [d for d in report.dropped if tips.get(d.chain.ref) == d.chain.tip]
            delete_chains(base, report.dropped, kept)
            drop_reflogs(base)
        _repack_and_prune(base)
        if policy.max_bytes and store_bytes(base) > policy.max_bytes:
            with store_lock(base), gc_step(base):  # sessions may have started meanwhile
                kept = read_chains(base)
                report.protected |= sessions_in_use([c.session_id for c in kept])
                overhead = store_bytes(base) - sum(_object_sizes(base).values())
                more, _ = cap_drops(base, kept, policy, report.protected, overhead)
                delete_chains(base, more, _without(kept, more))
            report.dropped += more
            if more:
                _repack_and_prune(base)
    report.bytes_after, report.applied = store_bytes(base), True
    if policy.max_bytes and report.bytes_after > policy.max_bytes:
        report.notes.append(f"still over the {policy.max_bytes // MIB} MiB cap: the newest or "
                            "in-use sessions alone hold more (they are never dropped)")
    return report


def _decide(base: Path, report: GcReport, policy: Policy, protect: set[str] | None,
            now: datetime | None) -> list[SessionChain]:
    """Read the chains and apply the retention rules into `report`; returns the kept chains."""
    report.sessions = read_chains(base)
    keep = set(protect or ()) | sessions_in_use([c.session_id for c in report.sessions])
    report.protected = keep
    report.dropped = retention_drops(report.sessions, policy, keep, now)
    return _without(report.sessions, report.dropped)


def _tips(base: Path) -> dict[str, str]:
    out = store_git(base, "for-each-ref", "--format=%(refname) %(objectname)", SESSIONS_PREFIX)
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


def _repack_and_prune(base: Path) -> None:
    repack(base)
    with store_lock(base), gc_step(base):
        prune_objects(base)


def _without(chains: list[SessionChain], drops: list[Drop]) -> list[SessionChain]:
    gone = {d.chain.ref for d in drops}
    return [c for c in chains if c.ref not in gone]


def record_run(report: GcReport) -> None:
    """Write the stamp (its mtime: "collected now", so the daily run waits another day) with
    the result as JSON, for `checkpoints list`."""
    if not report.applied:
        return
    result = {"finished": datetime.now(UTC).isoformat(), "dropped_sessions": len(report.dropped),
              "dropped_checkpoints": sum(d.chain.count for d in report.dropped),
              "bytes_before": report.bytes_before, "bytes_after": report.bytes_after}
    try:
        (report.base / STAMP_NAME).write_text(json.dumps(result) + "\n", encoding="utf-8")
    except OSError:
        pass
