"""`kimi-code commit --plan`: split the working changes into logical commits, hunk by hunk.

The work tree is never modified: each planned commit is built by staging exactly its hunks into
the index (`git apply --cached`) and committing with the hooks. If a commit fails halfway, the
commits made so far stay, and everything not yet committed is still in the work tree.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import git

from kimi_code.commit.convention import Convention
from kimi_code.commit.message import (
    CommitError,
    CommitResult,
    clean_message,
    complete,
    load_prompt,
    run_commit,
)
from kimi_code.git.diffparse import DiffFile
from kimi_code.git.diffs import diff_budget_chars
from kimi_code.git.diffs import working_changes as git_working_changes
from kimi_code.git.repo import head_commit, run_git
from kimi_code.llm.base import ChatProvider
from kimi_code.safety.untrusted import fence


@dataclass
class Unit:
    """The smallest piece a plan moves: one hunk, or a whole file (new, deleted, binary, mode)."""

    id: str
    file: DiffFile
    hunk: int | None  # index into file.hunks; None = the whole file

    def text(self) -> str:
        if self.hunk is None:
            return self.file.text()
        return "\n".join(self.file.header) + "\n" + self.file.hunks[self.hunk].text()

    def label(self) -> str:
        if self.hunk is None:
            added, removed = self.file.stats()
            return f"{self.file.path} ({self.file.status}, +{added} -{removed})"
        h = self.file.hunks[self.hunk]
        added, removed = h.stats()
        return f"{self.file.path} lines {h.new_start}-{h.new_end} (+{added} -{removed})"


@dataclass
class PlannedCommit:
    message: str
    units: list[Unit] = field(default_factory=list)


@dataclass
class Plan:
    commits: list[PlannedCommit]
    notes: list[str] = field(default_factory=list)


def working_changes(repo: git.Repo, base: str = "HEAD") -> list[DiffFile]:
    """Every change in the work tree against `base` (HEAD; the empty tree for a review of a
    repository without commits): tracked (staged or not) and untracked files that are not
    ignored."""
    if base == "HEAD" and head_commit(repo) is None:
        raise CommitError("--plan needs at least one commit to build on; make the first commit "
                          "with `kimi-code commit` (or git) first.")
    return git_working_changes(repo, base)


def make_units(files: list[DiffFile]) -> list[Unit]:
    units: list[Unit] = []
    for f in files:
        if f.status == "modified" and not f.binary and len(f.hunks) > 1:
            start = len(units) + 1
            units.extend(Unit(f"H{start + i}", f, i) for i in range(len(f.hunks)))
        else:
            units.append(Unit(f"H{len(units) + 1}", f, None))
    return units


def plan_prompt(units: list[Unit], conv: Convention, context_window: int) -> str:
    per_unit = max(400, min(4000, diff_budget_chars(context_window) // max(1, len(units))))
    blocks = []
    for unit in units:
        text = unit.text()
        if len(text) > per_unit:
            text = text[:per_unit] + f"\n[... {len(text) - per_unit} more characters]"
        blocks.append(f"### {unit.id}: {unit.label()}\n{text}")
    examples = "\n".join(conv.examples) or "(none)"
    return (f"Repository convention:\n{conv.guide()}\n\nRecent subjects:\n"
            f"{fence('examples', examples)}\n\nHunks:\n{fence('hunks', chr(10).join(blocks))}")


def parse_plan(answer: str, units: list[Unit]) -> Plan:
    """Turn the model's JSON into a Plan where every unit is in exactly one commit."""
    text = re.sub(r"<think>.*?</think>", "", answer, flags=re.DOTALL)
    match = re.search(r"\{.*\}", text, flags=re.DOTALL)
    try:
        data = json.loads(match.group(0)) if match else None
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("commits"), list):
        raise CommitError("the model did not return a usable plan (expected JSON with a "
                          "\"commits\" list); try again, or commit without --plan.")
    by_id = {u.id: u for u in units}
    plan, seen = Plan(commits=[]), set()
    for item in data["commits"]:
        if not isinstance(item, dict) or not str(item.get("message", "")).strip():
            continue
        chosen = []
        for uid in item.get("hunks") or []:
            uid = str(uid).strip().upper()
            if uid not in by_id:
                plan.notes.append(f"the plan named an unknown hunk {uid}; ignored")
            elif uid in seen:
                plan.notes.append(f"{uid} was planned twice; kept in its first commit")
            else:
                seen.add(uid)
                chosen.append(by_id[uid])
        if chosen:
            plan.commits.append(PlannedCommit(clean_message(str(item["message"])), chosen))
    if not plan.commits:
        raise CommitError("the model's plan assigned no hunks; try again, or commit without --plan.")
    for unit in units:
        if unit.id not in seen:
            home = next((c for c in plan.commits if any(u.file is unit.file for u in c.units)),
                        plan.commits[-1])
            home.units.append(unit)
            plan.notes.append(f"{unit.id} ({unit.label()}) was not planned; added to "
                              f"\"{home.message.splitlines()[0]}\"")
    for commit in plan.commits:  # keep hunks of a file in diff order inside each commit
        commit.units.sort(key=lambda u: int(u.id[1:]))
    return plan


