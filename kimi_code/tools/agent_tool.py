"""Agent (one subagent) and AgentSwarm (one subagent per item of a template) tools.

Both hand the work to the session's SwarmRunner (`ctx.swarm`, wired by the front
end). They are concurrent-safe: several Agent calls in one step run in parallel, like Claude
Code's Task tool. They mutate the workspace when coder subagents' changes are merged back, so
the agent checkpoints after a call whose result names changed files; but they delegate the
permission for those writes: every tool call a subagent makes is checked against (a copy of)
the parent's policy, so spawning itself asks nothing.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kimi_code.tools.base import (
    SubagentRunner,
    Tool,
    ToolArgs,
    ToolContext,
    ToolError,
    ToolResult,
    current_call_id,
)
from kimi_code.tools.subagents import SubagentSpec, SwarmError, render_for_model

MAX_ITEMS = 300
ITEM_MARK = "{{item}}"
SPAWN_CALL_KEY = "_spawn_call_id"  # same key as kimi_code.agent.swarm (no agent import here)


class AgentArgs(ToolArgs):
    description: str = Field(min_length=1, max_length=200,
                             description="A short (3-8 word) description of the task.")
    prompt: str = Field(min_length=1, description="The full task for the subagent.")
    subagent_type: str | None = Field(
        default=None, description="explore (default, read-only), coder (edits in its own git "
        "worktree, merged back), reviewer (read-only review), or a custom type.")


class AgentSwarmArgs(ToolArgs):
    description: str = Field(min_length=1, max_length=200,
                             description="A short description of the whole fan-out.")
    prompt_template: str = Field(min_length=1, description=(
        "The task for each subagent; {{item}} is replaced by the item."))
    items: list[str] = Field(min_length=1, max_length=MAX_ITEMS, description=(
        f"One subagent per item (at most {MAX_ITEMS}), e.g. file paths or module names."))
    subagent_type: str | None = Field(default=None, description="As for Agent.")


def _runner(ctx: ToolContext) -> SubagentRunner:
    runner = ctx.swarm
    if runner is None:
        raise ToolError("Subagents are not available here (this agent may not spawn subagents). "
                        "Do the work yourself with your other tools.")
    return runner


def _type_name(runner: SubagentRunner, name: str | None) -> str:
    try:
        return runner.resolve_type(name).name
    except SwarmError as exc:
        raise ToolError(str(exc)) from None


def _files(results: list[Any]) -> tuple[str, ...]:
    return tuple(sorted({f for r in results if r.merge == "merged" for f in r.files_changed}))


class AgentTool(Tool[AgentArgs]):
    name = "Agent"
    Args = AgentArgs
    concurrent_safe = True
    mutates_workspace = True
    delegates_writes = True
    description_file: ClassVar[str] = "agent.md"

    def permission_subject(self, args: AgentArgs, ctx: ToolContext | None = None) -> str:
        return args.subagent_type or "explore"

    async def run(self, args: AgentArgs, ctx: ToolContext) -> ToolResult:
        call_id = current_call_id.get() or str(ctx.state.get(SPAWN_CALL_KEY, ""))
        runner = _runner(ctx)
        spec = SubagentSpec(args.description, args.prompt, _type_name(runner, args.subagent_type))
        results = await runner.run([spec], call_id)
        result = results[0]
        if result.status == "success" and result.merge != "conflict":
            details = render_for_model(results).splitlines()[-1]
            content = f"{result.summary or '(no final message)'}\n\n[subagent result] {details}"
        else:
            content = render_for_model(results)
        return ToolResult(content, is_error=result.status != "success",
                          display={"subagents": [r.to_dict() for r in results]},
                          files_changed=_files(results))


class AgentSwarmTool(Tool[AgentSwarmArgs]):
    name = "AgentSwarm"
    Args = AgentSwarmArgs
    concurrent_safe = True
    mutates_workspace = True
    delegates_writes = True
    description_file: ClassVar[str] = "agent_swarm.md"

    def permission_subject(self, args: AgentSwarmArgs, ctx: ToolContext | None = None) -> str:
        return args.subagent_type or "explore"

    async def run(self, args: AgentSwarmArgs, ctx: ToolContext) -> ToolResult:
        call_id = current_call_id.get() or str(ctx.state.get(SPAWN_CALL_KEY, ""))
        runner = _runner(ctx)
        if ITEM_MARK not in args.prompt_template:
            raise ToolError(f"prompt_template must contain {ITEM_MARK} (replaced by each item); "
                            "otherwise every subagent would get the same task.")
        stype = _type_name(runner, args.subagent_type)
        specs = [SubagentSpec(f"{args.description} [{item[:60]}]",
                              args.prompt_template.replace(ITEM_MARK, item), stype, item)
                 for item in args.items]
        results = await runner.run(specs, call_id)
        failed = all(r.status != "success" for r in results)
        return ToolResult(render_for_model(results), is_error=failed,
                          display={"subagents": [r.to_dict() for r in results]},
                          files_changed=_files(results))
