"""One instance of every event in kimi_code.events.AnyEvent, with plausible field values, for
tests that push the whole closed union through a consumer."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from kimi_code import events
from kimi_code.llm.base import Message, ToolCall, Usage

_VALUES: dict[str, Any] = {
    "str": "x", "int": 1, "float": 0.5, "bool": False,
    "Message": Message(role="assistant", content="hello"),
    "ToolCall": ToolCall("call_1", "Read", '{"file_path": "a.py"}'),
    "Usage": Usage(3, 4),
}


def _value(annotation: Any) -> Any:
    name = getattr(annotation, "__name__", str(annotation))
    if name in _VALUES:
        return _VALUES[name]
    origin = typing.get_origin(annotation)
    if origin is tuple:
        return ()
    if origin is dict:
        return {}
    args = typing.get_args(annotation)
    if type(None) in args:  # X | None
        return None
    raise TypeError(f"no sample value for {annotation!r}")


def one_of_each(agent_id: str = "") -> list[events.Event]:
    """An instance of every event type of the union, in union order."""
    made = []
    for cls in events.EVENT_TYPES:
        hints = typing.get_type_hints(cls, vars(events))
        required = {f.name: _value(hints[f.name]) for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING}
        made.append(cls(agent_id=agent_id, **required))
    return made
