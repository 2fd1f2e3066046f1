"""`kimi-code sessions list|show|export|rm`: the CLI over the session store.

Exit codes: 0 success, 1 failure (unknown session, unreadable store, session in use),
2 usage error (unknown export format). Exports are passed through `kimi_code.safety.redact`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from kimi_code.session.db import SessionStoreError
from kimi_code.session.store import SessionInfo, SessionStore

EXPORT_FORMATS = ("jsonl", "markdown")


def workspace_root(cwd: Path | None = None) -> Path:
    """The git root containing `cwd` (a `.git` directory or file), else `cwd` itself."""
    start = (cwd or Path.cwd()).resolve()
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return start


def _err(message: str) -> None:
    # soft_wrap: an error names files and commands the user copies; never break them in two
    Console(stderr=True, highlight=False, soft_wrap=True).print(Text(message, style="red"))


@contextmanager
def _store() -> Iterator[SessionStore]:
    store = SessionStore()
    try:
        yield store
    finally:
        store.close()


def _guard(body: Callable[[SessionStore], int]) -> int:
    """Run a command body; store errors (unknown id, corrupt file, in use) become exit 1."""
    from kimi_code.output.encoding import tolerate_unencodable

    tolerate_unencodable()  # a transcript on a latin-1 terminal: "?" for what it cannot show
    try:
        with _store() as store:
            return body(store)
    except SessionStoreError as exc:
        _err(str(exc))
        return 1


def _short_path(path: str) -> str:
    home = str(Path.home())
    return "~" + path[len(home):] if path == home or path.startswith(home + "/") else path


def _title(store: SessionStore, info: SessionInfo) -> str:
    """The title, else the first prompt (redacted: lists end up in screen shares too)."""
    if info.title:
        return info.title
    from kimi_code.safety.redact import redact

    return redact(" ".join(store.first_prompt(info.id).split())[:200])


def sessions_list_main(all_: bool, as_json: bool) -> int:
    """Sessions of this workspace (git root of cwd, else cwd), or of all with --all."""
    from kimi_code.session.render import info_dict, relative_time

    workspace = None if all_ else workspace_root()

    def body(store: SessionStore) -> int:
        sessions = store.list(workspace, limit=50 if not as_json else 1000)
        if as_json:
            rows = [{**info_dict(s), "title": _title(store, s)} for s in sessions]
            print(json.dumps(rows, ensure_ascii=False, indent=2))
            return 0
        console = Console(highlight=False)
        if not sessions:
            where = "anywhere" if workspace is None else f"in {workspace}"
            hint = "" if workspace is None else " (`kimi-code sessions list --all` shows every workspace)"
            console.print(f"No sessions {where}{hint}.")
            return 0
        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in ("id", "updated", "workspace", "model", "messages", "title"):
            table.add_column(column, justify="right" if column == "messages" else "left",
                             no_wrap=True, overflow="ellipsis")
        for s in sessions:
            table.add_row(s.id, relative_time(s.updated), _short_path(s.workspace), s.model,
                          str(s.message_count), Text(_title(store, s)))
        console.print(table)
        return 0

    return _guard(body)


def sessions_show_main(session_id: str) -> int:
    """Print a session's transcript."""
    from kimi_code.session.render import print_transcript

    def body(store: SessionStore) -> int:
        info = store.resolve(session_id)
        events = store.events(info.id)
        print_transcript(Console(highlight=False), info, events, store.usage(info.id).to_dict())
        return 0

    return _guard(body)


def sessions_export_main(session_id: str, output: Path | None = None,
                         format_: str = "jsonl") -> int:
    """Write the session as JSON lines or Markdown, secrets redacted, to `output` or stdout."""
    from kimi_code.safety.redact import known_secrets, redact, redact_data
    from kimi_code.session.render import json_line, jsonl_lines, markdown

    fmt = format_.lower()
    if fmt in ("md",):
        fmt = "markdown"
    if fmt not in EXPORT_FORMATS:
        _err(f"Unknown export format {format_!r}; use one of: {', '.join(EXPORT_FORMATS)}.")
        return 2

    def body(store: SessionStore) -> int:
        info = store.resolve(session_id)
        events = store.events(info.id)
        usage = store.usage(info.id).to_dict()
        secrets = known_secrets()
        if fmt == "jsonl":
            # Redact inside the parsed values so every line stays valid JSON.
            lines = (json_line(redact_data(json.loads(line), secrets))
                     for line in jsonl_lines(info, events, usage))
            text = "".join(line + "\n" for line in lines)
        else:
            text = redact(markdown(info, events, usage), secrets)
        if output is None:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            try:
                output.parent.mkdir(parents=True, exist_ok=True)
                output.write_text(text, encoding="utf-8")
            except OSError as exc:
                _err(f"Cannot write {output}: {exc}")
                return 1
            Console(stderr=True, highlight=False, soft_wrap=True).print(
                f"Exported session {info.id} ({len(events)} events, {fmt}) to {output}")
        return 0

    return _guard(body)


def sessions_rm_main(session_id: str) -> int:
    """Delete a session and its events (refused while another process has it open)."""
    def body(store: SessionStore) -> int:
        info = store.resolve(session_id)
        if not store.delete(info.id):
            _err(f"Session {info.id} was already gone.")
            return 1
        title = f" ({info.title})" if info.title else ""
        Console(highlight=False).print(f"Deleted session {info.id}{title}.")
        return 0

    return _guard(body)
