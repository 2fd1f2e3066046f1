"""Commit assistance: read the change, write the message in the repository's style, commit.

Only git's own front door is used to commit (`git commit`, hooks included, never --no-verify).
When a commit fails (a hook, a signing error) the staged changes are left as they were and the
message is saved to `.git/KIMI_COMMIT_MSG`, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

import git

from kimi_code.agent.retry import RetryPolicy
from kimi_code.commit.convention import Convention
from kimi_code.git.diffparse import DiffFile, parse_diff
from kimi_code.git.diffs import diff_args, diff_budget_chars, empty_tree
from kimi_code.git.repo import git_dir, head_commit, operation_in_progress
from kimi_code.llm.base import ChatProvider, Message, ProviderError, TextChunk
from kimi_code.safety.redact import known_secrets, redact
from kimi_code.safety.untrusted import fence, model_safe

PROMPTS = Path(__file__).with_name("prompts")
SUMMARY_CONCURRENCY = 4


class CommitError(Exception):
    """The commit cannot go ahead; the message says why and what to do."""


@dataclass
class CommitResult:
    ok: bool
    sha: str = ""
    output: str = ""          # git's (and the hooks') output
    saved_message: Path | None = None


def load_prompt(name: str) -> str:
    return (PROMPTS / f"{name}.md").read_text(encoding="utf-8").strip()


def check_can_commit(repo: git.Repo, *, amend: bool = False) -> None:
    """Refuse clearly when committing now would be wrong or would lose work."""
    if repo.bare:  # its "staged diff" is every file deleted: nothing to describe, no tree to commit
        raise CommitError(f"{repo.git_dir} is a bare repository: it has no work tree to commit "
                          "from. Run kimi-code commit in a clone or a worktree of it.")
    busy = operation_in_progress(repo)
    if busy:
        raise CommitError(f"{busy} is in progress. Finish it (or abort it) with git first; "
                          "kimi-code commit does not commit in the middle of one.")
    if repo.head.is_detached:
        raise CommitError("HEAD is detached: a commit here would belong to no branch and is easy "
                          "to lose. Create a branch first: git switch -c <new-branch>")
    if amend and head_commit(repo) is None:
        raise CommitError("there is no commit to amend yet.")


def staged_diff(repo: git.Repo) -> str:
    """The staged change (against the empty tree in a repository without commits)."""
    return repo.git.diff("--cached", *diff_args(), strip_newline_in_stdout=False)


def tracked_diff(repo: git.Repo) -> str:
    """Staged and unstaged changes to tracked files: what `git commit -a` will commit. Read
    without staging anything, so the user's index is untouched until the commit succeeds."""
    head = head_commit(repo)
    base = head.hexsha if head is not None else empty_tree(repo)
    return repo.git.diff(base, *diff_args(), strip_newline_in_stdout=False)


def amend_diff(repo: git.Repo, *, all_: bool = False) -> str:
    """What `--amend` will commit: the last commit's change plus anything staged now (with
    `all_`, plus every change to tracked files, as `git commit --amend -a` takes them)."""
    head = head_commit(repo)
    if head is None:
        raise CommitError("there is no commit to amend yet.")
    base = head.parents[0].hexsha if head.parents else empty_tree(repo)
    cached = [] if all_ else ["--cached"]
    return repo.git.diff(base, *cached, *diff_args(), strip_newline_in_stdout=False)


# ---- talking to the model -------------------------------------------------------------------


async def complete(provider: ChatProvider, system: str, user: str, *, max_tokens: int = 1024,
                   policy: RetryPolicy | None = None) -> str:
    """One model answer as text, retrying retryable provider errors with backoff."""
    policy = policy or RetryPolicy.from_env()
    messages = [Message(role="system", content=system),
                Message(role="user", content=model_safe(user))]
    for attempt in range(1, policy.max_attempts + 1):
        try:
            parts = []
            async for event in provider.stream(messages, [], max_tokens=max_tokens):
                if isinstance(event, TextChunk):
                    parts.append(event.text)
            return "".join(parts)
        except ProviderError as exc:
            if not exc.retryable or attempt == policy.max_attempts:
                raise
            await asyncio.sleep(policy.delay(attempt, exc.retry_after))
    raise AssertionError("unreachable")


def clean_message(text: str) -> str:
    """Strip what models wrap messages in: thinking, code fences, quotes, a preamble line."""
    text = re.sub(r"<think>.*?</think>", "", text, flags=re.DOTALL).strip()
    fenced = re.search(r"```[a-zA-Z]*\n(.*?)```", text, flags=re.DOTALL)
    if fenced:
        text = fenced.group(1)
    lines = text.strip().splitlines()
    if lines and re.match(r"(?i)^(here is|here's|commit message)\b.*:\s*$", lines[0]):
        lines = lines[1:]
    if lines:  # a Markdown heading as the subject ("# Fix the parser"): keep the words
        lines[0] = re.sub(r"^#{1,6}\s+", "", lines[0])
    text = "\n".join(line.rstrip() for line in lines).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    return re.sub(r"\n{3,}", "\n\n", text)


