"""Assembling an agent for a workspace: config -> provider, tools, context, system prompt,
permissions, recorder, checkpointer, swarm. `build_agent` is called only by AgentSession
(kimi_code.runtime.session), the one composition root; front ends never assemble anything."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kimi_code.agent.instructions import build_system_prompt, workspace_root
from kimi_code.config import Config, ConfigError, ModelConfig, load_config, with_overrides

if TYPE_CHECKING:  # tools pull in pydantic: imported lazily so the TUI draws its first frame sooner
    from kimi_code.agent.approval import Approver
    from kimi_code.agent.loop import Agent
    from kimi_code.llm.base import Message
    from kimi_code.tools.base import ToolContext
    from kimi_code.tools.registry import ToolRegistry


def child_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment tools' child processes get: an allowlist (kimi_code.safety.secrets, issue 10),
    never API keys, tokens or the SSH agent socket."""
    from kimi_code.safety.secrets import child_env

    return child_env(os.environ if environ is None else environ)


@dataclass
class Workspace:
    root: Path
    cwd: Path
    extra_dirs: tuple[Path, ...] = ()

    @classmethod
    def discover(cls, cwd: Path | None = None, add_dirs: tuple[Path, ...] = ()) -> Workspace:
        cwd = (cwd or Path.cwd()).resolve()
        extra: list[Path] = []
        for directory in add_dirs:
            resolved = directory.expanduser().resolve()
            if not resolved.is_dir():
                raise ConfigError(f"--add-dir {directory}: not a directory")
            extra.append(resolved)
        return cls(workspace_root(cwd), cwd, tuple(extra))


def resolve_model(model: str | None, provider: str | None, base_url: str | None) -> tuple[Config, ModelConfig]:
    """Load config + env, apply flags, validate. Raises ConfigError."""
    return with_overrides(load_config(), model=model, provider=provider, base_url=base_url)


def build_tools(names: tuple[str, ...] | None = None) -> ToolRegistry:
    from kimi_code.tools.registry import DEFAULT_TOOLSET, ToolRegistry

    return ToolRegistry.builtin(DEFAULT_TOOLSET if names is None else names)


def tool_context(workspace: Workspace, session_id: str) -> ToolContext:
    """The tools' context. Issue 10: this process holds the API keys, so it becomes
    non-dumpable; Bash runs in the OS sandbox (`ctx.sandbox`, mode from
    KIMI_CODE_SANDBOX, default workspace-write; proven by a self-test at first use)."""
    from kimi_code.safety.sandbox import sandbox_for_workspace
    from kimi_code.safety.secrets import make_non_dumpable
    from kimi_code.tools.base import ToolContext

    make_non_dumpable()
    try:
        sandbox = sandbox_for_workspace(workspace.root, workspace.extra_dirs)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return ToolContext(workspace=workspace.root, extra_dirs=workspace.extra_dirs,
                       session_id=session_id, env=child_environment(),
                       sandbox=sandbox)


def initial_map(workspace: Path) -> str:
    """A small repo map for the system prompt; empty when the index is unavailable."""
    if os.environ.get("KIMI_CODE_NO_REPO_MAP"):
        return ""
    try:
        from kimi_code.index.repo_map import initial_repo_map
    except ImportError:
        return ""
    try:
        return initial_repo_map(workspace, max_tokens=1024)
    except Exception:  # the map is a nicety; never block a run on it
        return ""


def system_prompt(workspace: Workspace, tools: ToolRegistry) -> str:
    return build_system_prompt(workspace.root, workspace.cwd, tools=tools.names(),
                               repo_map=initial_map(workspace.root),
                               extra_dirs=workspace.extra_dirs)


def make_checkpointer(workspace: Path, session_id: str, recorder: object | None = None
                      ) -> Callable[[str], Awaitable[str | None]]:
    """The agent's checkpoint hook: snapshot the workspace into the shadow store (off the event
    loop), tagged with the session's last event seq so rewind can cut the conversation too.
    Made once per session start, so it also starts the store's daily gc when due (a stat or
    two; the gc itself runs in a detached low-priority process)."""
    from kimi_code.git.checkpoints.auto import schedule_auto_gc

    schedule_auto_gc(workspace, session_id)

    async def checkpoint(trigger: str) -> str | None:
        if os.environ.get("KIMI_CODE_NO_CHECKPOINTS"):
            return None
        try:
            from kimi_code.git.checkpoints.store import CheckpointStore
        except ImportError:
            return None
        store = CheckpointStore(workspace, session_id)
        seq = getattr(recorder, "last_seq", None) or None
        return (await asyncio.to_thread(store.snapshot, trigger, message_seq=seq)).id

    return checkpoint


