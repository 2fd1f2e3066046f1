"""Rebuilding a provider-valid conversation from stored events: dangling tool calls, orphan
results, compactions (both payload forms) and rewinds, all through a real store."""

from __future__ import annotations

from pathlib import Path

from kimi_code.llm.base import Message, ToolCall
from kimi_code.session import INTERRUPTED_RESULT, SessionStore, compaction_message


def _call(call_id: str, name: str = "Read") -> ToolCall:
    return ToolCall(call_id, name, '{"file_path": "a.py"}')


def _assert_valid(messages: list[Message]) -> None:
    """Every tool call is answered exactly once, right after its assistant message."""
    for i, m in enumerate(messages):
        if m.role == "assistant" and m.tool_calls:
            answers = []
            for follower in messages[i + 1:]:
                if follower.role != "tool":
                    break
                answers.append(follower.tool_call_id)
            assert answers == [c.id for c in m.tool_calls], (i, answers)
        if m.role == "tool":
            assert i > 0 and messages[i - 1].role in ("assistant", "tool")


def _record(store: SessionStore, sid: str, messages: list[Message]) -> list[int]:
    return [store.append_message(sid, m) for m in messages]


def test_dangling_tool_calls_get_interrupted_results(store: SessionStore, workspace: Path) -> None:
    sid = store.create(workspace, "m")
    _record(store, sid, [
        Message("user", "look at two files"),
        Message("assistant", "", tool_calls=(_call("a"), _call("b"))),
        Message("tool", "contents of a", tool_call_id="a"),
        # the process died while b ran; the user came back with a new prompt
        Message("user", "continue please"),
        Message("assistant", "", tool_calls=(_call("c", "Bash"),)),
        # ... and died again mid-call
    ])
    messages = store.messages(sid)
    _assert_valid(messages)
    assert [(m.role, m.tool_call_id) for m in messages] == [
        ("user", ""), ("assistant", ""), ("tool", "a"), ("tool", "b"), ("user", ""),
        ("assistant", ""), ("tool", "c")]
    for repaired in (messages[3], messages[6]):
        assert repaired.is_error and repaired.content == INTERRUPTED_RESULT
    assert not messages[2].is_error and messages[2].content == "contents of a"
    # the stored log itself is untouched (append-only)
    assert len(store.events(sid)) == 5


def test_orphan_and_duplicate_tool_results_are_dropped(store: SessionStore, workspace: Path) -> None:
    sid = store.create(workspace, "m")
    _record(store, sid, [
        Message("tool", "answer to nothing", tool_call_id="ghost"),
        Message("user", "hi"),
        Message("assistant", "", tool_calls=(_call("x"),)),
        Message("tool", "first", tool_call_id="x"),
        Message("tool", "again", tool_call_id="x"),
        Message("assistant", "done"),
    ])
    messages = store.messages(sid)
    _assert_valid(messages)
    assert [m.content for m in messages] == ["hi", "", "first", "done"]


def test_compaction_replaces_through_seq(store: SessionStore, workspace: Path) -> None:
    sid = store.create(workspace, "m")
    seqs = _record(store, sid, [
        Message("user", "use tabs, never spaces"),
        Message("assistant", "ok"),
        Message("user", "now fix the parser"),
        Message("assistant", "fixed"),
    ])
    store.append(sid, "compaction", {"summary": "User wants tabs; parser fixed.",
                                     "ledger": ["use tabs, never spaces", {"text": "no force push"}],
                                     "replaces_through": seqs[2]})
    _record(store, sid, [Message("user", "next: the lexer")])
    messages = store.messages(sid)
    assert messages[0] == compaction_message("User wants tabs; parser fixed.",
                                             ["use tabs, never spaces", {"text": "no force push"}])
    assert messages[0].role == "user"
    assert "User wants tabs; parser fixed." in messages[0].content
    assert "- no force push" in messages[0].content
    assert [m.content for m in messages[1:]] == ["fixed", "next: the lexer"]
    assert store.ledger(sid) == ["use tabs, never spaces", "no force push"]

    # A second compaction covering the first summary replaces it too.
    last = store.events(sid)[-1].seq
    store.append(sid, "compaction", {"summary": "Lexer next.", "ledger": ["use tabs, never spaces"],
                                     "replaces_through": last})
    messages = store.messages(sid)
    assert len(messages) == 1 and "Lexer next." in messages[0].content
    assert "parser fixed" not in messages[0].content
    assert store.ledger(sid) == ["use tabs, never spaces"]


