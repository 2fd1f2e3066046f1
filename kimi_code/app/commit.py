"""`kimi-code commit`: the command-line flow around commit.py and plan.py.

Exit codes: 0 committed (or printed, with --dry-run); 1 refused or failed (nothing to commit, a
merge in progress, a secret, a hook failure, the user aborted); 2 configuration or usage error;
75 the model endpoint kept failing.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import git

from kimi_code.commit import message as C
from kimi_code.commit.convention import Convention, learn_convention
from kimi_code.commit.plan import apply_plan, format_plan, make_plan, make_units, working_changes
from kimi_code.commit.secret_guard import SecretHit, scan_diff
from kimi_code.git.diffparse import parse_diff
from kimi_code.git.repo import GitError, NotARepositoryError, head_commit, open_repo, run_git
from kimi_code.llm.base import ChatProvider, ProviderError
from kimi_code.safety.untrusted import fence

Ask = Callable[[str], str]


@dataclass
class CommitOptions:
    all_: bool = False
    yes: bool = False
    dry_run: bool = False
    amend: bool = False
    plan: bool = False
    allow_secrets: bool = False


def _say(text: str) -> None:
    from kimi_code.output.encoding import encodable

    print(encodable(text, sys.stdout), flush=True)  # a CJK message on a latin-1 locale


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)  # stderr escapes what it cannot encode


def user_editor(repo: git.Repo) -> str:
    """The editor command the user chose: $GIT_EDITOR, core.editor of the user's global
    configuration (read with --global: the repository's file is not consulted), $VISUAL,
    $EDITOR, else vi."""
    if os.environ.get("GIT_EDITOR"):
        return os.environ["GIT_EDITOR"]
    root = Path(repo.working_tree_dir or repo.git_dir)
    try:
        proc = run_git(["config", "--global", "--get", "core.editor"], cwd=root, check=False)
        configured = proc.stdout.decode("utf-8", "replace").strip()
    except GitError:
        configured = ""
    return configured or os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"


def edit_in_editor(repo: git.Repo, message: str) -> str:
    """Open the message in the user's editor ($GIT_EDITOR, the user's global core.editor,
    $VISUAL, $EDITOR, vi) and return the edited text without comment lines. Never the
    repository's own core.editor: that is a program a cloned repository would choose."""
    editor = user_editor(repo)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="COMMIT_EDITMSG-",
                                     delete=False, encoding="utf-8") as handle:
        handle.write(message + "\n\n# Edit the message. Lines starting with '#' are ignored;\n"
                     "# an empty message aborts the commit.\n")
        path = Path(handle.name)
    try:
        # The editor setting is the user's own command line (git runs it through a shell too);
        # shlex keeps the file name a separate argument.
        try:
            proc = subprocess.run([*shlex.split(editor), str(path)], check=False)
        except (OSError, ValueError) as exc:  # not installed, not executable, bad quoting
            raise C.CommitError(f"could not start the editor ({editor}): {exc}. Set GIT_EDITOR "
                                "or EDITOR to an editor you have; nothing was committed.") from None
        if proc.returncode != 0:
            raise C.CommitError(f"the editor ({editor}) exited with status {proc.returncode}; "
                                "commit aborted.")
        return C.strip_comments(path.read_text(encoding="utf-8"))
    finally:
        path.unlink(missing_ok=True)


def _secret_report(hits: list[SecretHit], *, all_: bool = False) -> str:
    lines = "\n".join(f"  {hit}" for hit in hits)
    if all_:  # -a commits every tracked change: unstaging would not keep them out
        return (f"These changed files (which -a would commit) look like they contain secrets:\n"
                f"{lines}\nCommit without -a after staging only what is safe (git add -p), or "
                "re-run with --allow-secrets if they are safe to commit.")
    return (f"These staged files look like they contain secrets:\n{lines}\n"
            "Unstage them (git restore --staged FILE), add them to .gitignore, or re-run with "
            "--allow-secrets if they are safe to commit.")


def _answer(ask: Ask, question: str, on_eof: str) -> str:
    """The user's answer, lower-cased; end of input (Ctrl-D, a closed stdin) counts as
    `on_eof`, the safe choice, instead of a traceback."""
    try:
        return ask(question).strip().lower()
    except EOFError:
        _err("")
        return on_eof


def _choose(message: str, repo: git.Repo, ask: Ask) -> str | None:
    """Show the message; accept, edit or abort. Returns the message to commit, or None."""
    while True:
        _say("\n" + "\n".join(f"    {line}" for line in message.splitlines()) + "\n")
        answer = _answer(ask, "Commit with this message? [a]ccept / [e]dit / a[b]ort: ", "b")
        if answer in ("a", "accept", "y", "yes", ""):
            return message
        if answer in ("b", "abort", "q", "quit", "n", "no"):
            return None
        if answer in ("e", "edit"):
            message = edit_in_editor(repo, message)
            if not message:
                return None


def _report_commit(result: C.CommitResult, flags: str = "") -> int:
    """Print git's outcome; on failure say how to commit the saved message by hand (`flags`:
    the options this commit was made with, such as "-a --amend", so the hint does the same)."""
    if result.ok:
        _say(result.output or f"Committed {result.sha[:10]}.")
        return 0
    _err("The commit failed (nothing was lost: your staged changes are as they were).")
    if result.output:
        _err(result.output)
    if result.saved_message:
        _err(f"The message is saved in {result.saved_message}; after fixing the problem:\n"
             f"  git commit {flags + ' ' if flags else ''}-F "
             f"{shlex.quote(str(result.saved_message))}")
    return 1


