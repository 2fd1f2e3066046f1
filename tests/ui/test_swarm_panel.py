"""The live swarm panel, driven through the app's own event path (`KimiApp._on_event`, as the
agent calls it) and end to end with a real AgentSwarm against the scripted model server."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from kimi_code.events import (
    SubagentCompleted,
    SubagentProgress,
    SubagentStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnFinished,
)
from kimi_code.llm.base import Message, ToolCall, Usage
from kimi_code.ui.screens.help import KEYS
from kimi_code.ui.swarm_state import DONE_LIMIT, fold_from_result
from kimi_code.ui.widgets.swarm_panel import MAX_ROWS
from kimi_code.ui.widgets.tool_block import ToolBlock
from tests.support.tui import make_app, type_text, until

SIZE = (110, 40)
SWARM = ToolCall("call_swarm", "AgentSwarm", json.dumps(
    {"description": "review", "prompt_template": "review {{item}}", "items": ["x"]}))


def fake_clock(app: Any) -> None:
    """Deterministic time for the tracker: each reading is one second later."""
    ticks = itertools.count(1000)
    app.swarm.clock = lambda: float(next(ticks))


def started(n: int, kind: str = "explore", parent: str = "call_swarm") -> SubagentStarted:
    return SubagentStarted(agent_id=parent, subagent_id=f"sub-{n}", subagent_type=kind,
                           description=f"review [src/f{n}.py]")


def finished(n: int, status: str = "success", summary: str = "ok",
             parent: str = "call_swarm") -> SubagentCompleted:
    return SubagentCompleted(agent_id=parent, subagent_id=f"sub-{n}", status=status,
                             summary=summary, usage=Usage(1000, 100))


def line_text(app: Any, y: int) -> str:
    return "".join(segment.text for segment in app.swarm_panel.rows.render_line(y))


def swarm_block(app: Any) -> ToolBlock:
    return [b for b in app.transcript.blocks if isinstance(b, ToolBlock)][-1]


async def feed(pilot: Any, *events: Any) -> None:
    """Events in, as the agent emits them; then wait for one flush of the panel."""
    for event in events:
        pilot.app._on_event(event)
    app = pilot.app
    await until(pilot, lambda: not app._drain_posted and app.swarm_panel.up_to_date,
                "a panel flush")
    await pilot.pause()


async def test_counts_order_collapse_toggle_and_fold(server, workspace: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        fake_clock(app)
        panel = app.swarm_panel
        assert not panel.has_class("-visible")
        total = DONE_LIMIT + 7  # 3 running, 1 failed, DONE_LIMIT + 3 done
        await feed(pilot, ToolCallStarted(call=SWARM),
                   *[started(n, "coder" if n % 2 else "explore") for n in range(1, total + 1)],
                   SubagentProgress(agent_id="call_swarm", subagent_id="sub-1", step=4,
                                    last_tool="Edit", usage=Usage(5000, 300)),
                   TextDelta(agent_id="call_swarm", text="a subagent's text stays out of view"),
                   finished(2, "failed", "RuntimeError: no such file"),
                   *[finished(n) for n in range(5, total + 1)])
        assert panel.has_class("-visible") and panel.display
        header = panel.header.render().plain
        assert header.startswith(f"◌ 3 running · ✓ {DONE_LIMIT + 3} done · ✗ 1 failed · "
                                 f"{total} subagents · 4 steps · ")
        assert f"↑{(total - 3) + 5}.0k ↓1.5k" in header  # 1k per finished one + 5k running
        assert app.status.info.subagents == 3
        # running first (in start order), then the failure, then the newest successes; the
        # rest collapse into one line
        rows = panel.rows.lines
        assert [r.subagent_id for r in rows[:4]] == ["sub-1", "sub-3", "sub-4", "sub-2"]
        done = [r.subagent_id for r in rows[4:-1]]
        assert done == [f"sub-{n}" for n in range(total, total - DONE_LIMIT, -1)]
        assert rows[-1] == 3 and len(rows) == 4 + DONE_LIMIT + 1
        first = line_text(app, 0)
        assert first.startswith("◌ coder    src/f1.py   4 steps · Edit")
        assert "✗ explore  src/f2.py   0 steps · failed · " in line_text(app, 3) and "failed" in line_text(app, 3)
        assert "no such file" in line_text(app, 3)
        panel.rows.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        assert "… 3 more finished" in line_text(app, panel.rows.size.height - 1)
        live = swarm_block(app).state.swarm_line
        assert live is not None and live.plain.startswith("◌ 3 running · ✓ 11 done")
        await pilot.press("f2")
        assert not panel.has_class("-visible") and panel.tracker.active
        await pilot.press("f2")
        assert panel.has_class("-visible")
        await feed(pilot, finished(1), finished(3, "cancelled", ""), finished(4, "timeout", ""),
                   ToolCallFinished(call=SWARM, message=Message("tool", "{}",
                                                                tool_call_id="call_swarm"),
                                    duration_ms=4000))
        assert not panel.has_class("-visible") and not app.swarm.active
        assert app.swarm.rows == {} and app.swarm.counts.total == 0
        assert app.status.info.subagents == 0
        block = swarm_block(app)
        summary = block.state.swarm_line.plain
        assert summary.startswith(f"✓ {DONE_LIMIT + 4} done · ✗ 2 failed · ⊘ 1 stopped · "
                                  f"{total} subagents · 4 steps")
        detail = block.state.swarm_detail.plain.splitlines()
        assert len(detail) == total and block.state.swarm_count == total
        assert [line[:1] for line in detail[:3]] == ["✗", "⊘", "✗"]  # problems first, in order
        assert "src/f2.py" in detail[0] and "no such file" in detail[0]
        assert block.query_one(".swarm-detail").collapsed
        await pilot.pause()
        assert summary in str(block._subagents.render())


async def test_three_hundred_subagents_render_only_what_is_on_screen(server,
                                                                    workspace: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        panel = app.swarm_panel
        flushes = panel.flushes
        events: list[Any] = [ToolCallStarted(call=SWARM)]
        events += [started(n) for n in range(1, 301)]
        events += [SubagentProgress(agent_id="call_swarm", subagent_id=f"sub-{n}", step=step,
                                    last_tool="Read") for step in (1, 2) for n in range(1, 301)]
        await feed(pilot, *events)
        assert panel.flushes - flushes == 1  # 901 events, one redraw
        assert len(panel.rows.lines) == 300 and app.swarm.counts.steps == 600
        height = panel.rows.size.height
        assert 3 <= height <= MAX_ROWS and panel.rows.max_scroll_y == 300 - height
        assert panel.rows.renders <= height  # only the lines on screen were rendered
        renders = panel.rows.renders
        # one subagent off screen moves on: the lines on screen are untouched, nothing renders
        await feed(pilot, SubagentProgress(agent_id="call_swarm", subagent_id="sub-250", step=3))
        assert panel.rows.renders == renders
        # the first one finishes: every running row moves up a line, so the screen repaints once
        await feed(pilot, finished(1))
        assert panel.rows.renders - renders <= height
        assert panel.header.render().plain.startswith("◌ 299 running · ✓ 1 done · 300 subagents")
        panel.rows.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        assert "✓ explore  src/f1.py" in line_text(app, height - 1)
        # the turn ends with subagents still marked running: they fold as stopped
        await feed(pilot, TurnFinished(stop_reason="cancelled", result="", num_steps=1,
                                       usage=Usage()))
        assert not app.swarm.active and app.swarm.counts.total == 0
        assert swarm_block(app).state.swarm_line.plain.startswith(
            "✓ 1 done · ⊘ 299 stopped · 300 subagents")


async def test_nested_spawns_and_a_call_without_a_block(server, workspace: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        nested = ToolCall("call_nested", "Agent", '{"description": "dig"}')
        await feed(pilot, started(1, "coder", parent="call_orphan"),
                   ToolCallStarted(agent_id="call_orphan", call=nested),
                   started(2, "explore", parent="call_nested"))
        assert list(app.swarm.groups) == ["call_orphan"]  # the nested spawn joined its group
        assert app.swarm.counts.running == 2
        await feed(pilot, finished(2, parent="call_nested"), finished(1, parent="call_orphan"),
                   TurnFinished(stop_reason="end_turn", result="", num_steps=1, usage=Usage()))
        notices = [b for b in app.transcript.blocks if type(b).__name__ == "NoticeBlock"]
        assert notices[-1].message.startswith("Subagents: ✓ 2 done · 2 subagents")


async def test_help_lists_the_panel_key() -> None:
    assert any(key == "F2" and "swarm panel" in action for key, action in KEYS)


async def test_a_real_swarm_runs_and_folds(server, workspace: Path) -> None:
    items = ["src/main.py", "README.md", "setup.cfg"]
    server.add({"tool_calls": [{"id": "call_sw", "name": "AgentSwarm", "arguments": {
                    "description": "inspect", "prompt_template": "Look at {{item}}.",
                    "items": items}}]},
               {"text": "Nothing to report.", "repeat": len(items),
                "usage": {"input_tokens": 2000, "output_tokens": 50}},
               {"text": "All three inspected."})
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.ready, "session open")
        await type_text(pilot, "inspect the files")
        await pilot.press("enter")
        await until(pilot, lambda: app.turns_done == 1, "turn end")
        await pilot.pause()
        block = next(b for b in app.transcript.blocks if isinstance(b, ToolBlock)
                     and b.state.name == "AgentSwarm")
        assert block.state.status == "ok"
        summary = block.state.swarm_line.plain
        assert summary.startswith("✓ 3 done · 3 subagents · 3 steps · ↑6.0k ↓150"), summary
        detail = block.state.swarm_detail.plain
        assert all(item in detail for item in items) and "Nothing to report." in detail
        assert not app.swarm_panel.has_class("-visible") and not app.swarm.active
    # resumed, the block folds the same way from the stored tool result
    again = make_app(continue_=True)
    async with again.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: again.ready, "session resumed")
        await pilot.pause()
        block = next(b for b in again.transcript.blocks if isinstance(b, ToolBlock)
                     and b.state.name == "AgentSwarm")
        assert block.state.swarm_line.plain.startswith(
            "✓ 3 done · 3 subagents · 3 steps · ↑6.0k ↓150")
        assert block.state.swarm_count == 3 and block.query_one(".swarm-detail").collapsed
        assert all(item in block.state.swarm_detail.plain for item in items)


def test_a_stored_result_folds_with_its_merge_outcome() -> None:
    from kimi_code.tools.subagents import SubagentResult, render_for_model

    results = [SubagentResult(1, "sub-1", "c", "coder", "edit [a.py]", item="a.py",
                              status="success", steps=4, merge="merged",
                              usage=Usage(1500, 20)),
               SubagentResult(2, "sub-2", "c", "coder", "edit [b.py]", item="b.py",
                              status="success", steps=2, merge="conflict", conflicts=["b.py"]),
               SubagentResult(3, "sub-3", "c", "coder", "edit [c.py]", item="c.py",
                              status="failed", error="RuntimeError: boom")]
    fold = fold_from_result("c", render_for_model(results))
    assert fold is not None and fold.count == 3
    assert fold.summary.plain == ("✓ 2 done · ✗ 1 failed · 3 subagents · 6 steps · ↑1.5k ↓20"
                                  " · 1 merged · 1 conflict")
    lines = fold.detail.plain.splitlines()
    assert lines[0].startswith("✗ coder  c.py") and "RuntimeError: boom" in lines[0]
    assert lines[1].startswith("✓ coder  a.py  4 steps")
    assert fold_from_result("c", "plain text, no JSON") is None


def test_the_item_comes_from_the_event_when_it_carries_one() -> None:
    from kimi_code.events import SubagentStarted
    from kimi_code.ui.swarm_state import SwarmTracker

    tracker = SwarmTracker()
    tracker.apply(SubagentStarted(agent_id="call_1", subagent_id="s1", subagent_type="coder",
                                  description="fix [it] [src/a [b].py]", item="src/a [b].py"))
    tracker.apply(SubagentStarted(agent_id="call_1", subagent_id="s2", subagent_type="coder",
                                  description="old session [x.py]"))  # recorded before `item`
    assert tracker.rows["s1"].item == "src/a [b].py"
    assert tracker.rows["s2"].item == "x.py"
