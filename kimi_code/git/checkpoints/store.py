"""Checkpoints: snapshots of the workspace in a shadow git store, and restoring them.

The store is a separate bare repository under `data_dir()/checkpoints/<workspace-hash>/` with its
own index file. Every git call runs with GIT_DIR / GIT_WORK_TREE / GIT_INDEX_FILE pointing at it
and with the user's global/system git config switched off, so a snapshot never touches the
user's index, branches, stash, hooks or .git config, and works in directories that are not git
repositories at all. What is captured: tracked and untracked files that git would not ignore
(the workspace's .gitignore files, the repository's info/exclude and the user's global excludes
file are honoured). Files over a size cap, or over the per-snapshot byte budget, are left out and
the reason is recorded in the checkpoint.

Each session has its own chain of checkpoint commits (ref `refs/kimi/sessions/<id>`); trees are
shared, so the store grows with what changed, not with the workspace size. Old sessions' chains
are dropped by `checkpoints_gc` (retention policy, size cap), daily in the background.
"""

from __future__ import annotations

import builtins  # `list` below is a method of CheckpointStore: annotations there say builtins.list
import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from kimi_code import paths
from kimi_code.git.checkpoints.auto import store_dir
from kimi_code.git.checkpoints.io import held_fds, store_lock
from kimi_code.git.checkpoints.model import (  # re-exported: callers import them from here
    Checkpoint,
    CheckpointError,
    FileChange,
    RestoreReport,
    checkpoint_from,
)
from kimi_code.git.checkpoints.workspace_files import remove_empty_tree, remove_file
from kimi_code.git.runner import run_git

MAX_FILE_BYTES = 10 * 1024 * 1024       # a single file above this is not snapshotted
MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024  # new content hashed by one snapshot, at most
MAX_NEW_FILES = 50_000                  # files first seen by one snapshot, at most
MAX_RECORDED_SKIPS = 50                 # skip reasons kept per checkpoint (plus a count)

# Attributes that would change bytes on the way in or out (eol conversion, LFS/clean filters,
# ident, encodings) are switched off for every path: a checkpoint stores the exact bytes.
_SHADOW_ATTRIBUTES = "* -text -filter -ident -diff -merge !eol !working-tree-encoding\n"
_SHADOW_CONFIG = (
    ("core.bare", "false"), ("core.autocrlf", "false"), ("core.safecrlf", "false"),
    ("core.symlinks", "true"), ("core.fsmonitor", "false"), ("core.untrackedCache", "true"),
    ("core.quotePath", "false"), ("gc.auto", "0"), ("status.showUntrackedFiles", "all"),
    ("advice.addEmbeddedRepo", "false"), ("index.threads", "true"),
    ("core.logAllRefUpdates", "false"),  # a reflog would keep dropped checkpoints alive
)


