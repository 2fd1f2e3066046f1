"""Argument parsing through Tool.parse_args: malformed input becomes an error naming the schema,
and the schemas use Claude-compatible names."""

from __future__ import annotations

import json

import pytest

from kimi_code.tools.base import ToolError
from kimi_code.tools.registry import ToolRegistry, load_tool_class

CORE = ("Read", "Write", "Edit", "Glob", "Grep", "Bash", "TodoWrite")


def test_registry_loads_every_core_tool_with_a_description() -> None:
    registry = ToolRegistry.builtin(CORE)
    assert registry.names() == list(CORE)
    for spec in registry.specs():
        assert len(spec.description) > 200, spec.name
        assert spec.parameters["type"] == "object"
        assert spec.parameters.get("additionalProperties") is False
        assert "$ref" not in json.dumps(spec.parameters)  # inline schemas for every server


@pytest.mark.parametrize("raw", ["{not json", "[1, 2", '{"file_path": }'])
def test_json_garbage(raw: str) -> None:
    with pytest.raises(ToolError) as info:
        load_tool_class("Read").parse_args(raw)
    assert "not valid JSON" in str(info.value)
    assert "Read{file_path, offset?, limit?}" in str(info.value)


def test_not_an_object() -> None:
    with pytest.raises(ToolError, match=r"must be a JSON object.*Edit\{file_path, old_string"):
        load_tool_class("Edit").parse_args('["a.py"]')


def test_wrong_types() -> None:
    with pytest.raises(ToolError, match=r"offset.*integer.*Read\{file_path"):
        load_tool_class("Read").parse_args('{"file_path": "a", "offset": "ten"}')
    with pytest.raises(ToolError, match=r"replace_all"):
        load_tool_class("Edit").parse_args(
            {"file_path": "a", "old_string": "x", "new_string": "y", "replace_all": "maybe"})


def test_missing_and_unknown_keys() -> None:
    with pytest.raises(ToolError, match=r"content: Field required.*Write\{file_path, content\}"):
        load_tool_class("Write").parse_args({"file_path": "a"})
    with pytest.raises(ToolError, match=r"path_to_file: Extra inputs are not permitted.*Read\{"):
        load_tool_class("Read").parse_args({"file_path": "a", "path_to_file": "b"})


def test_grep_claude_style_flags() -> None:
    grep = load_tool_class("Grep")
    args = grep.parse_args({"pattern": "x", "-i": True, "-n": False, "-A": 2, "-B": 1, "-C": 3,
                            "output_mode": "content", "head_limit": 5, "multiline": True})
    assert args.case_insensitive and not args.line_numbers
    assert (args.after, args.before, args.context, args.head_limit) == (2, 1, 3, 5)
    props = grep.spec().parameters["properties"]
    assert {"-i", "-n", "-A", "-B", "-C"} <= set(props)
    with pytest.raises(ToolError, match="output_mode"):
        grep.parse_args({"pattern": "x", "output_mode": "lines"})
    with pytest.raises(ToolError, match="-A"):
        grep.parse_args({"pattern": "x", "-A": -1})


def test_bash_timeout_bounds_and_units() -> None:
    bash = load_tool_class("Bash")
    assert bash.parse_args({"command": "ls", "timeout": 600000}).timeout == 600000
    with pytest.raises(ToolError, match="timeout"):
        bash.parse_args({"command": "ls", "timeout": 600001})
    with pytest.raises(ToolError, match="timeout"):
        bash.parse_args({"command": "ls", "timeout": 30})  # milliseconds, not seconds
    with pytest.raises(ToolError, match="command"):
        bash.parse_args({"command": ""})
    assert "milliseconds" in bash.spec().parameters["properties"]["timeout"]["description"]


def test_todo_item_shape() -> None:
    todo = load_tool_class("TodoWrite")
    todo.parse_args({"todos": [{"content": "a", "status": "pending", "activeForm": "Doing a"}]})
    with pytest.raises(ToolError, match="status"):
        todo.parse_args({"todos": [{"content": "a", "status": "done"}]})
    with pytest.raises(ToolError, match="content"):
        todo.parse_args({"todos": [{"status": "pending"}]})
