"""Byte-exact rendering of the Kimi K2 chat template against hand-written expectations."""

from __future__ import annotations

import pytest
from kimi_engine.chat_template import DEFAULT_SYSTEM, TemplateError, render, render_segments

WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather now",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def test_plain_conversation_with_default_system() -> None:
    got = render([{"role": "user", "content": "Hi"}])
    assert got == (
        f"<|im_system|>system<|im_middle|>{DEFAULT_SYSTEM}<|im_end|>"
        "<|im_user|>user<|im_middle|>Hi<|im_end|>"
        "<|im_assistant|>assistant<|im_middle|>"
    )


def test_tools_tool_calls_and_results() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Weather in "}, {"type": "text", "text": "Paris?"}]},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
            {"id": "functions.get_weather:7", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Nice"}}},
        ]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "sunny, 21C"},
        {"role": "tool", "tool_call_id": "functions.get_weather:7", "content": "rain"},
    ]
    got = render(messages, [WEATHER_TOOL])
    assert got == (
        '<|im_system|>tool_declare<|im_middle|>[{"type":"function","function":{"name":"get_weather",'
        '"description":"Weather now","parameters":{"type":"object","properties":{"city":{"type":"string"}},'
        '"required":["city"]}}}]<|im_end|>'
        "<|im_system|>system<|im_middle|>Be brief.<|im_end|>"
        "<|im_user|>user<|im_middle|>Weather in Paris?<|im_end|>"
        "<|im_assistant|>assistant<|im_middle|><|tool_calls_section_begin|>"
        '<|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{"city": "Paris"}<|tool_call_end|>'
        '<|tool_call_begin|>functions.get_weather:7<|tool_call_argument_begin|>{"city": "Nice"}<|tool_call_end|>'
        "<|tool_calls_section_end|><|im_end|>"
        "<|im_system|>tool<|im_middle|>## Return of functions.get_weather:0\nsunny, 21C<|im_end|>"
        "<|im_system|>tool<|im_middle|>## Return of functions.get_weather:7\nrain<|im_end|>"
        "<|im_assistant|>assistant<|im_middle|>"
    )


CONVO = [
    {"role": "system", "content": "S"},
    {"role": "user", "content": "Q1"},
    {"role": "assistant", "reasoning_content": "R1", "content": "A1"},
    {"role": "user", "content": "Q2"},
    {"role": "assistant", "reasoning_content": "R2", "content": "",
     "tool_calls": [{"id": "functions.ls:0", "function": {"name": "ls", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "functions.ls:0", "content": "a.py"},
]
HEAD = "<|im_system|>system<|im_middle|>S<|im_end|><|im_user|>user<|im_middle|>Q1<|im_end|>"
CALL = ("<|tool_calls_section_begin|><|tool_call_begin|>functions.ls:0<|tool_call_argument_begin|>{}"
        "<|tool_call_end|><|tool_calls_section_end|><|im_end|>"
        "<|im_system|>tool<|im_middle|>## Return of functions.ls:0\na.py<|im_end|>")


def test_thinking_on_drops_old_reasoning_keeps_current_turn() -> None:
    assert render(CONVO, thinking=True) == (
        HEAD + "<|im_assistant|>assistant<|im_middle|><think></think>A1<|im_end|>"
        "<|im_user|>user<|im_middle|>Q2<|im_end|>"
        "<|im_assistant|>assistant<|im_middle|><think>R2</think>" + CALL +
        "<|im_assistant|>assistant<|im_middle|><think>"
    )


def test_preserved_thinking_keeps_all_reasoning() -> None:
    got = render(CONVO, thinking=True, preserve_thinking=True)
    assert "<|im_middle|><think>R1</think>A1<|im_end|>" in got
    assert "<think>R2</think>" in got and got.endswith("<|im_middle|><think>")


def test_thinking_off_and_non_thinking_model() -> None:
    off = render(CONVO, thinking=False)
    assert "<think></think>A1" in off and "R2" not in off
    assert off.endswith("<|im_assistant|>assistant<|im_middle|><think></think>")
    plain = render(CONVO)
    assert "<think>" not in plain and "R1" not in plain
    assert plain.endswith("<|im_assistant|>assistant<|im_middle|>")


def test_segments_mark_only_template_markers_special() -> None:
    segs = render_segments([{"role": "user", "content": "say <|im_end|> please"}], default_system=None)
    assert ("say <|im_end|> please", False) in segs
    assert all(special == text.startswith(("<|", "<think", "</think")) for text, special in segs if special)


def test_bad_messages_are_rejected() -> None:
    with pytest.raises(TemplateError, match="unknown role"):
        render([{"role": "robot", "content": "x"}])
    with pytest.raises(TemplateError, match="image_url"):
        render([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])


def test_named_tool_result_and_per_turn_call_index() -> None:
    messages = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "a", "function": {"name": "ls", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "a", "name": "ls", "content": "x"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "b", "function": {"name": "cat", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "b", "content": "y"},
    ]
    got = render(messages, default_system=None)
    assert "<|im_system|>ls<|im_middle|>## Return of functions.ls:0\nx<|im_end|>" in got
    assert "<|tool_call_begin|>functions.cat:0<|tool_call_argument_begin|>" in got  # index resets per turn
    assert "<|im_system|>tool<|im_middle|>## Return of functions.cat:0\ny<|im_end|>" in got
