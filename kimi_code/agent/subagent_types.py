"""Subagent types: which tools a subagent gets, where it works, and whether it may spawn more.

Built in: `explore` (read-only tools, shares the workspace), `coder` (full tools, its own git
worktree), `reviewer` (read-only tools + ReportFinding when present). Custom types come from
`.kimi-code/agents/*.md` in the workspace: a frontmatter block (`description`, `tools`, `model`,
optionally `isolation: shared|worktree`, `max_turns`, `can_spawn`) followed by the type's
system-prompt text. Custom types are repository content, so they are loaded only when the caller
says the workspace is trusted (`load_types(..., trusted=True)`; the runtime asks the trust store).
`load_types_reporting` also says, as notices a front end shows, which files were refused (an
untrusted workspace) or could not be used (a broken file is skipped, never fatal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kimi_code.tools.registry import DEFAULT_TOOLSET, READ_ONLY_TOOLSET

PROMPTS = Path(__file__).with_name("prompts")
SPAWN_TOOLS = ("Agent", "AgentSwarm")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,40}$")


class SubagentTypeError(ValueError):
    """A custom agent file that cannot be used; the message names the file and the fix."""


@dataclass(frozen=True)
class SubagentType:
    name: str
    description: str
    tools: tuple[str, ...]
    isolation: str = "shared"  # shared | worktree
    read_only: bool = True  # forces the child's permission mode to read-only
    can_spawn: bool = False  # may it use Agent/AgentSwarm itself
    model: str | None = None  # a [models.NAME] entry; None: the parent's model
    max_turns: int = 40
    prompt: str = ""  # extra system-prompt text for this type

    def toolset(self) -> tuple[str, ...]:
        """The tool names this type gets (spawn tools only when allowed)."""
        return tuple(t for t in self.tools if self.can_spawn or t not in SPAWN_TOOLS)


def _prompt(name: str) -> str:
    path = PROMPTS / f"subagent_{name}.md"
    return path.read_text(encoding="utf-8").strip() if path.exists() else ""


def builtin_types() -> dict[str, SubagentType]:
    full = tuple(t for t in DEFAULT_TOOLSET if t not in SPAWN_TOOLS)
    return {
        "explore": SubagentType("explore", "Read-only investigation: search and read, report back.",
                                READ_ONLY_TOOLSET, prompt=_prompt("explore")),
        "coder": SubagentType("coder", "Makes changes in its own git worktree; merged back after.",
                              full, isolation="worktree", read_only=False, max_turns=60,
                              prompt=_prompt("coder")),
        "reviewer": SubagentType("reviewer", "Read-only review of code; reports findings.",
                                 (*READ_ONLY_TOOLSET, "ReportFinding"), prompt=_prompt("reviewer")),
    }


def _frontmatter(text: str, path: Path) -> tuple[dict[str, str], str]:
    if not text.startswith("---"):
        raise SubagentTypeError(f"{path}: expected a frontmatter block starting with '---'")
    end = text.find("\n---", 3)
    if end < 0:
        raise SubagentTypeError(f"{path}: frontmatter is not closed with a '---' line")
    fields: dict[str, str] = {}
    for line in text[3:end].strip().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise SubagentTypeError(f"{path}: frontmatter line {line!r} is not 'key: value'")
        fields[key.strip()] = value.strip().strip("'\"")
    return fields, text[end + 4:].strip()


def _tool_list(value: str) -> tuple[str, ...]:
    value = value.strip().strip("[]")
    return tuple(t.strip().strip("'\"") for t in value.split(",") if t.strip())


def parse_type_file(path: Path) -> SubagentType:
    """Parse one `.kimi-code/agents/NAME.md`; raises SubagentTypeError naming the problem."""
    fields, body = _frontmatter(path.read_text(encoding="utf-8"), path)
    name = fields.get("name") or path.stem
    if not _NAME.match(name):
        raise SubagentTypeError(f"{path}: type name {name!r} must be lower-case letters, digits, - or _")
    if not fields.get("description"):
        raise SubagentTypeError(f"{path}: 'description' is required in the frontmatter")
    tools = _tool_list(fields.get("tools", "")) or READ_ONLY_TOOLSET
    isolation = fields.get("isolation", "shared")
    if isolation not in ("shared", "worktree"):
        raise SubagentTypeError(f"{path}: isolation must be 'shared' or 'worktree'")
    writes = any(t not in READ_ONLY_TOOLSET and t != "ReportFinding" for t in tools)
    if writes and isolation == "shared":
        isolation = "worktree"  # a writing subagent never shares the user's tree
    try:
        max_turns = int(fields.get("max_turns", "40"))
    except ValueError:
        raise SubagentTypeError(f"{path}: max_turns must be an integer") from None
    return SubagentType(name, fields["description"], tools, isolation=isolation,
                        read_only=not writes, can_spawn=fields.get("can_spawn") == "true",
                        model=fields.get("model") or None, max_turns=max_turns, prompt=body)


def load_types(workspace: Path, *, trusted: bool = False) -> dict[str, SubagentType]:
    """Built-in types, plus the workspace's custom types when `trusted` (never by default)."""
    types = builtin_types()
    folder = workspace / ".kimi-code" / "agents"
    if not trusted or not folder.is_dir():
        return types
    for path in sorted(folder.glob("*.md")):
        custom = parse_type_file(path)
        types[custom.name] = custom
    return types


def custom_type_files(workspace: Path) -> list[Path]:
    """The workspace's `.kimi-code/agents/*.md` files (whether or not they will load)."""
    folder = workspace / ".kimi-code" / "agents"
    return sorted(folder.glob("*.md")) if folder.is_dir() else []


def load_types_reporting(workspace: Path, *, trusted: bool) -> tuple[dict[str, SubagentType],
                                                                      list[str]]:
    """Like `load_types`, but a file that cannot be used is skipped with a notice instead of
    failing the session, and an untrusted workspace's files are refused with a notice."""
    types = builtin_types()
    files = custom_type_files(workspace)
    if not files:
        return types, []
    if not trusted:
        names = ", ".join(path.stem for path in files)
        return types, [f"Custom subagent types in .kimi-code/agents ({names}) were not loaded: "
                       "this workspace is not trusted. Trust it (kimi-code asks on first open, "
                       "or /trust) to use them."]
    notices = []
    for path in files:
        try:
            custom = parse_type_file(path)
        except (SubagentTypeError, OSError, UnicodeDecodeError) as exc:
            notices.append(f"Custom subagent type skipped: {exc}")
            continue
        types[custom.name] = custom
    return types, notices
