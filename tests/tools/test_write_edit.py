"""Write and Edit: atomic writes, diffs, stale-read protection, exact-match editing that keeps
line endings and encodings."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kimi_code.tools.base import ToolContext, ToolError


def _no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".kimi-tmp")]


async def test_write_creates_file_and_parents(run_tool, workspace: Path) -> None:
    result = await run_tool("Write", file_path="pkg/sub/mod.py", content="a = 1\nb = 2\n")
    target = workspace / "pkg" / "sub" / "mod.py"
    assert target.read_text() == "a = 1\nb = 2\n"
    assert result.content == "Created pkg/sub/mod.py (2 lines)."
    assert result.files_changed == (str(target.resolve()),)
    assert result.display["created"] is True
    assert "+a = 1" in result.display["diff"] and "--- a/pkg/sub/mod.py" in result.display["diff"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert _no_temp_files(target.parent)


async def test_overwrite_requires_read_then_keeps_mode(run_tool, workspace: Path) -> None:
    script = workspace / "run.sh"
    script.write_text("#!/bin/sh\necho old\n")
    script.chmod(0o754)
    with pytest.raises(ToolError, match="has not been read"):
        await run_tool("Write", file_path="run.sh", content="#!/bin/sh\necho new\n")
    assert "old" in script.read_text()
    await run_tool("Read", file_path="run.sh")
    result = await run_tool("Write", file_path="run.sh", content="#!/bin/sh\necho new\n")
    assert script.read_text() == "#!/bin/sh\necho new\n"
    assert stat.S_IMODE(script.stat().st_mode) == 0o754
    assert "-echo old" in result.display["diff"] and "+echo new" in result.display["diff"]
    # Our own write counts as read: a second write needs no new Read.
    await run_tool("Write", file_path="run.sh", content="#!/bin/sh\necho newer\n")
    assert _no_temp_files(workspace)


async def test_stale_file_refused(run_tool, workspace: Path) -> None:
    f = workspace / "conf.ini"
    f.write_text("a=1\n")
    await run_tool("Read", file_path="conf.ini")
    f.write_text("a=1\nb=2\n")  # someone else changes it
    with pytest.raises(ToolError, match="changed on disk since you last read it"):
        await run_tool("Edit", file_path="conf.ini", old_string="a=1", new_string="a=3")
    with pytest.raises(ToolError, match="changed on disk"):
        await run_tool("Write", file_path="conf.ini", content="x\n")
    assert f.read_text() == "a=1\nb=2\n"
    await run_tool("Read", file_path="conf.ini")
    await run_tool("Edit", file_path="conf.ini", old_string="a=1", new_string="a=3")
    assert f.read_text() == "a=3\nb=2\n"


async def test_edit_requires_read(run_tool, workspace: Path) -> None:
    (workspace / "m.py").write_text("x = 1\n")
    with pytest.raises(ToolError, match="Read it first"):
        await run_tool("Edit", file_path="m.py", old_string="x = 1", new_string="x = 2")


async def _prepare(run_tool, path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    await run_tool("Read", file_path=path.name)


async def test_edit_replaces_once_with_snippet_and_diff(run_tool, workspace: Path) -> None:
    f = workspace / "m.py"
    await _prepare(run_tool, f, "def f():\n    return 1\n\n\ndef g():\n    return 2\n")
    result = await run_tool("Edit", file_path="m.py", old_string="    return 2",
                            new_string="    return 20")
    assert f.read_text().endswith("return 20\n")
    assert "replaced 1 occurrence" in result.content
    assert "     6\t    return 20" in result.content
    assert result.display["diff"].count("\n-") == 1 and "+    return 20" in result.display["diff"]
    assert result.files_changed == (str(f.resolve()),)


async def test_edit_missing_gives_closest_lines(run_tool, workspace: Path) -> None:
    f = workspace / "m.py"
    await _prepare(run_tool, f, "import os\n\ndef compute_total(items):\n    return sum(items)\n")
    with pytest.raises(ToolError) as info:
        await run_tool("Edit", file_path="m.py", old_string="def compute_totals(items):",
                       new_string="def total(items):")
    message = str(info.value)
    assert "not found" in message and "     3\tdef compute_total(items):" in message


async def test_edit_missing_whitespace_hint(run_tool, workspace: Path) -> None:
    f = workspace / "m.py"
    await _prepare(run_tool, f, "class A:\n\tdef run(self):\n\t\treturn 1\n")
    with pytest.raises(ToolError, match="Ignoring indentation.*line 2"):
        await run_tool("Edit", file_path="m.py",
                       old_string="    def run(self):\n        return 1", new_string="x")


async def test_edit_line_number_prefix_hint(run_tool, workspace: Path) -> None:
    f = workspace / "m.py"
    await _prepare(run_tool, f, "alpha\nbeta\n")
    with pytest.raises(ToolError, match="line-number prefixes"):
        await run_tool("Edit", file_path="m.py", old_string="     2\tbeta", new_string="gamma")


async def test_edit_ambiguous_lists_lines(run_tool, workspace: Path) -> None:
    f = workspace / "m.py"
    await _prepare(run_tool, f, "x = 1\ny = 2\nx = 1\nz = 3\nx = 1\n")
    with pytest.raises(ToolError, match=r"occurs 3 times.*lines 1, 3, 5.*replace_all"):
        await run_tool("Edit", file_path="m.py", old_string="x = 1", new_string="x = 9")
    assert f.read_text() == "x = 1\ny = 2\nx = 1\nz = 3\nx = 1\n"
    result = await run_tool("Edit", file_path="m.py", old_string="x = 1", new_string="x = 9",
                            replace_all=True)
    assert f.read_text() == "x = 9\ny = 2\nx = 9\nz = 3\nx = 9\n"
    assert "replaced 3 occurrences" in result.content
    assert result.display["replacements"] == 3


async def test_edit_identical_strings_refused(run_tool, workspace: Path) -> None:
    await _prepare(run_tool, workspace / "m.py", "a\n")
    with pytest.raises(ToolError, match="identical"):
        await run_tool("Edit", file_path="m.py", old_string="a", new_string="a")


async def test_edit_preserves_crlf(run_tool, workspace: Path) -> None:
    f = workspace / "win.txt"
    await _prepare(run_tool, f, b"one\r\ntwo\r\nthree\r\n")
    await run_tool("Edit", file_path="win.txt", old_string="one\ntwo", new_string="uno\ndos\nextra")
    assert f.read_bytes() == b"uno\r\ndos\r\nextra\r\nthree\r\n"


async def test_write_keeps_crlf_convention(run_tool, workspace: Path) -> None:
    f = workspace / "win.txt"
    await _prepare(run_tool, f, b"a\r\nb\r\n")
    await run_tool("Write", file_path="win.txt", content="c\nd\n")
    assert f.read_bytes() == b"c\r\nd\r\n"


async def test_edit_mixed_line_endings_untouched_elsewhere(run_tool, workspace: Path) -> None:
    f = workspace / "mixed.txt"
    await _prepare(run_tool, f, b"a\r\nb\nc\r\nd\n")
    await run_tool("Edit", file_path="mixed.txt", old_string="c", new_string="C")
    assert f.read_bytes() == b"a\r\nb\nC\r\nd\n"


async def test_edit_preserves_encodings(run_tool, workspace: Path) -> None:
    latin = workspace / "latin.txt"
    await _prepare(run_tool, latin, "nom = 'café'\nville = 'Zürich'\n".encode("latin-1"))
    await run_tool("Edit", file_path="latin.txt", old_string="café", new_string="crème")
    assert latin.read_bytes() == "nom = 'crème'\nville = 'Zürich'\n".encode("latin-1")
    with pytest.raises(ToolError, match="cannot be written in this file's encoding"):
        await run_tool("Edit", file_path="latin.txt", old_string="crème", new_string="€")
    bom = workspace / "bom.txt"
    await _prepare(run_tool, bom, b"\xef\xbb\xbfhello\n")
    await run_tool("Edit", file_path="bom.txt", old_string="hello", new_string="hi")
    assert bom.read_bytes() == b"\xef\xbb\xbfhi\n"
    # A UTF-8 file with one stray byte: the byte survives an edit elsewhere.
    stray = workspace / "stray.txt"
    await _prepare(run_tool, stray, b"na\xc3\xafve\nbad \xff byte\n")
    await run_tool("Edit", file_path="stray.txt", old_string="naïve", new_string="naive")
    assert stray.read_bytes() == b"naive\nbad \xff byte\n"


async def test_edit_empty_old_string_creates_file(run_tool, workspace: Path) -> None:
    result = await run_tool("Edit", file_path="fresh.py", old_string="", new_string="print(1)\n")
    assert (workspace / "fresh.py").read_text() == "print(1)\n"
    assert result.display["created"] is True
    with pytest.raises(ToolError, match="old_string is empty"):
        await run_tool("Edit", file_path="fresh.py", old_string="", new_string="x")


async def test_edit_missing_file(run_tool) -> None:
    with pytest.raises(ToolError, match="does not exist"):
        await run_tool("Edit", file_path="ghost.py", old_string="a", new_string="b")


async def test_write_unchanged_content(run_tool, workspace: Path, ctx: ToolContext) -> None:
    await _prepare(run_tool, workspace / "same.txt", "same\n")
    result = await run_tool("Write", file_path="same.txt", content="same\n")
    assert "nothing was written" in result.content and result.files_changed == ()


# ---- race-free I/O (issue 15, class 3) ----------------------------------------------------

async def test_write_through_an_inside_link_writes_its_target(run_tool, workspace: Path) -> None:
    """Links inside the workspace to inside it keep working: the canonical target is written,
    the link stays a link."""
    (workspace / "real").mkdir()
    (workspace / "alias").symlink_to("real", target_is_directory=True)
    (workspace / "real" / "f.txt").write_text("old\n")
    (workspace / "f-link.txt").symlink_to("real/f.txt")
    await run_tool("Write", file_path="alias/new.txt", content="via alias\n")
    assert (workspace / "real" / "new.txt").read_text() == "via alias\n"
    await run_tool("Read", file_path="f-link.txt")
    await run_tool("Edit", file_path="f-link.txt", old_string="old", new_string="new")
    assert (workspace / "f-link.txt").is_symlink()
    assert (workspace / "real" / "f.txt").read_text() == "new\n"


@pytest.mark.parametrize("tool", ["Read", "Write", "Edit"])
async def test_a_fifo_is_refused_without_blocking(run_tool, workspace: Path, tool: str) -> None:
    os.mkfifo(workspace / "pipe")
    arguments = {"Read": {}, "Write": {"content": "x\n"},
                 "Edit": {"old_string": "", "new_string": "x"}}[tool]
    with pytest.raises(ToolError, match="not a regular file"):
        await run_tool(tool, file_path="pipe", **arguments)
    assert stat.S_ISFIFO((workspace / "pipe").lstat().st_mode)


async def test_edit_of_a_hard_linked_file_refused(run_tool, workspace: Path) -> None:
    (workspace / "a.txt").write_text("one\n")
    os.link(workspace / "a.txt", workspace / "b.txt")
    await run_tool("Read", file_path="a.txt")
    with pytest.raises(ToolError, match="2 hard links"):
        await run_tool("Edit", file_path="a.txt", old_string="one", new_string="two")
    assert (workspace / "b.txt").read_text() == "one\n"


async def test_long_file_name_and_no_temp_left(run_tool, workspace: Path) -> None:
    name = "n" * 250 + ".txt"
    await run_tool("Write", file_path=name, content="long\n")
    assert (workspace / name).read_text() == "long\n"
    assert _no_temp_files(workspace)


async def test_write_where_a_parent_is_a_file(run_tool, workspace: Path) -> None:
    (workspace / "plain").write_text("x\n")
    with pytest.raises(ToolError, match="Cannot write plain/child.txt: Not a directory"):
        await run_tool("Write", file_path="plain/child.txt", content="y\n")


async def test_stamp_is_the_written_file(run_tool, workspace: Path, ctx: ToolContext) -> None:
    """The read stamp after a write describes the file we wrote (taken on its fd), so a
    second write needs no Read but a change by someone else is still noticed."""
    from kimi_code.tools.textfile import READ_STAMPS_KEY

    await run_tool("Write", file_path="s.txt", content="1\n")
    target = (workspace / "s.txt").resolve()
    st = target.stat()
    assert ctx.state[READ_STAMPS_KEY][str(target)] == (st.st_mtime_ns, st.st_size)
    target.write_text("someone else\n")
    with pytest.raises(ToolError, match="changed on disk"):
        await run_tool("Write", file_path="s.txt", content="2\n")
