"""git worktrees for coders (snapshot, create, merge, leftovers) and subagent types."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimi_code.agent.subagent_types import SubagentTypeError, load_types, parse_type_file
from kimi_code.agent.swarm import SwarmError, SwarmRunner
from kimi_code.git.worktrees import (
    cleanup_leftovers,
    commit_worktree,
    create_worktree,
    leftovers,
    merge_into_workspace,
    snapshot_base,
    worktrees_root,
)
from tests.support.swarm_harness import git


def test_snapshot_has_uncommitted_and_untracked_but_not_ignored(repo: Path) -> None:
    (repo / ".gitignore").write_text("build/\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.bin").write_text("ignored")
    (repo / "shared.txt").write_text("changed\n")
    (repo / "new.txt").write_text("untracked\n")
    git(repo, "add", "shared.txt")  # staged, and the index must stay exactly as it was
    staged_before = git(repo, "diff", "--cached", "--name-only")
    base = snapshot_base(repo)
    wt = create_worktree(repo, base, "s", 1)
    assert wt.path.is_relative_to(worktrees_root(repo)) and not wt.path.is_relative_to(repo)
    assert (wt.path / "shared.txt").read_text() == "changed\n"
    assert (wt.path / "new.txt").read_text() == "untracked\n"
    assert not (wt.path / "build").exists()
    assert git(repo, "diff", "--cached", "--name-only") == staged_before
    assert git(repo, "status", "--porcelain").count("\n") == 3  # M shared, ?? new, ?? .gitignore
    assert wt.branch == "kimi-code/s/1"
    assert leftovers(repo).worktrees == [wt.path] and leftovers(repo).branches == ["kimi-code/s/1"]
    removed = cleanup_leftovers(repo)
    assert removed.branches == ["kimi-code/s/1"] and not wt.path.exists()
    assert leftovers(repo).worktrees == [] and leftovers(repo).branches == []


def test_clean_tree_snapshot_is_head(repo: Path) -> None:
    assert snapshot_base(repo) == git(repo, "rev-parse", "HEAD").strip()


def test_merge_handles_delete_add_executable_and_binary_conflict(repo: Path) -> None:
    (repo / "bin.dat").write_bytes(b"\0\1\2")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "bin")
    base = snapshot_base(repo)
    wt = create_worktree(repo, base, "s", 2)
    (wt.path / "README.md").unlink()
    (wt.path / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (wt.path / "run.sh").chmod(0o755)
    (wt.path / "bin.dat").write_bytes(b"\0theirs")
    commit, files = commit_worktree(wt, "work")
    assert files == ["README.md", "bin.dat", "run.sh"]
    (repo / "bin.dat").write_bytes(b"\0ours")  # the user changed the binary meanwhile
    outcome = merge_into_workspace(repo, repo, base, commit)
    assert outcome.status == "conflict" and outcome.files == ["bin.dat"]
    assert (repo / "README.md").exists()  # all-or-nothing: nothing was applied
    (repo / "bin.dat").write_bytes(b"\0\1\2")
    outcome = merge_into_workspace(repo, repo, base, commit)
    assert outcome.status == "merged"
    assert not (repo / "README.md").exists()
    assert (repo / "run.sh").stat().st_mode & 0o111
    assert (repo / "bin.dat").read_bytes() == b"\0theirs"


def write_type(repo: Path, name: str, text: str) -> Path:
    folder = repo / ".kimi-code" / "agents"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(text)
    return path


def test_custom_types_load_only_when_trusted(repo: Path) -> None:
    write_type(repo, "docs-writer", "---\ndescription: Writes docs\ntools: [Read, Write, Edit]\n"
               "model: local\n---\nYou write documentation.\n")
    assert "docs-writer" not in load_types(repo)  # default: not trusted, not loaded
    types = load_types(repo, trusted=True)
    custom = types["docs-writer"]
    assert custom.tools == ("Read", "Write", "Edit") and custom.model == "local"
    assert custom.isolation == "worktree" and not custom.read_only  # writers never share
    assert custom.prompt == "You write documentation."
    runner = SwarmRunner(object(), repo)
    with pytest.raises(SwarmError, match="Unknown subagent_type 'docs-writer'.*explore"):
        runner.resolve_type("docs-writer")
    assert SwarmRunner(object(), repo, trusted_workspace=True).resolve_type("docs-writer") is not None


@pytest.mark.parametrize("text, problem", [
    ("description: x\n", "frontmatter block"),
    ("---\ndescription: x\n", "not closed"),
    ("---\ntools: [Read]\n---\n", "'description' is required"),
    ("---\ndescription: x\nisolation: cloud\n---\n", "isolation must be"),
    ("---\ndescription: x\nmax_turns: lots\n---\n", "max_turns must be an integer"),
])
def test_bad_custom_type_files_are_explained(repo: Path, text: str, problem: str) -> None:
    path = write_type(repo, "bad", text)
    with pytest.raises(SubagentTypeError, match=problem):
        parse_type_file(path)


def test_spawn_tools_only_for_types_that_allow_it(repo: Path) -> None:
    types = load_types(repo)
    assert all("Agent" not in t.toolset() and "AgentSwarm" not in t.toolset()
               for t in types.values())
    assert "Write" in types["coder"].toolset() and "Write" not in types["explore"].toolset()
    assert "ReportFinding" in types["reviewer"].toolset()
    path = write_type(repo, "lead", "---\ndescription: leads\ntools: Read, Agent\ncan_spawn: true\n---\n")
    assert "Agent" in parse_type_file(path).toolset()
