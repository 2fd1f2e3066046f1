"""The event union is closed: every Event subclass is in AnyEvent, closed() refuses one that is
not, and the consumers outside the UI take every member without failing."""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import logging
from pathlib import Path

import pytest

from kimi_code import events
from kimi_code.agent.recorder import SessionRecorder
from kimi_code.output.stream_json import StreamJsonWriter
from kimi_code.session.store import SessionStore
from tests.support.events import one_of_each


def test_every_event_class_is_in_the_union() -> None:
    defined = {cls for _, cls in inspect.getmembers(events, inspect.isclass)
               if issubclass(cls, events.Event) and cls is not events.Event}
    assert defined == set(events.EVENT_TYPES)
    assert len(events.EVENT_TYPES) == len(set(events.EVENT_TYPES))


def test_closed_refuses_an_event_outside_the_union() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Stray(events.Event):
        pass

    with pytest.raises(TypeError, match="Stray is not in kimi_code.events.AnyEvent"):
        events.closed(Stray())
    notice = events.Notice(level="info", message="m")
    assert events.closed(notice) is notice


@pytest.mark.parametrize("agent_id", ["", "toolu_1"])
def test_stream_json_takes_every_event(agent_id: str) -> None:
    out = io.StringIO()
    writer = StreamJsonWriter(out, "sess")
    for event in one_of_each(agent_id):
        writer(event)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    kinds = [(x["type"], x.get("subtype")) for x in lines]
    assert kinds == [("system", "init"), ("assistant", None), ("user", None),
                     ("system", "retry"), ("system", "compact_boundary"),
                     ("system", "checkpoint"), ("system", "subagent_started"),
                     ("system", "subagent_progress"), ("system", "subagent_completed")]
    assert all(x["parent_tool_use_id"] == (agent_id or None) for x in lines[1:])


def test_the_recorder_takes_every_event(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with SessionStore(tmp_path / "sessions.db") as store:
        session_id = store.create(tmp_path, "test-model")
        recorder = SessionRecorder(store, session_id)
        with caplog.at_level(logging.ERROR, logger="kimi_code.agent.recorder"):
            for event in [*one_of_each(), *one_of_each("toolu_1")]:
                recorder(event)
        assert "could not record" not in caplog.text
        kinds = [e.kind for e in store.events(session_id)]
    assert kinds == ["message", "message", "permission_denied", "message", "compaction",
                     "checkpoint", "turn", "subagent", "subagent"]