def _ref_for(session_id: str) -> str:
    safe = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", session_id or "")
    name = session_id if safe else "h" + hashlib.sha256(session_id.encode()).hexdigest()[:20]
    return f"refs/kimi/sessions/{name}"


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CheckpointStore:
    """The shadow store of one workspace, seen from one session."""

    def __init__(self, workspace: Path, session_id: str) -> None:
        workspace = Path(workspace).resolve()
        if not workspace.is_dir():
            raise CheckpointError(f"workspace {workspace} is not a directory")
        self.workspace = workspace
        self.session_id = session_id
        self.base = store_dir(workspace)
        self.gitdir = self.base / "repo"
        self.ref = _ref_for(session_id)
        self._env = {  # added to the runner's safe environment (no secrets, no GIT_* of ours)
            "GIT_DIR": str(self.gitdir), "GIT_WORK_TREE": str(workspace),
            "GIT_INDEX_FILE": str(self.base / "index"), "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_AUTHOR_NAME": "kimi-code", "GIT_AUTHOR_EMAIL": "checkpoints@kimi-code.invalid",
            "GIT_COMMITTER_NAME": "kimi-code",
            "GIT_COMMITTER_EMAIL": "checkpoints@kimi-code.invalid",
            "LC_ALL": "C",
        }
        self._ready = False

    # ---- plumbing -----------------------------------------------------------------------

    def _git(self, *args: str, input: bytes | None = None, check: bool = True,
             index: Path | None = None) -> str:
        env = self._env if index is None else {**self._env, "GIT_INDEX_FILE": str(index)}
        proc = run_git(args, cwd=self.workspace, env=env, input=input, check=check,
                       pass_fds=held_fds())
        return proc.stdout.decode("utf-8", "surrogateescape")

    def _init(self) -> None:
        """Create the shadow repository on first use and refresh the ignore rules it borrows."""
        if self._ready:
            return
        paths.ensure_dir(self.base)
        if not (self.gitdir / "HEAD").exists():
            run_git(["init", "--bare", "-q", str(self.gitdir)], cwd=self.base,
                    env={"GIT_CONFIG_GLOBAL": os.devnull})
            for key, value in _SHADOW_CONFIG:
                self._git("config", key, value)
            self._git("symbolic-ref", "HEAD", "refs/kimi/latest")
            (self.base / "workspace").write_text(str(self.workspace) + "\n", encoding="utf-8")
        info = paths.ensure_dir(self.gitdir / "info")
        (info / "attributes").write_text(_SHADOW_ATTRIBUTES, encoding="utf-8")
        self._sync_excludes(info / "exclude")
        self._ready = True

    def _sync_excludes(self, target: Path) -> None:
        """Borrow the ignore rules git applies in the user's repository but that live outside the
        work tree: .git/info/exclude and the global excludes file. Our own store is excluded too
        when it sits inside the workspace (e.g. KIMI_CODE_HOME in the repo)."""
        parts: list[str] = []
        env = None  # the user's repository as git finds it, through the safe runner
        common = run_git(["rev-parse", "--git-common-dir"], cwd=self.workspace, env=env, check=False)
        if common.returncode == 0:
            gdir = Path(common.stdout.decode("utf-8", "surrogateescape").strip())
            gdir = gdir if gdir.is_absolute() else self.workspace / gdir
            parts.append(_read_text(gdir / "info" / "exclude"))
        glob_file = run_git(["config", "--path", "--get", "core.excludesFile"], cwd=self.workspace,
                            env=env, check=False).stdout.decode("utf-8", "surrogateescape").strip()
        if not glob_file:
            xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
            glob_file = str(Path(xdg) / "git" / "ignore")
        parts.append(_read_text(Path(glob_file)))
        try:
            inside = self.base.resolve().relative_to(self.workspace)
            parts.append("/" + _escape_pattern(inside.as_posix()) + "/")
        except ValueError:
            pass
        text = "\n".join(p for p in parts if p) + "\n"
        if _read_text(target) != text:
            target.write_text(text, encoding="utf-8")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time per workspace (sessions may share a workspace)."""
        self._init()
        # store_lock also sweeps git lock files a writer killed mid-update-ref left behind, and
        # our git children inherit the lock: if we die mid-snapshot, gc still waits for them.
        with store_lock(self.base):
            yield

    # ---- snapshot -----------------------------------------------------------------------

    def snapshot(self, trigger: str, *, message_seq: int | None = None) -> Checkpoint:
        """Record the workspace as a checkpoint of this session and return it. When nothing
        changed since this session's last checkpoint (same tree, and no new message_seq), that
        checkpoint is returned and nothing is written."""
        with self._locked():
            return self._snapshot_locked(trigger, message_seq)

    def _snapshot_locked(self, trigger: str, message_seq: int | None) -> Checkpoint:
        tree, skipped = self._write_tree()
        parent = self._resolve_ref(self.ref)
        found = self._log(parent, limit=1, verified=True) if parent else []
        previous = found[0] if found else None
        if previous and previous.tree == tree and (
                message_seq is None or message_seq == previous.message_seq):
            return previous
        meta = {"trigger": trigger, "created": _now_iso(), "message_seq": message_seq,
                "session_id": self.session_id, "skipped": skipped[:MAX_RECORDED_SKIPS],
                "skipped_total": len(skipped)}
        args = ["commit-tree", tree, "-F", "-"]
        if parent:
            args[2:2] = ["-p", parent]
        commit = self._git(*args, input=json.dumps(meta).encode()).strip()
        self._git("update-ref", "--stdin", input=(
            f"update {self.ref} {commit}\nupdate refs/kimi/latest {commit}\n").encode())
        return checkpoint_from(commit, tree, meta)

    def _write_tree(self) -> tuple[str, list[dict[str, str]]]:
        """Bring the shadow index up to date with the work tree; return (tree id, skipped)."""
        out = self._git("status", "--porcelain=v1", "-z", "--untracked-files=all",
                        "--no-renames", "--ignore-submodules=all")
        update: list[str] = []
        drop: list[str] = []
        skipped: list[dict[str, str]] = []
        budget, new_files = MAX_SNAPSHOT_BYTES, MAX_NEW_FILES
        for entry in out.split("\0"):
            if len(entry) < 4:
                continue
            state, path = entry[:2], entry[3:]
            if path.endswith("/"):  # an embedded repository: its own history is its backup
                skipped.append({"path": path, "reason": "nested git repository"})
                continue
            if state[1] == "D" or state[0] == "D":
                update.append(path)
                continue
            if state == "??":
                new_files -= 1
                if new_files < 0:
                    skipped.append({"path": path, "reason": f"more than {MAX_NEW_FILES} new files "
                                    "in one snapshot"})
                    continue
            reason, size = self._size_check(path, budget)
            if reason:
                skipped.append({"path": path, "reason": reason})
                if state != "??":
                    drop.append(path)
                continue
            budget -= size
            update.append(path)
        if update:
            self._git("update-index", "--add", "--remove", "-z", "--stdin",
                      input="\0".join(update).encode("utf-8", "surrogateescape") + b"\0")
        if drop:
            self._git("update-index", "--force-remove", "-z", "--stdin",
                      input="\0".join(drop).encode("utf-8", "surrogateescape") + b"\0")
        return self._git("write-tree").strip(), skipped

    def _size_check(self, path: str, budget: int) -> tuple[str, int]:
        try:
            st = os.lstat(self.workspace / path)
        except OSError:
            return "", 0  # vanished meanwhile: update-index --remove records the deletion
        if st.st_size > MAX_FILE_BYTES:
            return f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB ({st.st_size} bytes)", 0
        if st.st_size > budget:
            return f"snapshot byte budget of {MAX_SNAPSHOT_BYTES // (1024 * 1024)} MiB used up", 0
        return "", st.st_size

    # ---- listing ------------------------------------------------------------------------

    def _resolve_ref(self, ref: str) -> str | None:
        out = self._git("rev-parse", "-q", "--verify", ref + "^{commit}", check=False).strip()
        return out or None

    def _latest(self) -> Checkpoint | None:
        items = self._log(self.ref, limit=1)
        return items[0] if items else None

    def _log(self, ref: str, limit: int | None = None, *,
             verified: bool = False) -> list[Checkpoint]:
        if not verified and not self._resolve_ref(ref):
            return []
        args = ["log", "--format=%H%x1f%T%x1f%B%x1e", "--first-parent"]
        if limit:
            args.append(f"-n{limit}")
        out = self._git(*args, ref, "--")
        items = []
        for record in out.split("\x1e"):
            record = record.strip("\n")
            if not record:
                continue
            commit, tree, body = record.split("\x1f", 2)
            try:
                meta = json.loads(body)
            except json.JSONDecodeError:
                continue
            items.append(checkpoint_from(commit, tree, meta))
        return items  # newest first

    def list(self) -> list[Checkpoint]:
        """This session's checkpoints, oldest first."""
        self._init()
        return list(reversed(self._log(self.ref)))

    def get(self, checkpoint_id: str) -> Checkpoint:
        """The checkpoint whose id starts with `checkpoint_id` (this session's first, then any
        session of this workspace). Raises CheckpointError when unknown or ambiguous."""
        self._init()
        wanted = checkpoint_id.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{4,40}", wanted):
            raise CheckpointError(f"{checkpoint_id!r} is not a checkpoint id (4-40 hex digits); "
                                  "see `kimi-code rewind --list`.")
        matches = [c for c in self.list() if c.id.startswith(wanted) or wanted.startswith(c.id)]
        if len(matches) > 1:
            raise CheckpointError(f"checkpoint id {checkpoint_id!r} is ambiguous; give more digits.")
        if matches:
            return matches[0]
        commit = self._resolve_ref(wanted)
        if commit:
            found = self._log(commit, limit=1)
            if found:
                return found[0]
        raise CheckpointError(f"no checkpoint {checkpoint_id!r} in this workspace; see "
                              "`kimi-code rewind --list`.")

    # ---- restore ------------------------------------------------------------------------

    def restore(self, checkpoint_id: str, *, force: bool = False,
                dry_run: bool = False) -> RestoreReport:
        """Put the files back as they were at the checkpoint: changed files rewritten, files
        created since removed; ignored and oversized files are never touched.

        A file the user changed after this session's latest checkpoint (so not the agent's
        doing) that the restore would change is a conflict: without `force` nothing is changed
        and the report lists the conflicts. When applied, the state before the restore is kept
        as a checkpoint (`safety_checkpoint`), so a restore can itself be undone."""
        target = self.get(checkpoint_id)
        with self._locked():
            current, _ = self._write_tree()
            report = RestoreReport(checkpoint_id=target.id)
            report.changes = self._tree_changes(current, target.tree)
            latest = self._latest()
            if latest and latest.tree != current:
                user_edits = {c.path for c in self._tree_changes(latest.tree, current)}
                report.conflicts = sorted(c.path for c in report.changes if c.path in user_edits)
            if dry_run or not report.changes or (report.conflicts and not force):
                return report
            safety = self._snapshot_locked(f"before rewind to {target.id}", None)
            report.safety_checkpoint = safety.id
            self._apply(target.tree, report.changes)
            self._snapshot_locked(f"rewind to {target.id}", None)
            report.applied = True
            return report

    def _tree_changes(self, old: str, new: str) -> builtins.list[FileChange]:
        """Paths whose content differs between two trees, as the actions that turn old into new."""
        out = self._git("diff-tree", "-r", "-z", "--no-renames", "--raw", old, new)
        fields = out.split("\0")
        changes = []
        for meta, path in zip(fields[0::2], fields[1::2], strict=False):
            if not meta.startswith(":"):
                continue
            status = meta.split()[-1]
            changes.append(FileChange(path, "remove" if status == "D" else "restore"))
        return changes

    def _apply(self, tree: str, changes: builtins.list[FileChange]) -> None:
        """Delete what the target lacks first (a file may stand where a directory must go), then
        check the target's versions out through a scratch index."""
        for change in changes:
            if change.action == "remove":
                remove_file(self.workspace, change.path)
        writes = [c.path for c in changes if c.action == "restore"]
        if not writes:
            return
        scratch = self.base / "restore.index"
        try:
            self._git("read-tree", tree, index=scratch)
            for path in writes:  # a directory where the file must go: only if nothing is in it
                full = self.workspace / path
                if full.is_dir() and not full.is_symlink():
                    remove_empty_tree(full)
            self._git("checkout-index", "-f", "-z", "--stdin", index=scratch,
                      input="\0".join(writes).encode("utf-8", "surrogateescape") + b"\0")
        finally:
            scratch.unlink(missing_ok=True)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="surrogateescape").strip()
    except OSError:
        return ""


def _escape_pattern(path: str) -> str:
    return re.sub(r"([*?\[\\!# ])", r"\\\1", path)


__all__ = ["Checkpoint", "CheckpointError", "CheckpointStore", "FileChange", "RestoreReport"]