async def make_plan(provider: ChatProvider, units: list[Unit], conv: Convention,
                    context_window: int) -> Plan:
    prompt = plan_prompt(units, conv, context_window)
    budget = diff_budget_chars(context_window)
    if len(prompt) > budget:
        # Even at its smallest excerpt per hunk the request would not fit: say so, rather
        # than send it and get a context-length error back.
        raise CommitError(f"the change has {len(units)} hunks, too many to plan in one request "
                          f"for this model ({len(prompt):,} characters, about {budget:,} fit). "
                          "Commit part of it first (git add -p, then kimi-code commit), or "
                          "commit it all without --plan.")
    answer = await complete(provider, load_prompt("commit_plan"), prompt, max_tokens=4000)
    return parse_plan(answer, units)


def format_plan(plan: Plan) -> str:
    lines = []
    for number, commit in enumerate(plan.commits, start=1):
        subject, _, body = commit.message.partition("\n")
        lines.append(f"{number}. {subject}")
        lines.extend(f"     {line}" for line in body.strip().splitlines())
        lines.extend(f"   - {u.id} {u.label()}" for u in commit.units)
    lines.extend(f"note: {note}" for note in plan.notes)
    return "\n".join(lines)


def _patch_for(units: list[Unit]) -> str:
    """A patch holding only these units: each file's header once, then its chosen hunks."""
    parts: list[str] = []
    files: dict[int, list[Unit]] = {}
    for unit in units:
        files.setdefault(id(unit.file), []).append(unit)
    for group in files.values():
        f = group[0].file
        hunks = [u.hunk for u in group if u.hunk is not None]
        if len(hunks) < len(group):  # a unit without a hunk is the whole file
            parts.append(f.text())
        else:
            parts.append("\n".join(f.header) + "\n" + "".join(f.hunks[h].text() for h in hunks))
    return "".join(parts)


def _stage(repo: git.Repo, units: list[Unit]) -> None:
    binary = [u for u in units if u.file.binary]
    text_units = [u for u in units if not u.file.binary]
    for unit in binary:  # no textual patch to apply: stage the file as it is
        if unit.file.status == "deleted":
            repo.git.rm("--cached", "-q", "--", unit.file.path)
        else:
            repo.git.add("--", unit.file.path)
    if text_units:
        run_git(["apply", "--cached", "--recount", "--whitespace=nowarn", "-"],
                cwd=Path(repo.working_tree_dir or "."), input=_patch_for(text_units).encode("utf-8", "surrogateescape"))


def apply_plan(repo: git.Repo, plan: Plan, *, signoff: bool = False) -> list[CommitResult]:
    """Commit the plan in order. Stops at the first failed commit (its result is last)."""
    repo.git.reset("-q")  # start from a clean index; the work tree keeps every change
    results = []
    for commit in plan.commits:
        _stage(repo, commit.units)
        result = run_commit(repo, commit.message, signoff=signoff)
        results.append(result)
        if not result.ok:
            break
    return results
