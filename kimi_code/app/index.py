"""`kimi-code index [PATH]`: index a tree with a progress bar, then print a summary table, the
ranked map (--map), the summary as JSON (--json) or every definition as JSON lines (--defs).

Progress and tables go to stderr when stdout carries machine output or the map, so that
`kimi-code index --map > map.txt` and `--json | jq` stay clean.

`python -m kimi_code.app.index` runs the same without the Typer app, plus `--defs` (every
definition as JSON lines) for scripts and benchmarks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from kimi_code.index.repo_map import IndexPathError, IndexSummary, RepoIndex
from kimi_code.index.scan import ScanResult


class FilesPerSecondColumn(ProgressColumn):
    """Parse throughput of the running task."""

    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} files/s" if speed else "– files/s", style="progress.data.speed")


def _run_update(index: RepoIndex, console: Console, show_progress: bool) -> ScanResult:
    if not show_progress:
        return index.update()
    columns = (TextColumn("[bold]Indexing"), BarColumn(), MofNCompleteColumn(),
               FilesPerSecondColumn(), TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("index", total=None)

        def report(done: int, total: int) -> None:
            # Nothing to parse (warm cache): no bar at all rather than a stuck 0/0.
            progress.update(task, completed=done, total=total, visible=total > 0)

        return index.update(progress=report)


def summary_dict(index: RepoIndex, result: ScanResult, summary: IndexSummary) -> dict[str, Any]:
    """The machine-readable summary printed by --json."""
    return {
        "root": str(index.root),
        "cache": str(index.cache.path),
        "git": result.git,
        "files": summary.files,
        "definitions": summary.definitions,
        "languages": {lang: {"files": n, "definitions": summary.defs_by_language.get(lang, 0)}
                      for lang, n in summary.files_by_language.items()},
        "skipped": summary.skipped,
        "unsupported": result.unsupported,
        "listed": result.listed,
        "parsed": result.parsed,
        "unchanged": result.unchanged,
        "same_content": result.same_content,
        "deleted": result.deleted,
        "seconds": round(result.seconds, 3),
        "files_per_second": round(result.parsed / result.seconds, 1) if result.seconds else 0.0,
        "complete": result.complete,
        "warnings": result.errors,
    }


def _print_table(console: Console, data: dict[str, Any]) -> None:
    table = Table(title=f"Index of {data['root']}", title_justify="left")
    table.add_column("Language")
    table.add_column("Files", justify="right")
    table.add_column("Definitions", justify="right")
    for lang, row in data["languages"].items():
        table.add_row(lang, f"{row['files']:,}", f"{row['definitions']:,}")
    table.add_section()
    table.add_row("[bold]total", f"[bold]{data['files']:,}", f"[bold]{data['definitions']:,}")
    console.print(table)
    skipped = ", ".join(f"{reason} {n:,}" for reason, n in data["skipped"].items())
    console.print(f"Skipped: {skipped or 'none'}; not source (no grammar): {data['unsupported']:,}")
    console.print(
        f"This run: parsed {data['parsed']:,}, unchanged {data['unchanged']:,}, "
        f"same content {data['same_content']:,}, removed {data['deleted']:,} "
        f"in {data['seconds']:.2f}s ({data['files_per_second']:,.0f} files/s). "
        f"Listed by {'git' if data['git'] else 'directory walk'}; cache {data['cache']}"
    )
    for warning in data["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")


def index_main(path: Path, show_map: bool = False, tokens: int = 1024,
               focus: list[str] | None = None, as_json: bool = False,
               defs: bool = False) -> int:
    """Run `kimi-code index`; returns the exit code (0 ok, 1 failure, 2 bad usage)."""
    from kimi_code.output.encoding import tolerate_unencodable

    tolerate_unencodable()  # the map's box characters on a latin-1 terminal become "?"
    err = Console(stderr=True, soft_wrap=True)  # never break a path in an error in two
    if tokens <= 0:
        err.print("[red]error:[/] --tokens must be a positive number of tokens")
        return 2
    machine = as_json or defs or show_map
    out = Console(soft_wrap=True, highlight=False)
    try:
        with RepoIndex(Path(path)) as index:
            focus = [_focus_path(index, f) for f in focus or []]
            problem = _focus_problem(index, focus)
            if problem:
                err.print(f"[red]error:[/] {problem}")
                return 2
            started = time.perf_counter()

            def compute() -> tuple[ScanResult, list[Any], dict[str, Any], str]:
                # Everything that reads the cache, before anything is printed: a corrupt cache
                # is then rebuilt and this runs again (`recovering`) without doubled output.
                result = _run_update(index, err if machine else out,
                                     show_progress=not (as_json or defs))
                if defs:
                    return result, list(index.iter_defs()), {}, ""
                text = index.render_map(focus_files=focus or [], max_tokens=tokens) \
                    if show_map else ""
                return result, [], summary_dict(index, result, index.summary()), text

            _result, hits, data, text = index.recovering(compute)
            data["total_seconds"] = round(time.perf_counter() - started, 3)
            _print_results(out, err, hits, data, text, show_map=show_map, as_json=as_json,
                           defs=defs)
    except IndexPathError as exc:
        err.print(f"[red]error:[/] {exc}")
        return 2
    except BrokenPipeError:
        # `kimi-code index --defs | head`: the reader left; that is not a failure.
        _silence_stdout()
        return 0
    except OSError as exc:
        err.print(f"[red]error:[/] indexing failed: {exc}")
        return 1
    return 0


def _focus_problem(index: RepoIndex, focus: list[str]) -> str | None:
    """Why the --focus files cannot be used (outside the indexed directory, or missing)."""
    outside = [f for f in focus if index.normalize_path(f) is None]
    if outside:
        return f"--focus file outside the indexed directory {index.root}: " + ", ".join(outside)
    missing = [f for f in focus if not _focus_exists(index, f)]
    if missing:
        return f"--focus file not found under {index.root}: " + ", ".join(missing)
    return None


def _print_results(out: Console, err: Console, hits: list[Any], data: dict[str, Any], text: str,
                   *, show_map: bool, as_json: bool, defs: bool) -> None:
    """Print what `kimi-code index` computed: definitions (--defs), JSON, the map or the table."""
    if defs:
        for hit in hits:
            sys.stdout.write(json.dumps({"path": hit.path, "name": hit.name, "kind": hit.kind,
                                         "line": hit.line, "end_line": hit.end_line}) + "\n")
    elif as_json:
        if show_map:
            data["map"] = text
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    elif show_map:
        _print_table(err, data)
        sys.stdout.write(text or "(no definitions indexed)\n")
    else:
        _print_table(out, data)


def _focus_path(index: RepoIndex, focus: str) -> str:
    """Root-relative unless only the current directory makes sense of it."""
    if Path(focus).is_absolute() or (index.root / focus).exists():
        return focus
    here = Path.cwd() / focus
    return str(here) if here.exists() else focus


def _focus_exists(index: RepoIndex, focus: str) -> bool:
    rel = index.normalize_path(focus)
    return rel is not None and (index.root / rel).is_file()


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kimi_code.app.index")
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
