"""Agent tools: one module per tool, its description beside it as a .md file."""