def strip_comments(text: str) -> str:
    """Drop `#` comment lines (as git does for an edited message)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("#")).strip()


def _style_block(conv: Convention) -> str:
    examples = "\n".join(f"  {s}" for s in conv.examples) or "  (none)"
    return (f"Repository convention:\n{conv.guide()}\n\nRecent subjects (data, newest first):\n"
            f"{fence('examples', examples)}")


def _stat(files: list[DiffFile], max_chars: int) -> str:
    """One row per file, cut at `max_chars` with a count of the rest (20,000 files must not
    overflow the request the summaries were made to fit in)."""
    rows, size = [], 0
    for number, f in enumerate(files):
        added, removed = f.stats()
        label = f"{f.old_path} -> {f.path}" if f.status == "renamed" else f.path
        row = f"{f.status:8} {label} (+{added} -{removed}{', binary' if f.binary else ''})"
        if size + len(row) > max_chars:
            rows.append(f"... and {len(files) - number} more files")
            break
        rows.append(row)
        size += len(row) + 1
    return "\n".join(rows)


def _batches(files: list[DiffFile], budget: int) -> list[list[tuple[DiffFile, str]]]:
    """Files with their (clipped) diffs, grouped so that each request holds at most `budget`
    characters: many small files share a request (2,000 one-line changes are a few requests,
    not 2,000), a big file has one to itself."""
    batches: list[list[tuple[DiffFile, str]]] = []
    size = budget  # forces a new batch for the first file
    for f in files:
        text = f.text()
        if len(text) > budget:
            text = text[:budget] + f"\n[... {len(text) - budget} more characters not shown]"
        if size + len(text) > budget:
            batches.append([])
            size = 0
        batches[-1].append((f, text))
        size += len(text)
    return batches


async def summarise_files(provider: ChatProvider, files: list[DiffFile], budget: int) -> list[str]:
    """Short summaries of the files' changes (one per file when it is alone in its request,
    one per group of small files otherwise), at most SUMMARY_CONCURRENCY requests at a time."""
    gate = asyncio.Semaphore(SUMMARY_CONCURRENCY)
    system = load_prompt("commit_summary")

    async def one(batch: list[tuple[DiffFile, str]]) -> str:
        if len(batch) == 1:
            f, text = batch[0]
            user, tokens, label = f"File: {f.path}\n\n{fence('diff', text)}", 300, f.path
        else:
            names = ", ".join(f.path for f, _ in batch)
            user = (f"{len(batch)} files, summarise them together: {names}\n\n"
                    f"{fence('diff', ''.join(text for _, text in batch))}")
            tokens, label = 600, f"{len(batch)} files ({batch[0][0].path} ... {batch[-1][0].path})"
        async with gate:
            answer = await complete(provider, system, user, max_tokens=tokens)
        return f"{label}: {clean_message(answer)}"

    return list(await asyncio.gather(*(one(b) for b in _batches(files, budget))))


async def write_message(provider: ChatProvider, diff: str, conv: Convention, *,
                        context_window: int, extra: str = "",
                        files: list[DiffFile] | None = None) -> str:
    """The commit message for `diff`, in the convention's style. A diff that does not fit the
    context is first summarised file by file. `files`: `diff` already parsed, when the caller
    has it (parsing a huge diff twice costs seconds)."""
    files = parse_diff(diff) if files is None else files
    if not files:
        raise CommitError("there is nothing to describe: the diff is empty.")
    budget = diff_budget_chars(context_window)
    if len(diff) <= budget:
        change = fence("diff", diff)
    else:
        summaries = await summarise_files(provider, files, budget // 2)
        change = (f"The diff is too large to show whole ({len(diff)} characters). Files:\n"
                  f"{_stat(files, budget // 4)}\n\nPer-file summaries:\n"
                  f"{fence('summaries', chr(10).join(summaries))}")
    user = f"{_style_block(conv)}\n\n{extra}The change to describe:\n{change}"
    message = clean_message(await complete(provider, load_prompt("commit"), user, max_tokens=800))
    # A commit message leaves the machine: never let a key or token the model echoed into it.
    message = redact(message, known_secrets())
    if not message:
        raise CommitError("the model returned an empty commit message; try again.")
    return message


# ---- committing -----------------------------------------------------------------------------


def save_message(repo: git.Repo, message: str) -> Path:
    path = git_dir(repo) / "KIMI_COMMIT_MSG"
    path.write_text(message + "\n", encoding="utf-8")
    return path


def run_commit(repo: git.Repo, message: str, *, amend: bool = False,
               signoff: bool = False, all_: bool = False) -> CommitResult:
    """`git commit -F <file>` with the repository's hooks. On failure nothing staged is lost and
    the message is saved (the result says where). `all_` is `git commit -a`: git stages the
    tracked changes only for this commit and leaves the user's index as it was if it fails."""
    path = save_message(repo, message)
    # whitespace, not strip: the message is final text, and a line starting with "#" in it
    # ("#123 is fixed by this") is content, not a comment (the editor flow strips its own).
    args = ["commit", "--cleanup=whitespace", "-F", str(path)]
    if amend:
        args.append("--amend")
    if all_:
        args.append("--all")
    if signoff:
        args.append("--signoff")
    status, stdout, stderr = repo.git.execute(["git", *args], with_extended_output=True,
                                              with_exceptions=False)
    output = "\n".join(p for p in (stdout.strip(), stderr.strip()) if p)
    if status != 0:
        return CommitResult(ok=False, output=output, saved_message=path)
    path.unlink(missing_ok=True)
    return CommitResult(ok=True, sha=repo.head.commit.hexsha, output=output)