@dataclass(frozen=True)
class EffectivePermissions:
    mode: str
    allow: tuple[str, ...]
    ask: tuple[str, ...]
    deny: tuple[str, ...]
    notices: tuple[str, ...] = ()


def effective_permissions(config: Config, workspace: Workspace, *, mode: str,
                          allow: tuple[str, ...] = (), deny: tuple[str, ...] = (),
                          review: bool = False) -> EffectivePermissions:
    """User config + flags, narrowed by the project's `.kimi-code/config.toml` when (and only
    when) the workspace is trusted and this is not a review. A project can add ask/deny rules
    and tighten the mode; it can never widen anything. Raises ConfigError for a broken project
    file."""
    from kimi_code.safety import trust

    user = config.permissions
    try:
        project = trust.load_project_config(workspace.root, review=review)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if project is None:
        return EffectivePermissions(mode, allow + user.allow, user.ask, deny + user.deny)
    notices = tuple(f"project config ignored {item}" for item in project.ignored)
    return EffectivePermissions(project.narrow_mode(mode), allow + user.allow,
                                user.ask + project.ask, deny + user.deny + project.deny, notices)


@dataclass
class AgentParts:
    """What one session id holds besides the agent. Kept when the agent is rebuilt (trust, a
    model switch), so background jobs and their table survive it."""

    ctx: Any = None  # ToolContext: sandbox, background jobs, per-session tool state
    recorder: Any = None  # SessionRecorder
    swarm: Any = None  # SwarmRunner


@dataclass
class BuiltAgent:
    agent: Agent
    parts: AgentParts
    tool_names: tuple[str, ...]
    notices: list[str] = field(default_factory=list)


@dataclass
class SessionOptions:
    """How the agent runs: the permission mode and the caller's extra rules, the step limit."""

    permission_mode: str = "ask"
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    max_turns: int | None = None


@dataclass
class AgentSpec:
    """Everything `build_agent` needs from the session (AgentSession fills it in)."""

    config: Config
    model: ModelConfig
    workspace: Workspace
    options: SessionOptions
    session_id: str
    provider: Any  # ChatProvider
    store: Any  # SessionStore
    approver: Approver | None = None


def build_agent(spec: AgentSpec, history: list[Message], ledger: list[str],
                parts: AgentParts) -> BuiltAgent:
    """The agent for `spec.session_id`, wired to its recorder, checkpointer and swarm. Project
    config and custom subagent types load only in a trusted workspace; what was ignored or
    refused comes back as notices. Raises ConfigError."""
    from kimi_code.agent.loop import Agent, AgentOptions
    from kimi_code.agent.recorder import SessionRecorder
    from kimi_code.safety import trust

    workspace, o = spec.workspace, spec.options
    tools = build_tools()
    ctx = parts.ctx or tool_context(workspace, spec.session_id)
    perms = effective_permissions(spec.config, workspace, mode=o.permission_mode,
                                  allow=o.allow, deny=o.deny)
    # The prompt names the workspace path, which need not be UTF-8 (a latin-1 directory name
    # arrives surrogate-escaped and no endpoint accepts it): U+FFFD for those bytes.
    prompt = system_prompt(workspace, tools).encode("utf-8", "surrogateescape").decode(
        "utf-8", "replace")
    options = AgentOptions(system_prompt=prompt, max_turns=o.max_turns,
                           permission_mode=perms.mode, allow=perms.allow, ask=perms.ask,
                           deny=perms.deny, max_tokens=spec.model.max_tokens)
    recorder = SessionRecorder(spec.store, spec.session_id, history)
    if parts.recorder is not None:
        recorder.last_seq = parts.recorder.last_seq
    agent = Agent(spec.provider, tools, ctx, options, approver=spec.approver,
                  history=history, ledger=ledger,
                  checkpointer=make_checkpointer(workspace.root, spec.session_id, recorder))
    agent.subscribers.append(recorder)
    swarm = parts.swarm or _swarm(spec, trust.is_trusted(workspace.root))
    swarm.attach(agent)
    return BuiltAgent(agent, AgentParts(ctx, recorder, swarm), tuple(tools.names()),
                      [*perms.notices, *swarm.type_notices])


def _swarm(spec: AgentSpec, trusted: bool) -> Any:
    """Subagents (issue 6): Agent/AgentSwarm run through this runner; custom types from
    `.kimi-code/agents` only in a trusted workspace."""
    from kimi_code.agent.swarm import make_swarm_runner

    return make_swarm_runner(spec.provider, spec.workspace.root, spec.config, spec.session_id,
                             spec.store, trusted_workspace=trusted)
