"""FindSymbol: where a name is defined (file:line, kind, signature line)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from kimi_code.tools.base import Tool, ToolArgs, ToolContext, ToolResult

if TYPE_CHECKING:
    from kimi_code.index.repo_map import RepoIndex
    from kimi_code.index.symbols import SymbolHit

MAX_HITS = 50

Kind = Literal["class", "struct", "interface", "enum", "type", "function", "method", "constant",
               "variable", "module", "macro"]


class FindSymbolArgs(ToolArgs):
    name: str = Field(
        min_length=1, max_length=200,
        description='The identifier, e.g. "QuerySet"; "Class.method" or "mod::fn" narrows to '
        "definitions inside that container.",
    )
    kind: Kind | None = Field(default=None, description="Only definitions of this kind.")


class FindSymbolTool(Tool[FindSymbolArgs]):
    name: ClassVar[str] = "FindSymbol"
    Args: ClassVar[type[ToolArgs]] = FindSymbolArgs
    concurrent_safe: ClassVar[bool] = True
    mutates_workspace: ClassVar[bool] = False

    def summary(self, args: FindSymbolArgs, ctx: ToolContext | None = None) -> str:
        return args.name + (f" ({args.kind})" if args.kind else "")

    async def run(self, args: FindSymbolArgs, ctx: ToolContext) -> ToolResult:
        from kimi_code.index.tooling import partial_note, query_index

        def lookup(index: RepoIndex) -> tuple[list[SymbolHit], list[str]]:
            hits = index.find_symbol(args.name, args.kind, limit=MAX_HITS + 1)
            return hits, ([] if hits else index.similar_names(args.name))

        (hits, similar), result = await query_index(ctx.workspace, lookup)
        note = partial_note(result)
        if not hits:
            kind = f" {args.kind}" if args.kind else ""
            text = f"No{kind} definition named {args.name!r} in the workspace index."
            if similar:
                text += " Similar names: " + ", ".join(similar) + "."
            else:
                text += " Try Grep for a text search."
            return ToolResult(text + note, display={"count": 0})
        lines = []
        for hit in hits[:MAX_HITS]:
            where = f"{hit.path}:{hit.line}" + (f"-{hit.end_line}" if hit.end_line > hit.line else "")
            inside = f" in {hit.container}" if hit.container else ""
            lines.append(f"{where}  {hit.kind} {hit.name}{inside}\n    {hit.signature.strip()}")
        if len(hits) > MAX_HITS:
            lines.append(f"(more than {MAX_HITS} definitions; narrow with `kind` or Class.name)")
        return ToolResult("\n".join(lines) + note, display={"count": len(hits[:MAX_HITS])})
