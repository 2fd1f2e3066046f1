"""The `kimi-code` command line: a thin Typer app.

Each command parses its options and hands over to a module imported inside the command, so that
`kimi-code --help` and `kimi-code run` never import Textual or torch (a test proves it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

# Typer renders help through Rich when it is installed, which costs ~70 ms of imports on every
# `--help`; plain Click help keeps the cold start near 80 ms. Set only while typer is imported
# so child processes do not inherit it.
_had_rich_flag = "TYPER_USE_RICH" in os.environ
os.environ.setdefault("TYPER_USE_RICH", "0")
import typer  # noqa: E402

if not _had_rich_flag:
    del os.environ["TYPER_USE_RICH"]

from kimi_code import __version__  # noqa: E402

app = typer.Typer(
    name="kimi-code",
    help="A terminal coding agent. With no command: the full-screen TUI in this repository.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
sessions_app = typer.Typer(help="List, show, export and delete saved sessions.", no_args_is_help=True)
config_app = typer.Typer(help="Show the effective configuration or where it lives.", no_args_is_help=True)
app.add_typer(sessions_app, name="sessions")
app.add_typer(config_app, name="config")
checkpoints_app = typer.Typer(help="List checkpoint stores and collect old checkpoints.", no_args_is_help=True)
app.add_typer(checkpoints_app, name="checkpoints")

ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Configured model name or model id.")]
ProviderOpt = Annotated[str | None, typer.Option("--provider", help="openai | anthropic | engine")]
BaseUrlOpt = Annotated[str | None, typer.Option("--base-url", help="Endpoint base URL.")]


def _version(value: bool) -> None:
    if value:
        print(f"kimi-code {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    plain: Annotated[bool, typer.Option("--plain", help="Line mode (prompt-toolkit) instead of the TUI.")] = False,
    model: ModelOpt = None,
    provider: ProviderOpt = None,
    base_url: BaseUrlOpt = None,
    continue_: Annotated[bool, typer.Option("--continue", "-c", help="Continue the latest session here.")] = False,
    resume: Annotated[str | None, typer.Option("--resume", "-r", help="Resume session ID.")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """Start the interactive agent (TUI, or --plain line mode) when no command is given."""
    if ctx.invoked_subcommand is not None:
        return
    from kimi_code.app.interactive import start_interactive

    raise typer.Exit(start_interactive(plain=plain, model=model, provider=provider, base_url=base_url,
                                       continue_=continue_, resume=resume))


@app.command()
def run(
    prompt: Annotated[str | None, typer.Argument(help="The task. Read from stdin when omitted.")] = None,
    output_format: Annotated[str, typer.Option("--output-format", help="text | json | stream-json")] = "text",
    max_turns: Annotated[int | None, typer.Option("--max-turns", help="Stop after N agent steps (exit 3).")] = None,
    permission_mode: Annotated[str, typer.Option("--permission-mode", help="ask | accept-edits | yolo | read-only")] = "accept-edits",
    allow: Annotated[list[str] | None, typer.Option("--allow", help="Allow rule, e.g. 'Bash(pytest *)'. Repeatable.")] = None,
    deny: Annotated[list[str] | None, typer.Option("--deny", help="Deny rule, e.g. 'Bash(rm *)'. Repeatable.")] = None,
    continue_: Annotated[bool, typer.Option("--continue", "-c", help="Continue the latest session in this workspace.")] = False,
    resume: Annotated[str | None, typer.Option("--resume", "-r", help="Resume the session with this ID.")] = None,
    add_dir: Annotated[list[Path] | None, typer.Option("--add-dir", help="Another directory the agent may use. Repeatable.")] = None,
    model: ModelOpt = None,
    provider: ProviderOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """Run the agent headless on one task (for scripts and CI)."""
    from kimi_code.app.run import RunOptions, run_headless

    options = RunOptions(
        prompt=prompt, output_format=output_format, max_turns=max_turns,
        permission_mode=permission_mode, allow=tuple(allow or ()), deny=tuple(deny or ()),
        continue_=continue_, resume=resume, add_dirs=tuple(add_dir or ()),
        model=model, provider=provider, base_url=base_url,
    )
    raise typer.Exit(run_headless(options))


@app.command()
def review(
    base: Annotated[str | None, typer.Option("--base", help="Base ref (default: merge-base with origin/HEAD or main).")] = None,
    head: Annotated[str, typer.Option("--head", help="Head ref.")] = "HEAD",
    uncommitted: Annotated[bool, typer.Option("--uncommitted", help="Review uncommitted changes instead.")] = False,
    format_: Annotated[str, typer.Option("--format", help="markdown | json | sarif | github")] = "markdown",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to FILE instead of stdout.")] = None,
    fail_on: Annotated[str, typer.Option("--fail-on", help="error | warning | note | never")] = "error",
    model: ModelOpt = None,
    provider: ProviderOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """Review a pull request's diff and report line-anchored findings."""
    from kimi_code.app.review import review_main

    raise typer.Exit(review_main(base=base, head=head, uncommitted=uncommitted, format_=format_,
                                 output=output, fail_on=fail_on, model=model, provider=provider,
                                 base_url=base_url))


