"""`python -m kimi_code.index [PATH] [--map] [--tokens N] [--focus F]... [--json] [--defs]`.

The same as `kimi-code index`, plus `--defs` (every definition as JSON lines) for scripts and
benchmarks that should not depend on the Typer app.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kimi_code.app.index import index_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kimi_code.index")
    parser.add_argument("path", nargs="?", type=Path, default=Path.cwd())
    parser.add_argument("--map", action="store_true", help="print the ranked repo map")
    parser.add_argument("--tokens", type=int, default=1024, help="token budget for --map")
    parser.add_argument("--focus", action="append", default=[], help="focus file (repeatable)")
    parser.add_argument("--json", action="store_true", help="summary as JSON")
    parser.add_argument("--defs", action="store_true",
                        help='every definition as JSON lines {"path","name","kind","line","end_line"}')
    args = parser.parse_args(argv)
    return index_main(args.path, show_map=args.map, tokens=args.tokens, focus=args.focus,
                      as_json=args.json, defs=args.defs)


if __name__ == "__main__":
    sys.exit(main())
