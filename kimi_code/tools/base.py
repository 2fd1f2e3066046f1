"""What a tool is: typed arguments (a pydantic model, which is also the JSON schema the model
sees), a description kept as data in `<module>.md`, and an async `run`.

The loop validates arguments before anything runs: malformed arguments never reach `run`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from kimi_code.llm.base import ToolSpec
from kimi_code.safety.errors import ToolError as ToolError  # re-exported; safety raises it too

if TYPE_CHECKING:  # safety pulls in the sandbox machinery; tools only need the types here
    from kimi_code.safety.sandbox import Sandbox
    from kimi_code.tools.subagents import SubagentResult, SubagentSpec

# The id of the tool call being executed, set by the agent's executor around `Tool.run`. A
# context variable (not shared state) so concurrent calls each see their own id.
current_call_id: ContextVar[str] = ContextVar("kimi_code_current_call_id", default="")


class ToolArgs(BaseModel):
    """Base for tool argument models: unknown keys are errors, aliases allowed (Grep's "-i")."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


@dataclass
class ToolResult:
    """What the model sees (`content`), whether it is an error, and optional UI-only data."""

    content: str
    is_error: bool = False
    display: dict[str, Any] = field(default_factory=dict)
    files_changed: tuple[str, ...] = ()


A = TypeVar("A", bound=ToolArgs)


class SubagentKind(Protocol):
    """A subagent type as the spawn tools see it (kimi_code.agent.subagent_types has the rest)."""

    @property
    def name(self) -> str: ...


class SubagentRunner(Protocol):
    """What the Agent/AgentSwarm tools need from the session's swarm (kimi_code.agent.swarm's
    SwarmRunner implements it); a protocol so tools never import the agent layer."""

    def resolve_type(self, name: str | None) -> SubagentKind:
        """The subagent type called `name` (None: the default); raises SwarmError if unknown."""
        ...

    async def run(self, specs: list[SubagentSpec], parent_id: str) -> list[SubagentResult]:
        """Run one subagent per spec under the spawning call `parent_id`; one result each."""
        ...


@dataclass
class ToolContext:
    """Everything a tool may touch. Tools never read global state."""

    workspace: Path
    extra_dirs: tuple[Path, ...] = ()
    session_id: str = ""
    # Free-form per-session state shared between tools (e.g. the todo list, files read).
    state: dict[str, Any] = field(default_factory=dict)
    # Environment for child processes (already stripped of secrets by the caller).
    env: dict[str, str] | None = None
    # The OS sandbox Bash runs model commands in (issue 10); None runs them unconfined.
    sandbox: Sandbox | None = None
    # The session's subagent runner for Agent/AgentSwarm; None where spawning is not allowed.
    swarm: SubagentRunner | None = None


class Tool(ABC, Generic[A]):
    """A tool. Subclasses set `name`, `Args`, `concurrent_safe`, `mutates_workspace` (and
    `delegates_writes` for the spawn tools), and implement `run`."""

    name: ClassVar[str]
    Args: ClassVar[type[ToolArgs]]
    # May start as soon as its call has streamed in and run beside the step's other
    # concurrent-safe calls (when allowed without asking): reads, searches, spawns.
    concurrent_safe: ClassVar[bool] = False
    # May change files in the workspace. Such a call is permission-checked as a write (refused
    # in read-only mode, asked in ask mode unless a rule allows it), the agent checkpoints after
    # it, and shared file listings begun before it are not reused. The safe default: a tool
    # that does not say otherwise is treated as one that writes.
    mutates_workspace: ClassVar[bool] = True
    # The writes are made by subagents, each of whose calls is checked against (a copy of) this
    # agent's policy, and reach the workspace only by a merge. So the spawn itself asks no
    # permission, and a call counts as a change only when its result names changed files
    # (coders that merged), not for every read-only explore.
    delegates_writes: ClassVar[bool] = False
    # Description file beside the module, e.g. tools/read.md; loaded lazily and cached.
    description_file: ClassVar[str] = ""
    _description_cache: ClassVar[str | None] = None
    # Set per class by spec(), read through cls.__dict__ so a subclass never sees its parent's.
    _spec_cache: ClassVar[ToolSpec]

    @classmethod
    def asks_as_write(cls) -> bool:
        """Whether permission is decided as for a write (read-only mode refuses the call)."""
        return cls.mutates_workspace and not cls.delegates_writes

    @classmethod
    def changed_workspace(cls, result: ToolResult | None) -> bool:
        """Whether a call that ran may have changed the workspace; `result` is None when the
        tool raised (then a writing tool is assumed to have written part of its change)."""
        if not cls.mutates_workspace:
            return False
        if cls.delegates_writes:
            return result is not None and bool(result.files_changed)
        return True

    @classmethod
    def description(cls) -> str:
        if cls._description_cache is None:
            module_file = Path(__import__(cls.__module__, fromlist=["_"]).__file__ or "")
            md = module_file.with_name(cls.description_file or module_file.stem + ".md")
            cls._description_cache = md.read_text(encoding="utf-8").strip() if md.exists() else ""
        return cls._description_cache

    @classmethod
    def spec(cls) -> ToolSpec:
        # Schemas are sent with every request: build each once per class (pydantic's schema
        # generation costs milliseconds).
        cached: ToolSpec | None = cls.__dict__.get("_spec_cache")
        if cached is not None:
            return cached
        spec = cls._build_spec()
        cls._spec_cache = spec
        return spec

    @classmethod
    def _build_spec(cls) -> ToolSpec:
        schema = cls.Args.model_json_schema(by_alias=True)
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        return ToolSpec(name=cls.name, description=cls.description(), parameters=schema)

    @classmethod
    def parse_args(cls, raw: str | dict[str, Any]) -> A:
        """Parse and validate raw JSON arguments; raise ToolError naming the schema on failure."""
        try:
            data = json.loads(raw) if isinstance(raw, str) else raw
            if raw == "" or data is None:
                data = {}
        except json.JSONDecodeError as exc:
            raise ToolError(
                f"Arguments for {cls.name} are not valid JSON ({exc.msg} at position {exc.pos}). "
                f"Expected an object matching: {cls.schema_summary()}"
            ) from None
        if not isinstance(data, dict):
            raise ToolError(
                f"Arguments for {cls.name} must be a JSON object, got {type(data).__name__}. "
                f"Expected: {cls.schema_summary()}"
            )
        try:
            # `Args` is the class a Tool[A] subclass declares for A (a ClassVar cannot name A).
            return cast(A, cls.Args.model_validate(data))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ToolError(
                f"Invalid arguments for {cls.name}: {problems}. Expected: {cls.schema_summary()}"
            ) from None

    @classmethod
    def schema_summary(cls) -> str:
        """A one-line `Name{a, b?}` rendering of the argument schema for error messages."""
        schema = cls.Args.model_json_schema(by_alias=True)
        required = set(schema.get("required", []))
        fields = [
            name if name in required else f"{name}?" for name in schema.get("properties", {})
        ]
        return f"{cls.name}{{{', '.join(fields)}}}"

    def permission_subject(self, args: A, ctx: ToolContext | None = None) -> str:
        """The string that permission rules match, e.g. the command for Bash, the path for Edit.

        Path tools resolve the path against `ctx` (workspace-relative when inside it) and raise
        ToolError for a path outside the workspace; without `ctx` they return the raw path.
        """
        return ""

    def summary(self, args: A, ctx: ToolContext | None = None) -> str:
        """The key argument shown in a compact UI line (e.g. the file path)."""
        return self.permission_subject(args, ctx)

    @abstractmethod
    async def run(self, args: A, ctx: ToolContext) -> ToolResult: ...