def test_compaction_cutting_a_tool_batch_stays_valid(store: SessionStore, workspace: Path) -> None:
    sid = store.create(workspace, "m")
    seqs = _record(store, sid, [
        Message("user", "go"),
        Message("assistant", "", tool_calls=(_call("k"),)),
        Message("tool", "result k", tool_call_id="k"),
        Message("assistant", "done"),
    ])
    store.append(sid, "compaction", {"summary": "s", "replaces_through": seqs[1]})
    messages = store.messages(sid)
    _assert_valid(messages)
    assert [m.content for m in messages[1:]] == ["done"]  # the orphaned result is gone


def test_recorder_style_compaction_and_rewind(store: SessionStore, workspace: Path) -> None:
    """agent/recorder.py writes the whole post-compaction history in payload["messages"];
    rewind events carry the history to go back to."""
    sid = store.create(workspace, "m")
    _record(store, sid, [Message("user", "old"), Message("assistant", "older reply")])
    kept = [Message("user", "[summary] old stuff"), Message("assistant", "older reply")]
    store.append(sid, "compaction", {"summary": "old stuff", "ledger": ["be terse"],
                                     "messages": [m.to_dict() for m in kept]})
    _record(store, sid, [Message("user", "new"),
                         Message("assistant", "", tool_calls=(_call("r"),))])
    assert store.messages(sid) == [*kept, Message("user", "new"),
                                   Message("assistant", "", tool_calls=(_call("r"),)),
                                   Message("tool", INTERRUPTED_RESULT, tool_call_id="r",
                                           is_error=True)]
    assert store.ledger(sid) == ["be terse"]
    store.append(sid, "rewind", {"messages": [m.to_dict() for m in kept[:1]]})
    _record(store, sid, [Message("user", "after rewind")])
    assert [m.content for m in store.messages(sid)] == ["[summary] old stuff", "after rewind"]


def test_malformed_compaction_is_ignored(store: SessionStore, workspace: Path) -> None:
    sid = store.create(workspace, "m")
    _record(store, sid, [Message("user", "keep me")])
    store.append(sid, "compaction", {"ledger": []})  # no summary, no messages
    store.append(sid, "compaction", {"messages": [{"no_role": True}]})
    store.append(sid, "message", {"content": "a message without a role"})
    assert [m.content for m in store.messages(sid)] == ["keep me"]


def test_rewind_to_seq_undoes_later_events(store: SessionStore, workspace: Path) -> None:
    """The contract `kimi-code rewind` writes: {"to_seq": N} returns to the state right after
    event N; a compaction in between is undone too; later events replay on top."""
    sid = store.create(workspace, "m")
    seqs = _record(store, sid, [Message("user", "one"), Message("assistant", "two"),
                                Message("user", "three"),
                                Message("assistant", "", tool_calls=(_call("t"),))])
    store.append(sid, "compaction", {"summary": "s", "ledger": ["rule"],
                                     "replaces_through": seqs[3]})
    assert store.ledger(sid) == ["rule"]
    store.append(sid, "rewind", {"to_seq": seqs[1], "checkpoint": "cp1"})
    assert [m.content for m in store.messages(sid)] == ["one", "two"]
    assert store.ledger(sid) == []
    _record(store, sid, [Message("user", "four")])
    assert [m.content for m in store.messages(sid)] == ["one", "two", "four"]
    store.append(sid, "rewind", {"to_seq": 0})
    assert store.messages(sid) == []
