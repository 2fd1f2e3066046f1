"""FindReferences: where a name is used (calls, type uses, imports), with each line's text."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from kimi_code.tools.base import Tool, ToolArgs, ToolContext, ToolResult

if TYPE_CHECKING:
    from kimi_code.index.repo_map import RepoIndex
    from kimi_code.index.symbols import ReferenceHit, SymbolHit

MAX_REFERENCES = 200


class FindReferencesArgs(ToolArgs):
    name: str = Field(min_length=1, max_length=200,
                      description='The identifier whose uses to list, e.g. "compute_area".')


class FindReferencesTool(Tool[FindReferencesArgs]):
    name: ClassVar[str] = "FindReferences"
    Args: ClassVar[type[ToolArgs]] = FindReferencesArgs
    concurrent_safe: ClassVar[bool] = True
    mutates_workspace: ClassVar[bool] = False

    def summary(self, args: FindReferencesArgs, ctx: ToolContext | None = None) -> str:
        return args.name

    async def run(self, args: FindReferencesArgs, ctx: ToolContext) -> ToolResult:
        from kimi_code.index.tooling import partial_note, query_index

        def lookup(index: RepoIndex) -> tuple[list[SymbolHit], list[ReferenceHit], int]:
            defs = index.find_symbol(args.name, limit=20)
            refs, total = index.find_references(args.name, limit=MAX_REFERENCES)
            return defs, refs, total

        (defs, refs, total), result = await query_index(ctx.workspace, lookup)
        out: list[str] = []
        if defs:
            out.append("Defined at:")
            out.extend(f"  {d.path}:{d.line}  {d.kind} {d.name}" for d in defs)
        if not refs:
            out.append(f"No references to {args.name!r} found in the workspace index "
                       "(calls, type uses and imports are indexed; Grep finds other text).")
        else:
            out.append(f"{total} reference{'s' if total != 1 else ''}:")
            out.extend(f"  {r.path}:{r.line}: {r.text}" for r in refs)
            if total > len(refs):
                out.append(f"(showing the first {len(refs)} of {total}, by path)")
        return ToolResult("\n".join(out) + partial_note(result), display={"count": total})
