"""Fan-out: run subagents (one, or hundreds from a template) on one event loop, isolated, within
budgets, and merge coder subagents' work back into the workspace.

Wiring (runtime/headless/interactive): build a `SwarmRunner`, put it in `ctx.swarm`
and call `runner.attach(agent)` once the parent agent exists. The Agent/AgentSwarm tools then
call `runner.run(...)`. Every child event is forwarded to the parent's subscribers with
`agent_id` = the spawning tool call's id (stream-json's `parent_tool_use_id`).

Guarantees: children get at most the parent's permissions (a copy of its policy, narrowed to
read-only for read-only types); a failing or timed-out child does not stop the others;
cancelling the parent cancels every child, kills their processes and removes their worktrees and
branches; coder results are merged in subagent order (deterministic), all-or-nothing per
subagent, conflicts reported with files and the branch kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kimi_code.agent.instructions import build_system_prompt
from kimi_code.agent.loop import Agent, AgentOptions, TurnResult
from kimi_code.agent.subagent_types import SPAWN_TOOLS, SubagentType, load_types_reporting
from kimi_code.agent.swarm_sched import AdaptiveLimiter, Budget, GatedProvider, SwarmLimits
from kimi_code.events import (
    AssistantMessage,
    Event,
    RetryScheduled,
    StepStarted,
    SubagentCompleted,
    SubagentProgress,
    SubagentStarted,
    ToolCallStarted,
)
from kimi_code.llm.base import Usage
from kimi_code.tools.base import ToolContext
from kimi_code.tools.registry import ToolRegistry
from kimi_code.tools.subagents import SubagentResult, SubagentSpec, SwarmError

log = logging.getLogger(__name__)
SPAWN_CALL_KEY = "_spawn_call_id"  # ctx.state key: id of the spawn call being run
Sink = Callable[[Event], None]


async def settle(awaitable: Any) -> Any:
    """Await cleanup to the end even if cancelled again meanwhile (a second Ctrl-C must not
    leave worktrees or processes behind); the caller re-raises its own cancellation."""
    future = asyncio.ensure_future(awaitable)
    while True:
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.done():
                return future.result()


class SwarmRunner:
    """Runs subagents for one parent session. One per session; shared by nested spawns."""

    def __init__(self, provider: Any, workspace: Path, *, session_id: str = "",
                 limits: SwarmLimits | None = None, store: Any = None,
                 provider_factory: Callable[[str], Any] | None = None,
                 trusted_workspace: bool = False, permission_mode: str = "accept-edits") -> None:
        self.workspace, self.session_id = workspace, session_id
        self.limits = limits or SwarmLimits()
        self.store = store  # a SessionStore: child transcripts become linked sessions
        self.limiter = AdaptiveLimiter(self.limits.max_concurrency)
        self.agent_slots = asyncio.Semaphore(self.limits.max_concurrency)
        self.budget = Budget(self.limits)
        # Custom types are repository content: only from a trusted workspace (the runtime asks
        # the trust store; default off). Refusals and broken files become notices.
        self.types, self.type_notices = load_types_reporting(workspace, trusted=trusted_workspace)
        self._provider = GatedProvider(provider, self.limiter)
        self._factory = provider_factory
        self._providers: dict[str, GatedProvider] = {}  # model name -> gated provider
        self.sink: Sink = lambda event: None
        self.parent_agent: Agent | None = None
        self.permission_mode = permission_mode  # used only when no parent is attached
        self.parent_ctx: ToolContext | None = None
        self.max_tokens: int | None = None
        self.retry: Any = None  # the parent's RetryPolicy once attached
        self._parent_agent_id = ""
        self._counter = 0
        self.history: list[SubagentResult] = []  # every finished subagent, for summaries
        self._base: str | None = None
        self._base_lock = asyncio.Lock()

    # ---- wiring ----------------------------------------------------------------------------

    def attach(self, agent: Agent) -> None:
        """Take the parent's policy, approver and event stream; observe its spawn calls."""
        self.sink = agent.emit
        self.parent_agent = agent  # policy and approver are read live: /mode changes apply
        self.parent_ctx = agent.ctx
        self.max_tokens = agent.options.max_tokens
        self.retry = agent.options.retry
        self._parent_agent_id = agent.agent_id
        agent.subscribers.append(self.observe)
        agent.ctx.swarm = self

    def observe(self, event: Event) -> None:
        """Remember the parent's running Agent/AgentSwarm call: its id becomes the children's
        agent_id. Spawn tools are not read-only, so an agent runs at most one at a time."""
        if isinstance(event, ToolCallStarted) and event.call.name in SPAWN_TOOLS \
                and event.agent_id == self._parent_agent_id and self.parent_ctx is not None:
            self.parent_ctx.state[SPAWN_CALL_KEY] = event.call.id

    async def aclose(self) -> None:
        for provider in self._providers.values():
            with contextlib.suppress(Exception):
                await provider.inner.aclose()

    # ---- running ---------------------------------------------------------------------------

    def resolve_type(self, name: str | None) -> SubagentType:
        key = (name or "explore").strip()
        if key not in self.types:
            raise SwarmError(f"Unknown subagent_type {key!r}. Available: {', '.join(self.types)}.")
        return self.types[key]

    async def run(self, specs: list[SubagentSpec], parent_id: str) -> list[SubagentResult]:
        """Run every spec (bounded concurrency), then merge coders back in order."""
        for spec in specs:
            spec.number = self.next_number()
        tasks = [asyncio.create_task(self._run_child(spec, parent_id)) for spec in specs]
        try:
            results = list(await asyncio.gather(*tasks))
        except asyncio.CancelledError:
            for task in tasks:  # gather cancelled them already unless it was not started
                if not task.done():
                    task.cancel()
            await settle(asyncio.gather(*tasks, return_exceptions=True))
            raise
        from kimi_code.agent.swarm_merge import merge_back

        await merge_back(self.workspace, self._base, results)
        self.history.extend(results)
        return results

    def next_number(self) -> int:
        self._counter += 1
        return self._counter

    async def _run_child(self, spec: SubagentSpec, parent_id: str) -> SubagentResult:
        result = SubagentResult.from_spec(spec, parent_id)
        async with self.agent_slots:
            why = self.budget.exhausted() or self.budget.take_agent()
            if why:
                result.status, result.error = "skipped", f"Not started: {why}."
                self._completed(result)
                return result
            await _Child(self, spec, result).run()
        return result

    async def base_commit(self) -> str:
        """The swarm's shared starting point for worktrees (computed once, off the loop)."""
        async with self._base_lock:
            if self._base is None:
                from kimi_code.git.worktrees import snapshot_base

                self._base = await asyncio.to_thread(snapshot_base, self.workspace)
            return self._base

    def provider_for(self, stype: SubagentType) -> Any:
        if not stype.model or self._factory is None:
            return self._provider
        if stype.model not in self._providers:
            self._providers[stype.model] = GatedProvider(self._factory(stype.model), self.limiter)
        return self._providers[stype.model]

    def child_policy(self, stype: SubagentType) -> Any:
        """A copy of the parent's policy (session grants included), never wider."""
        if self.parent_agent is None:
            from kimi_code.safety.permissions import PermissionPolicy

            policy = PermissionPolicy.from_strings(self.permission_mode)
        else:
            policy = copy.deepcopy(self.parent_agent.policy)
        if stype.read_only:
            policy.mode = "read-only"
        return policy

    def _completed(self, result: SubagentResult) -> None:
        self.sink(SubagentCompleted(agent_id=result.parent_id, subagent_id=result.subagent_id,
                                    status=result.status, summary=result.summary or result.error,
                                    usage=result.usage, files_changed=tuple(result.files_changed)))


