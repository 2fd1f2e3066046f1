"""The Kimi K2 chat template, rendered in Python (no Jinja), from OpenAI-style messages.

Envelope per turn:  <|im_{user,assistant,system}|>{name}<|im_middle|>{body}<|im_end|>
Tools are declared first in a `tool_declare` system turn as compact JSON; a default system turn is
inserted when the conversation has none. Assistant tool calls:
  <|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:IDX<|tool_call_argument_begin|>
  {json}<|tool_call_end|>...<|tool_calls_section_end|>
Tool results are system turns named after the tool (`name`, else `tool`) whose body starts
`## Return of <call id>\\n`.

Thinking (`thinking` argument):
  None  - a model without thinking (K2-Instruct): no <think> tags anywhere.
  True  - assistant turns carry `<think>reasoning</think>`; the generation prompt opens `<think>`.
          Reasoning of turns before the last user message is dropped (`<think></think>`) unless
          `preserve_thinking` is set; turns after it (the current tool loop) keep theirs.
  False - thinking model in instant mode: assistant turns get `<think></think>`, and the
          generation prompt ends with the closed `<think></think>`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

DEFAULT_SYSTEM = "You are Kimi, an AI assistant created by Moonshot AI."
SPECIAL_TOKENS = (
    "<|im_user|>", "<|im_assistant|>", "<|im_system|>", "<|im_middle|>", "<|im_end|>",
    "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>", "<|tool_call_begin|>",
    "<|tool_call_argument_begin|>", "<|tool_call_end|>", "<think>", "</think>",
)
_ROLE_TOKEN = {"user": "<|im_user|>", "assistant": "<|im_assistant|>", "system": "<|im_system|>", "tool": "<|im_system|>"}
_CALL_ID = re.compile(r"functions\.[\w\-.]+:\d+")

Segment = tuple[str, bool]  # (text, is_special_token)


class TemplateError(ValueError):
    """A message cannot be rendered (unknown role, unsupported content part, ...)."""


def render(messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None = None, *,
           add_generation_prompt: bool = True, thinking: bool | None = None,
           preserve_thinking: bool = False, default_system: str | None = DEFAULT_SYSTEM) -> str:
    """The prompt as one string (special tokens written as their text)."""
    segments = render_segments(messages, tools, add_generation_prompt=add_generation_prompt,
                               thinking=thinking, preserve_thinking=preserve_thinking,
                               default_system=default_system)
    return "".join(text for text, _ in segments)


def render_segments(messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None = None, *,
                    add_generation_prompt: bool = True, thinking: bool | None = None,
                    preserve_thinking: bool = False,
                    default_system: str | None = DEFAULT_SYSTEM) -> list[Segment]:
    """The prompt as segments, so that only the template's own markers become special tokens
    (text inside messages that looks like a marker is encoded as ordinary text)."""
    out: list[Segment] = []
    if tools:
        out += _turn("<|im_system|>", "tool_declare", [(_compact_json(list(tools)), False)])
    if default_system is not None and (not messages or messages[0].get("role") != "system"):
        out += _turn("<|im_system|>", "system", [(default_system, False)])
    ids = _CallIds()
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    for i, msg in enumerate(messages):
        role = msg.get("role")
        if role not in _ROLE_TOKEN:
            raise TemplateError(f"message {i}: unknown role {role!r}")
        name = msg.get("name") or role
        if role == "assistant":
            keep = preserve_thinking or i > last_user
            body = _assistant_body(msg, thinking, keep, ids)
        elif role == "tool":
            call_id = ids.resolve(str(msg.get("tool_call_id") or ""))
            body = [(f"## Return of {call_id}\n{_text(msg.get('content'), i)}", False)]
        else:
            body = [(_text(msg.get("content"), i), False)]
        out += _turn(_ROLE_TOKEN[role], name, body)
    if add_generation_prompt:
        out += [("<|im_assistant|>", True), ("assistant", False), ("<|im_middle|>", True)]
        if thinking is True:
            out.append(("<think>", True))
        elif thinking is False:
            out += [("<think>", True), ("</think>", True)]
    return [s for s in out if s[0]]


def _turn(role_token: str, name: str, body: list[Segment]) -> list[Segment]:
    return [(role_token, True), (name, False), ("<|im_middle|>", True), *body, ("<|im_end|>", True)]


def _compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _text(content: Any, index: int) -> str:
    """String content, or the concatenated text parts of an OpenAI content list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise TemplateError(f"message {index}: content part of type {kind!r} is not supported (text only)")
            parts.append(str(part.get("text", "")))
        return "".join(parts)
    raise TemplateError(f"message {index}: content must be a string or a list of text parts")


def _assistant_body(msg: dict[str, Any], thinking: bool | None, keep_reasoning: bool, ids: _CallIds) -> list[Segment]:
    body: list[Segment] = []
    if thinking is not None:
        reasoning = msg.get("reasoning_content") or msg.get("reasoning") or msg.get("thinking") or ""
        body += [("<think>", True), (reasoning if keep_reasoning and thinking else "", False), ("</think>", True)]
    body.append((_text(msg.get("content"), -1), False))
    calls = msg.get("tool_calls") or []
    if calls:
        body.append(("<|tool_calls_section_begin|>", True))
        for index, call in enumerate(calls):
            fn = call.get("function") or call
            call_id = ids.assign(str(call.get("id") or ""), str(fn.get("name", "")), index)
            args = fn.get("arguments", "{}")
            args = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
            body += [("<|tool_call_begin|>", True), (call_id, False), ("<|tool_call_argument_begin|>", True),
                     (args, False), ("<|tool_call_end|>", True)]
        body.append(("<|tool_calls_section_end|>", True))
    return body


class _CallIds:
    """Kimi wants call ids `functions.NAME:IDX` with IDX the call's 0-based position in its
    assistant turn; ids from other providers (e.g. `call_abc`) are renamed that way, and tool
    results referring to them follow the rename."""

    def __init__(self) -> None:
        self.renamed: dict[str, str] = {}

    def assign(self, call_id: str, name: str, index: int) -> str:
        if _CALL_ID.fullmatch(call_id):
            return call_id
        new = f"functions.{name}:{index}"
        if call_id:
            self.renamed[call_id] = new
        return new

    def resolve(self, call_id: str) -> str:
        return self.renamed.get(call_id, call_id)
