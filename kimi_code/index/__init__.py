"""Repository index: tree-sitter tags, cache, ranked repo map, symbol search. No UI, no torch."""
