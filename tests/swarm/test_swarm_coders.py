"""Coder subagents in real git worktrees, merged back into a real repository."""

from __future__ import annotations

from pathlib import Path

from kimi_code.git.worktrees import leftovers, worktrees_root
from tests.support.routed_server import RoutedServer
from tests.support.swarm_harness import Harness, git, results_of, swarm_call, tool_call  # noqa: F401


async def test_32_coders_each_write_a_file_and_merge_cleanly(repo: Path, servers: list) -> None:
    # Uncommitted work the subagents must see and must not lose.
    (repo / "README.md").write_text("# demo\nuncommitted line\n")
    (repo / "notes.txt").write_text("untracked notes\n")
    items = [f"mod{i:02d}.py" for i in range(32)]
    routes = {"PARENT": [swarm_call(items, "Create <<{{item}}>> now"), {"text": "all done"}]}
    for item in items:
        routes[f"<<{item}>>"] = [
            {"tool_calls": [tool_call("Write", file_path=f"pkg/{item}",
                                      content=f"NAME = {item!r}\n")]},
            {"text": f"wrote pkg/{item}"}]
    # One coder edits the uncommitted README line (only present in the working tree).
    routes["<<mod00.py>>"] = [
        {"tool_calls": [tool_call("Read", file_path="README.md")]},
        {"tool_calls": [tool_call("Edit", file_path="README.md", old_string="uncommitted line",
                                  new_string="edited by a subagent")]},
        {"tool_calls": [tool_call("Write", file_path="pkg/mod00.py", content="NAME = 'mod00.py'\n")]},
        {"text": "edited README and wrote pkg/mod00.py"}]
    server = RoutedServer(routes).start()
    servers.append(server)
    harness = Harness(server, repo)
    result = await harness.run("PARENT: refactor")

    assert result.stop_reason == "end_turn" and result.text == "all done"
    for item in items:
        assert (repo / "pkg" / item).read_text() == f"NAME = {item!r}\n"
    assert (repo / "README.md").read_text() == "# demo\nedited by a subagent\n"
    assert (repo / "notes.txt").read_text() == "untracked notes\n"
    # The user's index and HEAD are untouched: the merge only writes the working tree.
    assert git(repo, "diff", "--cached", "--name-only") == ""
    assert git(repo, "log", "--oneline").count("\n") == 1
    # No worktree, no branch left behind; worktrees lived under the data dir, not the repo.
    left = leftovers(repo)
    assert left.worktrees == [] and left.branches == []
    assert not any(worktrees_root(repo).iterdir())
    report = results_of(harness)
    assert [r["status"] for r in report] == ["success"] * 32
    assert [r["merge"] for r in report] == ["merged"] * 32
    assert report[0]["files_changed"] == ["README.md", "pkg/mod00.py"]
    assert report[5]["files_changed"] == ["pkg/mod05.py"] and report[5]["item"] == "mod05.py"
    assert all(r["usage"]["output_tokens"] > 0 for r in report)
    started = harness.of("SubagentStarted")
    assert len(started) == 32 and {e.agent_id for e in started} == {"swarm_1"}
    assert {e.subagent_type for e in started} == {"coder"}
    # Every child event carries the spawning call's id.
    child_messages = [e for e in harness.of("AssistantMessage") if e.agent_id]
    assert len(child_messages) == 32 * 2 + 2 and {e.agent_id for e in child_messages} == {"swarm_1"}


async def test_two_coders_on_the_same_lines_conflict_and_lose_nothing(repo: Path, servers: list) -> None:
    routes = {"PARENT": [swarm_call(["A", "B"], "Change line two <<{{item}}>>"), {"text": "ok"}]}
    for item in ("A", "B"):
        routes[f"<<{item}>>"] = [
            {"tool_calls": [tool_call("Read", file_path="shared.txt")]},
            {"tool_calls": [tool_call("Edit", file_path="shared.txt", old_string="two",
                                      new_string=f"two by {item}")]},
            {"text": f"changed by {item}"}]
    server = RoutedServer(routes).start()
    servers.append(server)
    harness = Harness(server, repo)
    await harness.run("PARENT: edit")

    report = results_of(harness)
    assert [(r["status"], r["merge"]) for r in report] == [("success", "merged"),
                                                           ("success", "conflict")]
    # Deterministic order: the first subagent (A) lands, B is reported with its files + branch.
    assert (repo / "shared.txt").read_text() == "one\ntwo by A\nthree\nfour\nfive\n"
    assert report[1]["conflicting_files"] == ["shared.txt"]
    branch = report[1]["branch"]
    assert branch.startswith("kimi-code/sess1/")
    assert "two by B" in git(repo, "show", f"{branch}:shared.txt")
    assert leftovers(repo).branches == [branch] and leftovers(repo).worktrees == []
    tool_message = next(e.message for e in harness.of("ToolMessageAdded")
                        if e.message.tool_call_id == "swarm_1")
    assert "cherry-pick" in tool_message.content


async def test_nonoverlapping_edits_to_one_file_merge_three_way(repo: Path, servers: list) -> None:
    edits = {"A": ("one", "ONE"), "B": ("five", "FIVE")}
    routes = {"PARENT": [swarm_call(["A", "B"], "Edit <<{{item}}>>"), {"text": "ok"}]}
    for item, (old, new) in edits.items():
        routes[f"<<{item}>>"] = [
            {"tool_calls": [tool_call("Read", file_path="shared.txt")]},
            {"tool_calls": [tool_call("Edit", file_path="shared.txt", old_string=old,
                                      new_string=new)]},
            {"text": "done"}]
    server = RoutedServer(routes).start()
    servers.append(server)
    harness = Harness(server, repo)
    await harness.run("PARENT: edit")
    assert (repo / "shared.txt").read_text() == "ONE\ntwo\nthree\nfour\nFIVE\n"
    assert [r["merge"] for r in results_of(harness)] == ["merged", "merged"]
    assert leftovers(repo).branches == []
