"""AgentSession: the one place an agent is assembled, and the one API front ends use.

Operations in (`submit`, `steer`, `cancel`, `compact`, `rewind`, `undo`, `run_shell`, `trust`,
`switch_model`, `set_mode`, `fork`, `close`), events out (kimi_code.events, to every
subscriber). It owns the session store, the session lock, the provider, the tools and their
context (sandbox, background jobs), the permission policy, the recorder, the checkpointer, the
swarm and the workspace's trust. The TUI, plain mode and `kimi-code run` are thin clients: none
of them touches the agent, its recorder or its history (a test walks their imports).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from kimi_code.config import Config, ModelConfig
from kimi_code.events import Event, Notice, SessionStarted
from kimi_code.runtime.assemble import AgentParts, SessionOptions, Workspace, resolve_model
from kimi_code.runtime.session_history import SessionHistory
from kimi_code.runtime.teardown import loop_running, stop_jobs, teardown, title_from

if TYPE_CHECKING:  # the agent (tools, pydantic) loads in open(), after the TUI's first frame
    from kimi_code.agent.approval import Approver
    from kimi_code.agent.loop import Agent, TurnResult
    from kimi_code.llm.base import Message, Usage
    from kimi_code.runtime.shell import ShellResult

Subscriber = Callable[[Event], None]
# The runtime's public API: front ends import these from here, never from assemble.py.
__all__ = ["AgentSession", "SessionOptions", "Subscriber", "Workspace", "resolve_model"]


class AgentSession(SessionHistory):
    """One interactive or headless session of the agent in a workspace."""

    def __init__(self, config: Config, model: ModelConfig, workspace: Workspace,
                 options: SessionOptions | None = None, *, approver: Approver | None = None) -> None:
        self.config, self.model, self.workspace = config, model, workspace
        self.options = options or SessionOptions(permission_mode=config.permissions.mode)
        self.approver = approver  # set by the front end before open(); None: "ask" denies
        self.subscribers: list[Subscriber] = []
        self.session_id = ""
        self.resumed = False  # the open session existed before (continue, resume)
        self.agent: Agent | None = None  # for the runtime and tests; front ends use the API
        self._parts = AgentParts()
        self._task: asyncio.Task[TurnResult] | None = None
        self._store: Any = None
        self._lock: Any = None
        self._provider: Any = None
        self._untitled = False
        self._pending_shell: list[str] = []  # `!command` contexts for the next message
        self._closed = False
        self._keep_tools = False  # set by fork() while it switches to the copy
        self._closing: set[asyncio.Future[Any]] = set()  # retired swarms' provider closes

    @classmethod
    def create(cls, *, model: str | None = None, provider: str | None = None,
               base_url: str | None = None, permission_mode: str | None = None,
               **options: Any) -> AgentSession:
        """Configuration (file, environment, flags) for the current directory's workspace.
        Raises ConfigError."""
        config, model_config = resolve_model(model, provider, base_url)
        mode = permission_mode or config.permissions.mode
        return cls(config, model_config, Workspace.discover(),
                   SessionOptions(permission_mode=mode, **options))

    # ---- state front ends read ------------------------------------------------------------------

    @property
    def permission_mode(self) -> str:
        return self.options.permission_mode

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def model_name(self) -> str:
        return self.model.model or self.model.name

    @property
    def messages(self) -> list[Message]:
        """The conversation so far (a copy)."""
        return list(self.agent.context.messages) if self.agent is not None else []

    @property
    def usage(self) -> Usage:
        from kimi_code.llm.base import Usage

        return self.agent.context.total_usage if self.agent is not None else Usage()

    @property
    def context_fraction(self) -> float:
        """How full the model's context window is (0..1)."""
        return self.agent.context.used_fraction() if self.agent is not None else 0.0

    @property
    def pending_shell(self) -> int:
        """How many `!command` outputs wait to go with the next message."""
        return len(self._pending_shell)

    @property
    def subagent_history(self) -> list[Any]:
        """Every subagent this session ran (SubagentResult), for summaries."""
        return list(self._parts.swarm.history) if self._parts.swarm is not None else []

    # ---- events -----------------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber` with every event from now on; returns the unsubscribe function."""
        self.subscribers.append(subscriber)
        return lambda: self.subscribers.remove(subscriber) if subscriber in self.subscribers \
            else None

    async def events(self) -> AsyncIterator[Event]:
        """The events from now on, as an async iterator (until the consumer stops)."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        unsubscribe = self.subscribe(queue.put_nowait)
        try:
            while True:
                yield await queue.get()
        finally:
            unsubscribe()

    def emit(self, event: Event) -> None:
        for subscriber in list(self.subscribers):
            subscriber(event)

    def notice(self, message: str, level: str = "warning") -> None:
        self.emit(Notice(level=level, message=message))

    # ---- lifecycle ----------------------------------------------------------------------------

    def open(self, *, continue_: bool = False, resume: str | None = None, title: str = "") -> None:
        """Start a new session (titled `title`, else by its first prompt), or continue/resume
        one. Raises LookupError (unknown, or in use) or ConfigError."""
        from kimi_code.session.store import SessionNotFoundError, SessionStore

        self._store = self._store or SessionStore()
        history: list[Message] = []
        ledger: list[str] = []
        if resume or continue_:
            try:
                info = self._store.resolve(resume) if resume else \
                    self._store.latest(self.workspace.root)
            except SessionNotFoundError as exc:
                raise LookupError(str(exc)) from None  # it already says where to look
            if info is None:
                raise LookupError(f"no earlier session in {self.workspace.root} to continue")
            session_id = info.id
            history, ledger = self._store.messages(session_id), self._store.ledger(session_id)
            self._untitled = not info.title
        else:
            session_id = self._store.create(self.workspace.root, self.model_name,
                                            title=title_from(title))
            self._untitled = not title.strip()
        self._switch_lock(session_id)
        self.resumed = bool(resume or continue_)
        self._build(history, ledger, resumed=self.resumed)

    def resume(self, session_id: str) -> None:
        """Switch to an earlier session (the caller cancels a running turn first)."""
        self.open(resume=session_id)

    async def new_session(self) -> None:
        await self.cancel()
        self.open()

    def _switch_lock(self, session_id: str) -> None:
        lock = self._store.lock(session_id)
        try:
            lock.__enter__()
        except Exception as exc:
            raise LookupError(str(exc)) from None
        if self._lock is not None and self._lock is not lock:
            with contextlib.suppress(Exception):
                self._lock.__exit__(None, None, None)
        if session_id != self.session_id:
            self._retire_parts()
        self._lock, self.session_id = lock, session_id

    def _retire_parts(self) -> None:
        """A different session id: its background jobs stop and its swarm providers close.
        A fork keeps the tool context (its jobs, e.g. a dev server, run on in the copy)."""
        old, self._parts = self._parts, AgentParts()
        self._pending_shell.clear()  # `!command` outputs belong to the session they ran in
        if self._keep_tools:
            self._parts.ctx = old.ctx
        else:
            stop_jobs(old.ctx)
        self._close_later(old.swarm)

    def _close_later(self, swarm: Any) -> None:
        """Close a retired swarm's providers in the background (from sync code)."""
        if swarm is not None and loop_running():
            closing = asyncio.ensure_future(swarm.aclose())
            self._closing.add(closing)  # held until done: a bare task may be collected
            closing.add_done_callback(self._closing.discard)

    def _build(self, history: list[Message], ledger: list[str], *, resumed: bool) -> None:
        """Assemble the agent for the current session id (again, after trust or a model
        switch: the tool context, its background jobs and the recorder are kept)."""
        from kimi_code.runtime.assemble import AgentSpec, build_agent

        if self._provider is None:
            from kimi_code.llm.factory import make_provider

            self._provider = make_provider(self.model)
        spec = AgentSpec(self.config, self.model, self.workspace, self.options, self.session_id,
                         self._provider, self._store, self.approver)
        built = build_agent(spec, history, ledger, self._parts)
        self.agent, self._parts = built.agent, built.parts
        built.agent.subscribers.append(self.emit)
        self.emit(SessionStarted(session_id=self.session_id, cwd=str(self.workspace.cwd),
                                 model=self.model_name, tools=built.tool_names,
                                 permission_mode=self.permission_mode, resumed=resumed))
        for message in built.notices:
            self.notice(message)

    async def close(self) -> None:
        """Cancel the turn, stop background jobs, close providers, release the lock (once)."""
        if self._closed:
            return
        self._closed = True
        await self.cancel()
        parts, self._parts = self._parts, AgentParts()
        await teardown(parts)
        if self._provider is not None:
            with contextlib.suppress(Exception):
                await self._provider.aclose()
        if self._lock is not None:
            with contextlib.suppress(Exception):
                self._lock.__exit__(None, None, None)
        if self._store is not None:
            self._store.close()

    # ---- trust --------------------------------------------------------------------------------

    @property
    def trusted(self) -> bool:
        from kimi_code.safety import trust

        return trust.is_trusted(self.workspace.root)

    @property
    def needs_trust(self) -> bool:
        """True until the user trusts this workspace: ask before open() (Enter trusts; Esc/n
        declines and continues with nothing project-level loaded)."""
        return not self.trusted

    def trust(self) -> None:
        """Record trust; once open, rebuild the agent so project config and custom subagent
        types load (between turns; a running turn keeps what it started with)."""
        from kimi_code.safety import trust

        trust.trust(self.workspace.root)
        if self.agent is not None and not self.busy:
            swarm, self._parts.swarm = self._parts.swarm, None  # reloads the custom types
            self._close_later(swarm)
            self._build(self.messages, list(self.agent.context.ledger), resumed=True)

    # ---- turns --------------------------------------------------------------------------------

    def submit(self, prompt: str) -> asyncio.Task[TurnResult]:
        """Start a turn (await the task for its TurnResult); while one runs, the prompt is
        injected into it instead (steering). Pending `!command` outputs go in front, once."""
        assert self.agent is not None, "open() first"
        if self.busy:
            self.steer(prompt)
            assert self._task is not None
            return self._task
        text = self._with_shell_context(prompt)
        self._name_session(prompt)
        self._task = asyncio.ensure_future(self.agent.run_turn(text))
        return self._task

    def steer(self, text: str) -> None:
        """Inject a message into the running turn before its next step."""
        assert self.agent is not None, "open() first"
        self.agent.steer(self._with_shell_context(text))

    async def cancel(self) -> None:
        if self.busy and self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def interrupted_result(self, steps: int) -> TurnResult:
        """The result of a turn stopped from outside (Ctrl-C, SIGTERM) after `steps` steps."""
        from kimi_code.agent.loop import TurnResult

        return TurnResult("cancelled", "", self.usage, steps, "Interrupted.")

    async def compact(self) -> bool:
        """Summarise the conversation now; False when there is nothing to compact."""
        assert self.agent is not None, "open() first"
        return bool(await self.agent.compact_now())

    def _name_session(self, prompt: str) -> None:
        if not self._untitled or not prompt.strip():
            return
        self._untitled = False
        with contextlib.suppress(Exception):  # a title is a nicety
            self._store.set_title(self.session_id, title_from(prompt))

    # ---- `!command` ---------------------------------------------------------------------------

    async def run_shell(self, command: str) -> ShellResult:
        """Run the user's `!command` in the current directory; its output goes, once, in front
        of the next message (submit or steer)."""
        from kimi_code.runtime.assemble import child_environment
        from kimi_code.runtime.shell import run_user_command

        result = await run_user_command(command, self.workspace.cwd, child_environment())
        self._pending_shell.append(result.context)
        return result

    def _with_shell_context(self, text: str) -> str:
        from kimi_code.runtime.shell_context import attach

        pending, self._pending_shell = self._pending_shell, []
        return attach(pending, text)

    # ---- mode and model -----------------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        """Change the permission mode now (a running turn's next tool call sees it)."""
        from kimi_code.safety.permissions import MODES

        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
        self.options.permission_mode = mode
        if self.agent is not None:
            self.agent.policy.mode = mode

    async def switch_model(self, name: str) -> None:
        """Continue this conversation with another configured model (raises ConfigError)."""
        from kimi_code.config import validate_model
        from kimi_code.llm.factory import make_provider

        model = self.config.model_config(name)
        validate_model(model)
        await self.cancel()
        assert self.agent is not None, "open() first"
        provider, old = make_provider(model), self._provider
        history, ledger = self.messages, list(self.agent.context.ledger)
        self.model, self._provider = model, provider
        if self._parts.swarm is not None:
            await self._parts.swarm.aclose()
            self._parts.swarm = None  # rebuilt on the new provider
        self._build(history, ledger, resumed=True)
        if old is not None:
            with contextlib.suppress(Exception):
                await old.aclose()
