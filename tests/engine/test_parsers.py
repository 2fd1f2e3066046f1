"""Streaming parser: reasoning / content / tool calls, at every possible split of the stream."""

from __future__ import annotations

import json

from kimi_engine.parsers import StreamParser, parse
from kimi_engine.synthetic import REAL_SPECIAL_BASE, write_tokenizer
from kimi_engine.tokenizer import StreamDecoder, Tokenizer

GEN = (
    "Let me check the weather.</think>I'll look it up."
    "<|tool_calls_section_begin|>"
    '<|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|>'
    '<|tool_call_begin|> functions.search:1 <|tool_call_argument_begin|>{"q": "é < > </think>"}<|tool_call_end|>'
    "<|tool_calls_section_end|><|im_end|>ignored after end"
)


def _collect(chunks: list[str], thinking: bool = True):
    parser = StreamParser(thinking=thinking)
    deltas = [d for c in chunks for d in parser.feed(c)] + parser.finish()
    reasoning = "".join(d.text for d in deltas if d.kind == "reasoning")
    content = "".join(d.text for d in deltas if d.kind == "content")
    calls = [d.tool_call for d in deltas if d.kind == "tool_call"]
    return reasoning, content, calls


def test_whole_generation() -> None:
    reasoning, content, calls = _collect([GEN])
    assert reasoning == "Let me check the weather."
    assert content == "I'll look it up."
    assert [(c.index, c.id, c.name) for c in calls] == [(0, "functions.get_weather:0", "get_weather"),
                                                         (1, "functions.search:1", "search")]
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    assert json.loads(calls[1].arguments) == {"q": "é < > </think>"}  # markers inside args stay args
    assert all(c.error is None for c in calls)
    assert calls[0].to_openai() == {"index": 0, "id": "functions.get_weather:0", "type": "function",
                                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}


def test_every_two_way_split_gives_the_same_result() -> None:
    whole = _collect([GEN])
    for i in range(len(GEN) + 1):
        assert _collect([GEN[:i], GEN[i:]]) == whole, i


def test_character_by_character() -> None:
    assert _collect(list(GEN)) == _collect([GEN])


def test_split_at_every_token_boundary(tmp_path) -> None:
    """Tokenise with the real special ids, decode token by token, parse each piece."""
    write_tokenizer(tmp_path, REAL_SPECIAL_BASE)
    tok = Tokenizer.from_pretrained(tmp_path)
    ids = tok.encode(GEN, allow_special=True)
    assert tok.special_id("<|tool_call_begin|>") in ids
    dec = StreamDecoder(tok)
    pieces = [dec.push(i) for i in ids] + [dec.flush()]
    assert _collect(pieces) == _collect([GEN])


def test_malformed_arguments_are_flagged_not_dropped() -> None:
    text = ("<|tool_calls_section_begin|><|tool_call_begin|>functions.edit:0<|tool_call_argument_begin|>"
            '{"path": "a.py", "old": <|tool_call_end|>'
            "<|tool_call_begin|>functions.ls:1<|tool_call_argument_begin|>[1, 2]<|tool_call_end|>"
            "<|tool_calls_section_end|>")
    msg = parse(text)
    bad, not_object = msg.tool_calls
    assert bad.name == "edit" and bad.arguments == '{"path": "a.py", "old":'
    assert bad.error and "not valid JSON" in bad.error
    assert not_object.error and "JSON object" in not_object.error


def test_cut_off_tool_call_reports_error() -> None:
    msg = parse('ok<|tool_calls_section_begin|><|tool_call_begin|>functions.ls:0<|tool_call_argument_begin|>{"a"')
    assert msg.content == "ok"
    assert len(msg.tool_calls) == 1 and "cut off" in msg.tool_calls[0].error


def test_content_only_and_lookalike_text() -> None:
    msg = parse("Use <b>bold</b> and <|im not a marker|> text", thinking=False)
    assert msg.content == "Use <b>bold</b> and <|im not a marker|> text"
    assert msg.reasoning == "" and msg.tool_calls == []
    # a prefix of a marker at the end of the stream is flushed as text
    assert parse("tail <|tool_call", thinking=False).content == "tail <|tool_call"


def test_model_opens_think_itself() -> None:
    msg = parse("<think>hmm</think>answer", thinking=False)
    assert (msg.reasoning, msg.content) == ("hmm", "answer")


def test_template_parser_round_trip() -> None:
    """An assistant turn rendered by the chat template parses back into the same message."""
    from kimi_engine.chat_template import render

    turn = {"role": "assistant", "reasoning_content": "Need the file list.", "content": "Listing now.",
            "tool_calls": [
                {"id": "functions.ls:0", "function": {"name": "ls", "arguments": '{"path": "."}'}},
                {"id": "functions.read_file:1", "function": {"name": "read_file", "arguments": '{"path": "a <b>.py"}'}},
            ]}
    text = render([{"role": "user", "content": "hi"}, turn], thinking=True, add_generation_prompt=False)
    body = text.split("<|im_assistant|>assistant<|im_middle|>", 1)[1]
    assert body.startswith("<think>")
    for pieces in ([body], list(body)):
        msg = parse("".join(pieces), thinking=False) if len(pieces) == 1 else _collect(pieces, thinking=False)
        if isinstance(msg, tuple):
            reasoning, content, calls = msg
        else:
            reasoning, content, calls = msg.reasoning, msg.content, msg.tool_calls
        assert (reasoning, content) == (turn["reasoning_content"], turn["content"])
        assert [(c.id, c.name, c.arguments) for c in calls] == [
            (tc["id"], tc["function"]["name"], tc["function"]["arguments"]) for tc in turn["tool_calls"]]