@app.command()
def commit(
    all_: Annotated[bool, typer.Option("-a", "--all", help="Stage tracked changes first.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Commit without asking.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print the message.")] = False,
    amend: Annotated[bool, typer.Option("--amend", help="Rewrite the last commit's message.")] = False,
    plan: Annotated[bool, typer.Option("--plan", help="Split the changes into several logical commits.")] = False,
    allow_secrets: Annotated[bool, typer.Option("--allow-secrets", help="Commit files that look like secrets.")] = False,
    model: ModelOpt = None,
    provider: ProviderOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """Write a commit message (or a commit plan) from the diff, in the repository's style."""
    from kimi_code.app.commit import commit_main

    raise typer.Exit(commit_main(all_=all_, yes=yes, dry_run=dry_run, amend=amend, plan=plan,
                                 allow_secrets=allow_secrets, model=model, provider=provider,
                                 base_url=base_url))


@app.command()
def index(
    path: Annotated[Path | None, typer.Argument(help="Repository or directory (default: here).")] = None,
    map_: Annotated[bool, typer.Option("--map", help="Print the ranked repo map.")] = False,
    tokens: Annotated[int, typer.Option("--tokens", help="Token budget for --map.")] = 1024,
    focus: Annotated[list[str] | None, typer.Option("--focus", help="Focus file for --map. Repeatable.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    defs: Annotated[bool, typer.Option("--defs", help="List every definition (file:line kind name).")] = False,
) -> None:
    """Index the repository with tree-sitter; print stats or the ranked repo map."""
    from kimi_code.app.index import index_main

    raise typer.Exit(index_main(path=path or Path.cwd(), show_map=map_, tokens=tokens,
                                focus=list(focus or ()), as_json=json_, defs=defs))


@app.command()
def rewind(
    list_: Annotated[bool, typer.Option("--list", help="List checkpoints, oldest first.")] = False,
    to: Annotated[str | None, typer.Option("--to", help="Checkpoint ID to go back to.")] = None,
    scope: Annotated[str, typer.Option("--scope", help="code | conversation | both")] = "both",
    json_: Annotated[bool, typer.Option("--json", help="With --list: a JSON array.")] = False,
    session: Annotated[str | None, typer.Option("--session", help="Session ID (default: latest here).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Restore without asking.")] = False,
) -> None:
    """List checkpoints or restore the workspace and/or conversation to one."""
    from kimi_code.app.rewind import rewind_main

    raise typer.Exit(rewind_main(list_=list_, to=to, scope=scope, as_json=json_, session=session,
                                 yes=yes))


@checkpoints_app.command("list")
def checkpoints_list(
    all_workspaces: Annotated[bool, typer.Option("--all-workspaces", help="Every workspace's store.")] = False,
    json_: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Checkpoints per session here: count, newest, size."""
    from kimi_code.app.checkpoints import checkpoints_list_main

    raise typer.Exit(checkpoints_list_main(all_workspaces=all_workspaces, as_json=json_))


@checkpoints_app.command("gc")
def checkpoints_gc(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print what would be removed.")] = False,
    all_workspaces: Annotated[bool, typer.Option("--all-workspaces", help="Every store; remove stores of deleted workspaces.")] = False,
) -> None:
    """Drop old sessions' checkpoints per [checkpoints] in config.toml and free the space."""
    from kimi_code.app.checkpoints import checkpoints_gc_main

    raise typer.Exit(checkpoints_gc_main(dry_run=dry_run, all_workspaces=all_workspaces))


@sessions_app.command("list")
def sessions_list(
    all_: Annotated[bool, typer.Option("--all", help="Sessions of every workspace.")] = False,
    json_: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List sessions (of this workspace unless --all)."""
    from kimi_code.app.sessions import sessions_list_main

    raise typer.Exit(sessions_list_main(all_=all_, as_json=json_))


@sessions_app.command("show")
def sessions_show(session_id: str) -> None:
    """Print a session's conversation."""
    from kimi_code.app.sessions import sessions_show_main

    raise typer.Exit(sessions_show_main(session_id))


@sessions_app.command("export")
def sessions_export(
    session_id: str,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to FILE.")] = None,
    format_: Annotated[str, typer.Option("--format", help="jsonl | markdown")] = "jsonl",
) -> None:
    """Export a session (secrets redacted)."""
    from kimi_code.app.sessions import sessions_export_main

    raise typer.Exit(sessions_export_main(session_id, output=output, format_=format_))


@sessions_app.command("rm")
def sessions_rm(session_id: str) -> None:
    """Delete a session."""
    from kimi_code.app.sessions import sessions_rm_main

    raise typer.Exit(sessions_rm_main(session_id))


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration (keys hidden)."""
    from kimi_code.app.config import config_show_main

    raise typer.Exit(config_show_main())


@config_app.command("path")
def config_path() -> None:
    """Print where the config file and data live."""
    from kimi_code.app.config import config_path_main

    raise typer.Exit(config_path_main())


@app.command()
def serve(
    model: Annotated[Path | None, typer.Option("--model", help="Hugging Face-format checkpoint directory.")] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    gpus: Annotated[int, typer.Option("--gpus", help="Tensor-parallel ranks to spawn.")] = 1,
    expert_parallel: Annotated[bool, typer.Option(
        "--expert-parallel", help="Give each rank whole routed experts instead of a slice of each.")] = False,
) -> None:
    """Serve the embedded engine as an OpenAI-compatible API."""
    from kimi_code.llm.local import serve_main

    raise typer.Exit(serve_main(model=model, host=host, port=port, gpus=gpus,
                                expert_parallel=expert_parallel))


@app.command()
def doctor(
    cleanup: Annotated[bool, typer.Option("--cleanup", help="Remove leftover subagent worktrees and kimi-code/* branches here.")] = False,
) -> None:
    """Check config, endpoint, git, sandbox, GPUs and the engine install."""
    from kimi_code.app.doctor import cleanup_main, doctor_main

    raise typer.Exit(cleanup_main() if cleanup else doctor_main())


def main() -> None:
    try:
        os.getcwd()
    except FileNotFoundError:
        print("kimi-code: the current directory no longer exists; cd into your repository "
              "and run it again.", file=sys.stderr)
        sys.exit(2)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        # A broken session store (corrupt file, no permission) is the user's to fix: say how,
        # without a traceback. Imported here so that --help never loads the store.
        from kimi_code.session.db import SessionStoreError

        if not isinstance(exc, SessionStoreError):
            raise
        print(f"kimi-code: {exc}", file=sys.stderr)
        sys.exit(1)
