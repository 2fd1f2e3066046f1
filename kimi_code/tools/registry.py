"""The tool registry: which tools exist, by name, and which set an agent gets.

Tool modules are imported lazily (by dotted path) so that `kimi-code --help` pays nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from kimi_code.llm.base import ToolSpec
from kimi_code.tools.base import Tool

# name -> "module:Class". Order is the order the model sees.
BUILTIN_TOOLS: dict[str, str] = {
    "Read": "kimi_code.tools.read:ReadTool",
    "Write": "kimi_code.tools.write:WriteTool",
    "Edit": "kimi_code.tools.edit:EditTool",
    "Glob": "kimi_code.tools.glob:GlobTool",
    "Grep": "kimi_code.tools.grep:GrepTool",
    "Bash": "kimi_code.tools.bash:BashTool",
    "TodoWrite": "kimi_code.tools.todo:TodoWriteTool",
    "RepoMap": "kimi_code.tools.repo_map:RepoMapTool",
    "FindSymbol": "kimi_code.tools.find_symbol:FindSymbolTool",
    "FindReferences": "kimi_code.tools.find_references:FindReferencesTool",
    # Subagents (issue 6): need ctx.swarm, wired by the front ends.
    "Agent": "kimi_code.tools.agent_tool:AgentTool",
    "AgentSwarm": "kimi_code.tools.agent_tool:AgentSwarmTool",
}

# The default set for the main agent in the workspace; review mode and subagent types pick
# subsets.
DEFAULT_TOOLSET: tuple[str, ...] = tuple(BUILTIN_TOOLS)
READ_ONLY_TOOLSET: tuple[str, ...] = ("Read", "Glob", "Grep", "RepoMap", "FindSymbol", "FindReferences")


def load_tool_class(name: str) -> type[Tool[Any]]:
    target = BUILTIN_TOOLS[name]
    module_name, _, class_name = target.partition(":")
    tool_class = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(tool_class, type) and issubclass(tool_class, Tool)):
        raise TypeError(f"{target} is not a Tool class")
    return tool_class


class ToolRegistry:
    """An ordered set of tool instances available to one agent."""

    def __init__(self, tools: Iterable[Tool[Any]] = ()) -> None:
        self._tools: dict[str, Tool[Any]] = {}
        for tool in tools:
            self.add(tool)

    @classmethod
    def builtin(cls, names: Iterable[str] = DEFAULT_TOOLSET) -> ToolRegistry:
        """Instantiate the named builtin tools, skipping ones whose module is not present."""
        tools: list[Tool[Any]] = []
        for name in names:
            try:
                tools.append(load_tool_class(name)())
            except ModuleNotFoundError as exc:
                if exc.name and exc.name.startswith("kimi_code.tools."):
                    continue  # tool not built in this checkout
                raise
        return cls(tools)

    def add(self, tool: Tool[Any]) -> None:
        self._tools[tool.name] = tool

    def remove(self, name: str) -> None:
        self._tools.pop(name, None)

    def get(self, name: str) -> Tool[Any] | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self) -> list[ToolSpec]:
        return [tool.spec() for tool in self._tools.values()]

    def subset(self, names: Iterable[str]) -> ToolRegistry:
        wanted = set(names)
        return ToolRegistry(t for n, t in self._tools.items() if n in wanted)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)
