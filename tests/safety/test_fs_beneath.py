"""fs_beneath: opens beneath a verified root never follow a symlink or `..`, with the kernel's
openat2 and with the O_NOFOLLOW walk used where the kernel lacks it (both run here)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from kimi_code.safety import fs_beneath
from kimi_code.safety.fs_beneath import (
    UnsafePath,
    entry_beneath,
    open_dir_beneath,
    open_root,
    openat2_available,
)


@pytest.fixture(params=["kernel", "walk"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """'kernel': openat2 when this kernel has it; 'walk': as on a kernel without it."""
    if request.param == "walk":
        without = object.__new__(fs_beneath._Openat2)
        without._syscall = None
        monkeypatch.setattr(fs_beneath, "_openat2", without)
        assert not openat2_available()
    yield request.param


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f.txt").write_text("inside\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "f.txt").write_text("outside\n")
    (root / "out").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "in").symlink_to("a", target_is_directory=True)
    (root / "a" / "link.txt").symlink_to("b/f.txt")
    return root.resolve()


def test_plain_directories_open(mode: str, tree: Path) -> None:
    root = open_root(tree)
    try:
        fd = open_dir_beneath(root, ["a", "b"])
        assert stat.S_ISREG(os.stat("f.txt", dir_fd=fd, follow_symlinks=False).st_mode)
        os.close(fd)
    finally:
        os.close(root)


@pytest.mark.parametrize("parts", [["out"], ["in", "b"], ["out", "deeper"], ["a", "..", "a"],
                                   [".."], ["a/b"], [""]])
def test_links_and_dotdot_refused(mode: str, tree: Path, parts: list[str]) -> None:
    root = open_root(tree)
    try:
        with pytest.raises(UnsafePath):
            open_dir_beneath(root, parts, create=True)
    finally:
        os.close(root)
    assert not (tree.parent / "outside" / "deeper").exists()


def test_a_root_reached_through_a_link_is_refused(mode: str, tree: Path) -> None:
    with pytest.raises(UnsafePath):
        open_root(tree / "in")
    with pytest.raises(UnsafePath):
        open_root(tree / "out")


def test_create_makes_missing_directories(mode: str, tree: Path) -> None:
    with entry_beneath(tree, tree / "x" / "y" / "new.txt", create_parents=True) as entry:
        entry.replace(b"made\n", 0o640)
    made = tree / "x" / "y" / "new.txt"
    assert made.read_text() == "made\n" and stat.S_IMODE(made.stat().st_mode) == 0o640


def test_replace_swaps_a_link_instead_of_following_it(mode: str, tree: Path) -> None:
    with entry_beneath(tree, tree / "a" / "link.txt") as entry:
        assert entry.lstat() is not None and stat.S_ISLNK(entry.lstat().st_mode)
        with pytest.raises(UnsafePath):
            entry.open_read()
        entry.replace(b"replaced\n", 0o644)
    assert not (tree / "a" / "link.txt").is_symlink()
    assert (tree / "a" / "b" / "f.txt").read_text() == "inside\n"
    assert not [p for p in (tree / "a").iterdir() if p.name.endswith(fs_beneath.TEMP_SUFFIX)]


def test_a_fifo_opens_without_blocking(mode: str, tree: Path) -> None:
    os.mkfifo(tree / "pipe")
    with entry_beneath(tree, tree / "pipe") as entry:
        fd = entry.open_read()
        assert stat.S_ISFIFO(os.fstat(fd).st_mode)
        os.close(fd)


def test_the_root_itself_is_not_an_entry(mode: str, tree: Path) -> None:
    with pytest.raises(IsADirectoryError), entry_beneath(tree, tree):
        pass
