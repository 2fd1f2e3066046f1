"""Concurrent listings of one directory share a single git subprocess, and a listing never
predates a change a mutating tool finished before the caller asked."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from kimi_code.tools import globmatch


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.py").write_text("a\n")
    return tmp_path


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = globmatch.git_files

    async def counting(base: Path) -> list[str] | None:
        calls.append(base)
        await asyncio.sleep(0.05)  # keep the listing in flight while others arrive
        return await real(base)

    monkeypatch.setattr(globmatch, "git_files", counting)
    return calls


async def test_concurrent_listings_share_one_subprocess(repo: Path, counted: list[Path]) -> None:
    results = await asyncio.gather(*(globmatch.list_files(repo) for _ in range(20)))
    assert len(counted) == 1
    assert all(r == ["a.py"] for r in results)
    results[0].append("mutated")  # each caller owns its list
    assert results[1] == ["a.py"]
    assert globmatch._in_flight == {}


async def test_a_change_starts_a_fresh_listing(repo: Path, counted: list[Path]) -> None:
    early = asyncio.ensure_future(globmatch.list_files(repo))
    await asyncio.sleep(0)  # the early listing is now in flight
    (repo / "b.py").write_text("b\n")
    globmatch.note_workspace_change()  # what the executor does after a mutating tool
    late = await globmatch.list_files(repo)
    assert len(counted) == 2
    assert sorted(late) == ["a.py", "b.py"]
    await early


async def test_a_cancelled_caller_does_not_cancel_the_shared_listing(
        repo: Path, counted: list[Path]) -> None:
    first = asyncio.ensure_future(globmatch.list_files(repo))
    second = asyncio.ensure_future(globmatch.list_files(repo))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == ["a.py"]
    assert len(counted) == 1


async def test_a_failed_listing_reaches_every_waiter_and_is_forgotten(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(base: Path) -> list[str] | None:
        await asyncio.sleep(0.01)
        raise OSError("disk gone")

    monkeypatch.setattr(globmatch, "git_files", broken)
    results = await asyncio.gather(*(globmatch.list_files(repo) for _ in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    assert globmatch._in_flight == {}
