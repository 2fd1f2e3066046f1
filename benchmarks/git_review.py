"""Review fan-out: wall time of `review` on a ~2,000-line diff, per-file parallel vs sequential.

The model is simulated by a provider whose latency is proportional to the request size (the
cost of prefill + reading the diff), so the figure isolates what the fan-out buys: with parts
reviewed in parallel, wall time follows the largest part, not the sum. Everything else is real:
a real repository and diff, the real agent loop, the real tools, anchoring and output.

    .venv/bin/python benchmarks/git_review.py [--lines 2000] [--files 12] [--us-per-char 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path


class LatencyProvider:
    """A ChatProvider that sleeps `us_per_char` µs per prompt character, then reports nothing."""

    model = "latency-sim"
    context_window = 262144

    def __init__(self, us_per_char: float) -> None:
        self.us_per_char = us_per_char
        self.requests = 0

    async def stream(self, messages: Sequence, tools: Sequence, *,
                     max_tokens: int | None = None) -> AsyncIterator:
        from kimi_code.llm.base import StreamEnd, TextChunk, Usage

        self.requests += 1
        chars = sum(len(m.content) for m in messages)
        await asyncio.sleep(chars * self.us_per_char / 1e6)
        yield TextChunk("No problems found in this part.")
        yield StreamEnd(Usage(input_tokens=chars // 4, output_tokens=8), "end_turn")

    async def aclose(self) -> None:
        return None


def _git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


def _build(root: Path, lines: int, files: int) -> list[int]:
    """Files of unequal size (largest ~ 1/4 of the diff) so 'largest' and 'sum' differ."""
    weights = [files - i for i in range(files)]
    sizes = [max(1, lines * w // sum(weights)) for w in weights]
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    for i in range(files):
        (root / f"mod{i}.py").write_text("# base\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "base")
    _git(root, "checkout", "-q", "-b", "feature")
    for i, n in enumerate(sizes):
        body = "".join(f"def f{i}_{j}(x):\n    return x * {j} + {i}  # work item {j}\n"
                       for j in range(n // 2))
        (root / f"mod{i}.py").write_text("# base\n" + body)
    _git(root, "commit", "-qam", "feature")
    return sizes


async def _timed(target, provider, opts) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    from kimi_code.review.run import run_review

    start = time.perf_counter()
    await run_review(provider, target, opts)
    return time.perf_counter() - start, provider.requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--us-per-char", type=float, default=20.0)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KIMI_CODE_HOME"] = str(Path(tmp) / "home")
        from kimi_code.git.repo import open_repo
        from kimi_code.review.review import resolve_target, split_chunks
        from kimi_code.review.run import CHUNK_CHARS, ReviewOptions

        root = Path(tmp) / "repo"
        sizes = _build(root, opts.lines, opts.files)
        target = resolve_target(open_repo(root), "main", "HEAD", False)
        diff_chars = sum(len(f.text()) for f in target.files)
        chunk_chars = min(CHUNK_CHARS, max(len(f.text()) for f in target.files))
        parts = split_chunks(target.files, chunk_chars)
        print(f"diff: {sum(sizes)} added lines in {len(sizes)} files, {diff_chars} chars; "
              f"{len(parts)} parts of <= {chunk_chars} chars")
        runs = {
            "fan-out (parallel parts)": ReviewOptions(chunk_chars=chunk_chars, max_parallel=8),
            "same parts, sequential": ReviewOptions(chunk_chars=chunk_chars, max_parallel=1),
            f"default parts ({CHUNK_CHARS} chars)": ReviewOptions(),
            "one reviewer, whole diff": ReviewOptions(chunk_chars=10**9, max_parallel=1),
        }
        results = {}
        for label, ropts in runs.items():
            provider = LatencyProvider(opts.us_per_char)
            results[label] = asyncio.run(_timed(target, provider, ropts))
            print(f"{label:28s} {results[label][0] * 1000:8.0f} ms  ({results[label][1]} requests)")
        target.close()
        fan = results["fan-out (parallel parts)"][0]
        seq = results["same parts, sequential"][0]
        biggest = max(sum(len(f.text()) for f in part) for part in parts)
        print(f"ratio sequential / fan-out = {seq / fan:.2f}; diff chars / largest part = "
              f"{diff_chars / biggest:.2f} (the ideal speed-up under this latency model)")

if __name__ == "__main__":
    main()
