"""Read: numbered lines, pagination, truncation, refusal of binaries and directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimi_code.tools.base import ToolContext, ToolError
from kimi_code.tools.textfile import READ_STAMPS_KEY


async def test_numbered_lines(run_tool, workspace: Path) -> None:
    (workspace / "a.py").write_text("first\n\tsecond\nthird")
    result = await run_tool("Read", file_path="a.py")
    assert result.content == "     1\tfirst\n     2\t\tsecond\n     3\tthird"
    assert not result.is_error


async def test_pagination_default_and_note(run_tool, workspace: Path) -> None:
    (workspace / "big.txt").write_text("".join(f"line {i}\n" for i in range(1, 4501)))
    first = await run_tool("Read", file_path="big.txt")
    body = first.content.split("\n\n[")[0].splitlines()
    assert len(body) == 2000 and body[-1] == "  2000\tline 2000"
    assert "Showing lines 1-2000 of 4500" in first.content
    assert "offset=2001" in first.content
    last = await run_tool("Read", file_path="big.txt", offset=4001)
    assert last.content.splitlines()[0] == "  4001\tline 4001"
    assert last.content.splitlines()[-1] == "  4500\tline 4500"
    assert "offset=" not in last.content


async def test_offset_and_limit(run_tool, workspace: Path) -> None:
    (workspace / "f.txt").write_text("".join(f"{i}\n" for i in range(1, 11)))
    result = await run_tool("Read", file_path="f.txt", offset=4, limit=3)
    assert result.content.startswith("     4\t4\n     5\t5\n     6\t6")
    assert "Showing lines 4-6 of 10" in result.content and "offset=7" in result.content
    past = await run_tool("Read", file_path="f.txt", offset=50)
    assert "past the end" in past.content and "10 lines" in past.content


async def test_long_lines_truncated(run_tool, workspace: Path) -> None:
    (workspace / "min.js").write_text("x" * 5000 + "\nshort\n")
    result = await run_tool("Read", file_path="min.js")
    first, second = result.content.splitlines()
    assert first.endswith("[... line truncated, 3000 more characters]")
    assert second == "     2\tshort"


async def test_page_character_budget(run_tool, workspace: Path) -> None:
    (workspace / "wide.txt").write_text(("y" * 1500 + "\n") * 400)
    result = await run_tool("Read", file_path="wide.txt")
    assert "page size limit reached" in result.content
    shown = [ln for ln in result.content.splitlines() if ln[:6].strip().isdigit()]
    assert 0 < len(shown) < 400
    assert f"offset={len(shown) + 1}" in result.content


async def test_empty_file(run_tool, workspace: Path) -> None:
    (workspace / "empty.txt").write_text("")
    result = await run_tool("Read", file_path="empty.txt")
    assert "is empty" in result.content


async def test_crlf_and_bom_and_latin1_display(run_tool, workspace: Path) -> None:
    (workspace / "dos.txt").write_bytes(b"\xef\xbb\xbfone\r\ntwo\r\n")
    assert (await run_tool("Read", file_path="dos.txt")).content == "     1\tone\n     2\ttwo"
    (workspace / "legacy.txt").write_bytes("caf\xe9 cr\xe8me\n".encode("latin-1"))
    assert (await run_tool("Read", file_path="legacy.txt")).content == "     1\tcafé crème"
    (workspace / "wide.txt").write_bytes("hé\nok\n".encode("utf-16"))
    assert (await run_tool("Read", file_path="wide.txt")).content == "     1\thé\n     2\tok"


async def test_binary_and_image_refused(run_tool, workspace: Path) -> None:
    (workspace / "blob.bin").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    with pytest.raises(ToolError, match="binary file"):
        await run_tool("Read", file_path="blob.bin")
    (workspace / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(ToolError, match="is an image \\(PNG"):
        await run_tool("Read", file_path="pic.png")
    (workspace / "doc.pdf").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    with pytest.raises(ToolError, match="PDF"):
        await run_tool("Read", file_path="doc.pdf")


async def test_directory_refused_with_glob_hint(run_tool, workspace: Path) -> None:
    (workspace / "src").mkdir()
    with pytest.raises(ToolError, match="is a directory.*Glob"):
        await run_tool("Read", file_path="src")


async def test_missing_file(run_tool) -> None:
    with pytest.raises(ToolError, match="does not exist"):
        await run_tool("Read", file_path="nope.txt")


async def test_records_read_stamp(run_tool, workspace: Path, ctx: ToolContext) -> None:
    (workspace / "a.txt").write_text("hello\n")
    await run_tool("Read", file_path="a.txt", offset=1, limit=1)
    assert str((workspace / "a.txt").resolve()) in ctx.state[READ_STAMPS_KEY]


async def test_line_count_without_final_newline(run_tool, workspace: Path) -> None:
    (workspace / "f.txt").write_text("\n".join(f"l{i}" for i in range(1, 3002)))  # 3001 lines
    result = await run_tool("Read", file_path="f.txt", limit=10)
    assert "Showing lines 1-10 of 3001" in result.content
    (workspace / "g.txt").write_text("a\nb\n")
    assert (await run_tool("Read", file_path="g.txt")).display["total_lines"] == 2


async def test_read_through_inside_links(run_tool, workspace: Path) -> None:
    (workspace / "real").mkdir()
    (workspace / "real" / "f.txt").write_text("content\n")
    (workspace / "alias").symlink_to("real", target_is_directory=True)
    (workspace / "f-link").symlink_to("alias/f.txt")
    assert (await run_tool("Read", file_path="alias/f.txt")).content == "     1\tcontent"
    assert (await run_tool("Read", file_path="f-link")).content == "     1\tcontent"


async def test_read_of_the_workspace_itself_is_a_directory(run_tool, workspace: Path) -> None:
    with pytest.raises(ToolError, match="is a directory.*Glob"):
        await run_tool("Read", file_path=".")