async def _single(repo: git.Repo, provider: ChatProvider, window: int, opts: CommitOptions,
                  conv: Convention, ask: Ask | None) -> int:
    if opts.amend:
        diff = C.amend_diff(repo, all_=opts.all_)
        extra = "This rewrites the message of the last commit. "
        head = head_commit(repo)
        assert head is not None  # amend_diff refused a repository without commits
        # GitPython leaves a message it cannot decode as bytes.
        message = head.message if isinstance(head.message, str) else head.message.decode(
            "utf-8", "replace")
        old = message.strip()
        extra += f"Its current message (data):\n{fence('current-message', old)}\n\n"
    else:
        diff, extra = (C.tracked_diff(repo) if opts.all_ else C.staged_diff(repo)), ""
    files = parse_diff(diff)
    if not files:
        what = ("no changes to tracked files (new files need git add first)" if opts.all_ else
                "no staged changes (use -a to commit changes to tracked files, or git add)")
        _err(f"Nothing to commit: {what}.")
        return 1
    hits = scan_diff(files)
    if hits and not opts.allow_secrets:
        report = _secret_report(hits, all_=opts.all_)
        if not opts.dry_run:
            _err(report)
            return 1
        _err("warning: " + report)
    message = await C.write_message(provider, diff, conv, context_window=window, extra=extra,
                                    files=files)
    if opts.dry_run:
        _say(message)
        return 0
    if not opts.yes:
        if ask is None:
            _say(message)
            _err("Not a terminal: pass --yes to commit this message, or --dry-run to only print it.")
            return 2
        chosen = _choose(message, repo, ask)
        if chosen is None:
            _err("Aborted; nothing was committed.")
            return 1
        message = chosen
    signoff = "Signed-off-by" in conv.trailers
    flags = " ".join(f for f, on in (("-a", opts.all_), ("--amend", opts.amend),
                                      ("--signoff", signoff)) if on)
    return _report_commit(C.run_commit(repo, message, amend=opts.amend, signoff=signoff,
                                       all_=opts.all_), flags)


async def _planned(repo: git.Repo, provider: ChatProvider, window: int, opts: CommitOptions,
                   conv: Convention, ask: Ask | None) -> int:
    files = working_changes(repo)
    if not files:
        _err("Nothing to commit: the work tree has no changes.")
        return 1
    hits = scan_diff(files)
    if hits and not opts.allow_secrets:
        _err(_secret_report(hits).replace("staged files", "changed files"))
        return 1
    units = make_units(files)
    plan = await make_plan(provider, units, conv, window)
    _say(format_plan(plan))
    if opts.dry_run:
        return 0
    if not opts.yes:
        if ask is None:
            _err("Not a terminal: pass --yes to apply this plan, or --dry-run to only show it.")
            return 2
        if _answer(ask, f"Make these {len(plan.commits)} commits? [y/N]: ", "n") not in ("y", "yes"):
            _err("Aborted; nothing was committed.")
            return 1
    results = apply_plan(repo, plan, signoff="Signed-off-by" in conv.trailers)
    for result in results:
        if _report_commit(result):
            _err(f"{len(results) - 1} of {len(plan.commits)} planned commits were made; the rest "
                 "of the changes are still in the work tree.")
            return 1
    return 0


def run(opts: CommitOptions, provider_factory: Callable[[], tuple[ChatProvider, int]],
        ask: Ask | None, cwd: Path | None = None) -> int:
    """The whole flow; `ask` is None when there is no terminal to ask on."""
    if opts.plan and opts.amend:
        _err("error: --plan and --amend cannot be combined.")
        return 2
    try:
        repo = open_repo(cwd, hooks=True)  # the user's commit hooks must run
        C.check_can_commit(repo, amend=opts.amend)
        # Nothing is staged here: with -a, `git commit -a` stages at the moment of the commit,
        # so a dead endpoint, an abort or a refused secret leaves the user's index as it was.
        provider, window = provider_factory()
        conv = learn_convention(repo)
        flow = _planned if opts.plan else _single
        return asyncio.run(_run_with(provider, flow(repo, provider, window, opts, conv, ask)))
    except C.CommitError as exc:
        _err(f"error: {exc}")
        return 1
    except NotARepositoryError as exc:
        _err(f"error: {exc}")
        return 1
    except (GitError, git.GitCommandError) as exc:
        _err(f"error: git failed: {exc}")
        return 1
    except ProviderError as exc:
        _err(f"error: the model endpoint failed: {exc}")
        return 1 if not exc.retryable else 75


async def _run_with(provider: ChatProvider, flow: Awaitable[int]) -> int:
    try:
        return await flow
    finally:
        await provider.aclose()


def provider_factory(model: str | None = None, provider: str | None = None,
                     base_url: str | None = None) -> Callable[[], tuple[ChatProvider, int]]:
    """A factory for the configured provider (config file, KIMI_* environment, then flags).
    Raises ConfigError when it is unusable."""
    def factory() -> tuple[ChatProvider, int]:
        from kimi_code.config import load_config, with_overrides
        from kimi_code.llm.factory import make_provider

        _, selected = with_overrides(load_config(), model=model, provider=provider,
                                     base_url=base_url)
        return make_provider(selected), selected.context_window

    return factory


def commit_main(all_: bool, yes: bool, dry_run: bool, amend: bool, plan: bool,
                allow_secrets: bool, model: str | None, provider: str | None,
                base_url: str | None) -> int:
    """Entry point of `kimi-code commit`."""
    from kimi_code.config import ConfigError

    opts = CommitOptions(all_=all_, yes=yes, dry_run=dry_run, amend=amend, plan=plan,
                         allow_secrets=allow_secrets)
    ask = input if sys.stdin.isatty() and sys.stdout.isatty() else None
    try:
        return run(opts, provider_factory(model, provider, base_url), ask)
    except ConfigError as exc:
        _err(f"error: {exc}")
        return 2
