"""The interactive session controller shared by the TUI and the plain line mode.

It owns the session (store, lock, recorder), the provider and the agent; front ends subscribe
to its events and call its intents (submit, steer, cancel, new, resume, set mode, compact).
Front ends contain no agent logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kimi_code.agent.approval import Approver
from kimi_code.config import Config, ConfigError, ModelConfig
from kimi_code.events import Event, SessionStarted
from kimi_code.runtime.assemble import Workspace, resolve_model

if TYPE_CHECKING:  # the agent (tools, pydantic) loads in open(), after the TUI's first frame
    from kimi_code.agent.loop import Agent, TurnResult


@dataclass
class InteractiveSession:
    config: Config
    model: ModelConfig
    workspace: Workspace
    permission_mode: str = "ask"
    approver: Approver | None = None
    subscribers: list[Callable[[Event], None]] = field(default_factory=list)
    session_id: str = ""
    agent: Agent | None = None
    notices: list[str] = field(default_factory=list)
    _task: asyncio.Task[TurnResult] | None = None
    _store: Any = None
    _lock: Any = None
    _provider: Any = None

    @classmethod
    def create(cls, *, model: str | None = None, provider: str | None = None,
               base_url: str | None = None, permission_mode: str | None = None) -> InteractiveSession:
        config, model_config = resolve_model(model, provider, base_url)
        return cls(config, model_config, Workspace.discover(),
                   permission_mode=permission_mode or config.permissions.mode)

    # ---- lifecycle -----------------------------------------------------------------------------

    def open(self, *, continue_: bool = False, resume: str | None = None) -> None:
        """Start a new session, or continue/resume one (raises LookupError when impossible)."""
        from kimi_code.llm.factory import make_provider
        from kimi_code.session.store import SessionNotFoundError, SessionStore

        self._store = self._store or SessionStore()
        history: list[Any] = []
        ledger: list[str] = []
        if resume or continue_:
            try:
                info = self._store.resolve(resume) if resume else self._store.latest(self.workspace.root)
            except SessionNotFoundError as exc:
                raise LookupError(str(exc)) from None
            if info is None:
                raise LookupError(f"no earlier session in {self.workspace.root}")
            session_id = info.id
            history, ledger = self._store.messages(session_id), self._store.ledger(session_id)
        else:
            session_id = self._store.create(self.workspace.root, self.model.model or self.model.name)
        self._switch_lock(session_id)
        self._provider = self._provider or make_provider(self.model)
        self._build_agent(history, ledger, resumed=bool(resume or continue_))

    def _switch_lock(self, session_id: str) -> None:
        lock = self._store.lock(session_id)
        try:
            lock.__enter__()
        except Exception as exc:
            raise LookupError(str(exc)) from None
        if self._lock is not None:
            with contextlib.suppress(Exception):
                self._lock.__exit__(None, None, None)
        self._lock, self.session_id = lock, session_id

    def _build_agent(self, history: list[Any], ledger: list[str], resumed: bool) -> None:
        from kimi_code.agent.loop import Agent, AgentOptions
        from kimi_code.agent.recorder import SessionRecorder
        from kimi_code.runtime.assemble import (
            build_tools,
            effective_permissions,
            make_checkpointer,
            system_prompt,
            tool_context,
        )

        tools = build_tools()
        ctx = tool_context(self.workspace, self.session_id)
        # Project config (.kimi-code/config.toml) applies only once the workspace is trusted,
        # and can only narrow what the user configured.
        perms = effective_permissions(self.config, self.workspace, mode=self.permission_mode)
        self.notices = list(perms.notices)
        options = AgentOptions(system_prompt=system_prompt(self.workspace, tools),
                               permission_mode=perms.mode, allow=perms.allow,
                               ask=perms.ask, deny=perms.deny, max_tokens=self.model.max_tokens)
        recorder = SessionRecorder(self._store, self.session_id, history)
        self.agent = Agent(self._provider, tools, ctx, options, approver=self.approver,
                           history=history, ledger=ledger,
                           checkpointer=make_checkpointer(self.workspace.root, self.session_id, recorder))
        self.agent.subscribers.append(recorder)
        self.agent.subscribers.append(self._fan_out)
        # Subagents (issue 6): Agent/AgentSwarm run through a runner wired to this agent.
        from kimi_code.agent.swarm import make_swarm_runner

        make_swarm_runner(self._provider, self.workspace.root, self.config, self.session_id,
                          self._store).attach(self.agent)
        self.agent.emit(SessionStarted(session_id=self.session_id, cwd=str(self.workspace.cwd),
                                       model=self.model.model or self.model.name,
                                       tools=tuple(tools.names()),
                                       permission_mode=self.permission_mode, resumed=resumed))

    def _fan_out(self, event: Event) -> None:
        for subscriber in list(self.subscribers):
            subscriber(event)

    async def close(self) -> None:
        await self.cancel()
        if self._provider is not None:
            with contextlib.suppress(Exception):
                await self._provider.aclose()
        if self._lock is not None:
            with contextlib.suppress(Exception):
                self._lock.__exit__(None, None, None)
        if self._store is not None:
            self._store.close()

    # ---- trust (front ends ask; the controller decides what loads) ----------------------------

    @property
    def needs_trust(self) -> bool:
        """True the first time this workspace is opened interactively: ask the user (Enter
        trusts; Esc/n declines and continues with nothing project-level loaded)."""
        from kimi_code.safety import trust

        return not trust.is_trusted(self.workspace.root)

    def trust_workspace(self) -> None:
        """Record trust and rebuild the agent so project config and custom agents load."""
        from kimi_code.safety import trust

        trust.trust(self.workspace.root)
        if self.agent is not None and not self.busy:
            self._build_agent(list(self.agent.context.messages), list(self.agent.context.ledger),
                              resumed=True)

    # ---- intents -------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def submit(self, prompt: str) -> asyncio.Task[TurnResult]:
        """Start a turn; while one runs, the prompt is injected into it instead (steering)."""
        assert self.agent is not None, "open() first"
        if self.busy:
            self.agent.steer(prompt)
            assert self._task is not None
            return self._task
        self._task = asyncio.ensure_future(self.agent.run_turn(prompt))
        return self._task

    async def cancel(self) -> None:
        if self.busy and self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def set_mode(self, mode: str) -> None:
        from kimi_code.safety.permissions import MODES

        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
        self.permission_mode = mode
        if self.agent is not None:
            self.agent.policy.mode = mode

    async def switch_model(self, name: str) -> None:
        """Continue this conversation with another configured model (raises ConfigError)."""
        from kimi_code.config import validate_model
        from kimi_code.llm.factory import make_provider

        model = self.config.model_config(name)
        validate_model(model)
        await self.cancel()
        provider, old = make_provider(model), self._provider
        assert self.agent is not None, "open() first"
        history, ledger = list(self.agent.context.messages), list(self.agent.context.ledger)
        self.model, self._provider = model, provider
        self._build_agent(history, ledger, resumed=True)
        if old is not None:
            with contextlib.suppress(Exception):
                await old.aclose()

    async def new_session(self) -> None:
        await self.cancel()
        self.session_id = self._store.create(self.workspace.root, self.model.model or self.model.name)
        self._switch_lock(self.session_id)
        self._build_agent([], [], resumed=False)


def start_interactive(*, plain: bool, model: str | None, provider: str | None,
                      base_url: str | None, continue_: bool, resume: str | None) -> int:
    """Entry point for `kimi-code` with no command."""
    try:
        session = InteractiveSession.create(model=model, provider=provider, base_url=base_url)
    except ConfigError as exc:
        if not _onboard(plain, exc):
            sys.stderr.write(f"kimi-code: {exc}\n")
            return 2
        try:
            session = InteractiveSession.create(model=model, provider=provider, base_url=base_url)
        except ConfigError as again:
            sys.stderr.write(f"kimi-code: {again}\n")
            return 2
    if not plain and sys.stdout.isatty():
        try:
            from kimi_code.ui.app import run_tui
        except ImportError:
            run_tui = None
        if run_tui is not None:
            return run_tui(session, continue_=continue_, resume=resume)
    from kimi_code.ui.plain import run_plain

    return run_plain(session, continue_=continue_, resume=resume)


def _onboard(plain: bool, error: ConfigError) -> bool:
    """First run in a terminal with no config file: the TUI's onboarding screen writes one.
    Returns whether the user completed it."""
    from kimi_code import paths

    if plain or not sys.stdout.isatty() or paths.config_file().exists():
        return False
    try:
        from kimi_code.ui.app import run_onboarding
    except ImportError:
        return False
    return run_onboarding(str(error))