class _Stopped(Exception):
    """The child was stopped by its own limit (timeout), not by the parent."""


class _Child:
    """One subagent's life: worktree, agent, turn, commit, events, transcript."""

    def __init__(self, runner: SwarmRunner, spec: SubagentSpec, result: SubagentResult) -> None:
        self.runner, self.spec, self.result = runner, spec, result
        self.stype = runner.resolve_type(spec.subagent_type)
        self.worktree: Any = None
        self.ctx: ToolContext | None = None
        self.stop_reason = ""  # budget | timeout, when we cancelled it ourselves
        self.task: asyncio.Task[Any] | None = None
        self.recorder: Any = None

    async def run(self) -> None:
        r, runner = self.result, self.runner
        self.task = asyncio.current_task()
        try:
            agent = await self._build()
            runner.sink(SubagentStarted(agent_id=r.parent_id, subagent_id=r.subagent_id,
                                        subagent_type=self.stype.name, description=r.description,
                                        item=self.spec.item))
            turn = await self._turn(agent)
            self._finish_turn(turn)
            if self.worktree is not None:
                await self._collect()
        except _Stopped:
            r.status = self.stop_reason  # timeout: asyncio.timeout already un-cancelled us
            if self.worktree is not None:
                await self._collect()
        except asyncio.CancelledError:
            own = self.stop_reason == "budget" and self.task is not None \
                and self.task.uncancel() == 0  # our own cancel, and no one else's pending
            if not own:
                r.status, r.error = "cancelled", "Cancelled with the parent."
                runner._completed(r)
                await self._kill_processes()
                await self._cleanup(delete_branch=True)
                raise
            r.status = self.stop_reason
            if self.worktree is not None:
                await self._collect()
        except Exception as exc:  # a child's failure never stops the swarm
            log.exception("subagent %s failed", r.subagent_id)
            r.status, r.error = "failed", f"{type(exc).__name__}: {exc}"
            if self.worktree is not None:
                await self._collect()
        finally:
            await self._kill_processes()
        runner._completed(r)

    async def _build(self) -> Agent:
        runner, stype, r = self.runner, self.stype, self.result
        workdir = runner.workspace
        if stype.isolation == "worktree":
            from kimi_code.git.worktrees import create_worktree

            if not (runner.workspace / ".git").exists():
                raise RuntimeError(f"{stype.name} subagents need a git repository; "
                                   f"{runner.workspace} is not one")
            base = await runner.base_commit()
            self.worktree = await asyncio.to_thread(create_worktree, runner.workspace, base,
                                                    runner.session_id or "swarm", r.number)
            r.branch, workdir = self.worktree.branch, self.worktree.path
        parent = runner.parent_ctx
        tools = ToolRegistry.builtin(stype.toolset())
        # Issue 10: subagents stay in the OS sandbox; a worktree becomes writable too.
        sandbox = parent.sandbox.for_root(workdir) if parent and parent.sandbox else None
        self.ctx = ToolContext(workspace=workdir, extra_dirs=parent.extra_dirs if parent else (),
                               session_id=runner.session_id, env=parent.env if parent else None,
                               sandbox=sandbox, swarm=runner if stype.can_spawn else None)
        prompt = build_system_prompt(workdir, workdir, tools=tools.names())
        if stype.prompt:
            prompt += "\n\n# Your role\n\n" + stype.prompt
        options = AgentOptions(system_prompt=prompt, max_turns=stype.max_turns,
                               permission_mode="read-only" if stype.read_only else "ask",
                               max_tokens=runner.max_tokens)
        if runner.retry is not None:
            options.retry = runner.retry
        agent = Agent(runner.provider_for(stype), tools, self.ctx, options, on_event=self._forward,
                      approver=runner.parent_agent.executor.approver if runner.parent_agent
                      else None, agent_id=r.parent_id)
        agent.policy = agent.executor.policy = runner.child_policy(stype)
        self._open_transcript(agent)
        return agent

    async def _turn(self, agent: Agent) -> TurnResult:
        timeout = self.runner.limits.agent_timeout_s
        try:
            async with asyncio.timeout(timeout):
                return await agent.run_turn(self.spec.prompt)
        except TimeoutError:
            self.stop_reason = "timeout"
            self.result.error = f"Timed out after {timeout:g}s."
            raise _Stopped from None

    def _finish_turn(self, turn: TurnResult) -> None:
        r = self.result
        r.usage, r.steps, r.summary = turn.usage, turn.num_steps, turn.text
        r.status = {"end_turn": "success", "max_turns": "max_turns"}.get(turn.stop_reason, "failed")
        if self.stop_reason:
            r.status = self.stop_reason
        if r.status != "success":
            r.error = turn.error or turn.stop_reason

    def _forward(self, event: Event) -> None:
        """Child event -> budgets, 429 signal, progress, transcript, then the parent's stream."""
        runner, r = self.runner, self.result
        if isinstance(event, StepStarted) and event.agent_id == r.parent_id:
            if runner.budget.steps >= runner.limits.max_total_steps:
                self._stop("budget")  # this step never reaches the model
                return
            runner.budget.steps += 1
            r.steps = event.step
            runner.sink(SubagentProgress(agent_id=r.parent_id, subagent_id=r.subagent_id,
                                         step=event.step, last_tool=r.last_tool, usage=r.usage))
        elif isinstance(event, AssistantMessage) and event.agent_id == r.parent_id:
            r.usage = r.usage + event.usage
            runner.budget.tokens += event.usage.input_tokens + event.usage.output_tokens
            if runner.budget.exhausted().startswith("the swarm token"):
                self._stop("budget")
        elif isinstance(event, ToolCallStarted) and event.agent_id == r.parent_id:
            r.last_tool = event.call.name
            # Progress again as each tool starts, so views show the tool running now rather
            # than the one of the step before.
            runner.sink(SubagentProgress(agent_id=r.parent_id, subagent_id=r.subagent_id,
                                         step=r.steps, last_tool=r.last_tool, usage=r.usage))
            if event.call.name in SPAWN_TOOLS and self.ctx is not None:
                self.ctx.state[SPAWN_CALL_KEY] = event.call.id
        elif isinstance(event, RetryScheduled) and event.status == 429:
            runner.limiter.on_rate_limited()
        if self.recorder is not None and event.agent_id == r.parent_id:
            self.recorder(dataclasses.replace(event, agent_id=""))
        runner.sink(event)

    def _stop(self, reason: str) -> None:
        if not self.stop_reason and self.task is not None:
            self.stop_reason = reason
            self.result.error = f"Stopped: {self.runner.budget.exhausted()}."
            self.task.cancel()

    def _open_transcript(self, agent: Agent) -> None:
        store, r = self.runner.store, self.result
        if store is None or not self.runner.session_id:
            return
        from kimi_code.agent.recorder import SessionRecorder

        try:
            r.session_id = store.create(self.runner.workspace, getattr(agent.provider, "model", ""),
                                        title=r.description[:80], parent_id=self.runner.session_id,
                                        meta={"kind": "subagent", "subagent_type": self.stype.name,
                                              "subagent_id": r.subagent_id,
                                              "parent_tool_use_id": r.parent_id})
            self.recorder = SessionRecorder(store, r.session_id)
        except Exception:  # a transcript is a nicety; never block the subagent on it
            log.exception("could not create the transcript of %s", r.subagent_id)

    async def _collect(self) -> None:
        """Commit the worktree's changes onto the branch; the merge happens after the swarm."""
        from kimi_code.git.worktrees import commit_worktree

        r = self.result
        try:
            r.commit, r.files_changed = await asyncio.shield(asyncio.to_thread(
                commit_worktree, self.worktree, f"kimi-code subagent {r.subagent_id}: "
                f"{r.description[:60]}"))
        except Exception as exc:
            r.error = (r.error + "; " if r.error else "") + f"could not collect changes: {exc}"
        r.base = self.worktree.base
        r.worktree = self.worktree

    async def _cleanup(self, *, delete_branch: bool) -> None:
        if self.worktree is None:
            return
        from kimi_code.agent.swarm_merge import discard_worktree

        with contextlib.suppress(Exception):
            await settle(asyncio.to_thread(discard_worktree, self.worktree,
                                           delete_branch=delete_branch))
        self.result.branch = ""
        self.worktree = None

    async def _kill_processes(self) -> None:
        if self.ctx is None:
            return
        try:
            from kimi_code.tools.bash_jobs import kill_background_jobs
        except ImportError:
            return
        with contextlib.suppress(Exception):
            await settle(asyncio.to_thread(kill_background_jobs, self.ctx))
        self.ctx = None


def usage_total(results: list[SubagentResult]) -> Usage:
    total = Usage()
    for r in results:
        total = total + r.usage
    return total


def make_swarm_runner(provider: Any, workspace: Path, config: Any, session_id: str,
                      store: Any = None, *, trusted_workspace: bool = False,
                      **limit_overrides: Any) -> SwarmRunner:
    """The runner a front end wires in: limits from config `[swarm]`, custom-model subagents
    through the provider factory. Custom types stay off unless `trusted_workspace`."""
    def factory(name: str) -> Any:
        from kimi_code.llm.factory import make_provider

        return make_provider(config.model_config(name))

    limits = SwarmLimits.from_config(config.swarm, **limit_overrides)
    return SwarmRunner(provider, workspace, session_id=session_id, limits=limits, store=store,
                       provider_factory=factory, trusted_workspace=trusted_workspace)
