"""Claude Code compatible headless output (DESIGN.md section 6).

`StreamJsonWriter` is an event consumer: one JSON object per line as things happen.
`result_object` builds the final `result` line (also the whole output of `--output-format json`).
"""

from __future__ import annotations

import json
import re
from typing import Any, TextIO, assert_never

from kimi_code.events import (
    AnyEvent,
    AssistantMessage,
    CheckpointCreated,
    CompactionDone,
    Event,
    Notice,
    PermissionDenied,
    RetryScheduled,
    SessionStarted,
    StepStarted,
    SubagentCompleted,
    SubagentProgress,
    SubagentStarted,
    TextDelta,
    ThinkingDelta,
    TodosUpdated,
    ToolCallFinished,
    ToolCallStarted,
    ToolMessageAdded,
    TurnFinished,
    TurnStarted,
    UserMessageAdded,
    closed,
)
from kimi_code.llm.base import Message, Usage


def tool_input(arguments: str) -> Any:
    """The parsed tool input, or the raw text when the model sent malformed JSON."""
    try:
        return json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError:
        return {"_raw": arguments}


def assistant_content(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if message.thinking:
        blocks.append({"type": "thinking", "thinking": message.thinking})
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name,
                       "input": tool_input(call.arguments)})
    return blocks


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def json_line(obj: dict[str, Any], out: TextIO) -> str:
    """`obj` as one line of JSON that `out` can always encode. Non-ASCII is kept as is on a
    UTF-8 stream; a lone surrogate (a model's broken escape, a file name that is not UTF-8)
    becomes a \\uXXXX escape instead of a UnicodeEncodeError that loses the result; any
    other stream encoding (a latin-1 or GBK locale) gets ASCII-only JSON."""
    encoding = (getattr(out, "encoding", None) or "utf-8").lower().replace("-", "")
    text = json.dumps(obj, ensure_ascii=encoding not in ("utf8", "utf_8"))
    if _LONE_SURROGATE.search(text):
        text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text + "\n"


class StreamJsonWriter:
    """Writes each event that stream-json carries as one JSON line on `out`."""

    def __init__(self, out: TextIO, session_id: str) -> None:
        self.out, self.session_id = out, session_id

    def write(self, obj: dict[str, Any]) -> None:
        self.out.write(json_line(obj, self.out))
        self.out.flush()

    def __call__(self, event: Event) -> None:
        line = self.line_for(closed(event))
        if line is not None:
            self.write(line)

    def _system(self, subtype: str, event: Event, **fields: Any) -> dict[str, Any]:
        return {"type": "system", "subtype": subtype, "session_id": self.session_id,
                "parent_tool_use_id": event.agent_id or None, **fields}

    def line_for(self, event: AnyEvent) -> dict[str, Any] | None:
        """The stream-json object for `event`, or None for events the format does not carry."""
        parent = event.agent_id or None
        match event:
            case SessionStarted():
                return {"type": "system", "subtype": "init", "session_id": event.session_id,
                        "cwd": event.cwd, "model": event.model, "tools": list(event.tools),
                        "permission_mode": event.permission_mode}
            case AssistantMessage():
                return {"type": "assistant", "session_id": self.session_id,
                        "parent_tool_use_id": parent,
                        "message": {"role": "assistant",
                                    "content": assistant_content(event.message),
                                    "usage": event.usage.to_dict()}}
            case ToolMessageAdded():
                message = event.message
                return {"type": "user", "session_id": self.session_id,
                        "parent_tool_use_id": parent,
                        "message": {"role": "user", "content": [{
                            "type": "tool_result", "tool_use_id": message.tool_call_id,
                            "content": message.content, "is_error": message.is_error}]}}
            case RetryScheduled():
                return self._system("retry", event, attempt=event.attempt,
                                    max_attempts=event.max_attempts,
                                    delay_ms=int(event.delay_s * 1000), error=event.error,
                                    status=event.status)
            case CompactionDone():
                return self._system("compact_boundary", event, compact_metadata={
                    "trigger": event.trigger, "pre_tokens": event.tokens_before,
                    "post_tokens": event.tokens_after})
            case CheckpointCreated():
                return self._system("checkpoint", event, checkpoint_id=event.checkpoint_id,
                                    trigger=event.trigger)
            case SubagentStarted() | SubagentProgress() | SubagentCompleted():
                return self._subagent(event)
            case (TurnStarted() | StepStarted() | TextDelta() | ThinkingDelta()
                  | ToolCallStarted() | ToolCallFinished() | PermissionDenied()
                  | UserMessageAdded() | Notice() | TodosUpdated() | TurnFinished()):
                # Not in Claude's stream-json: deltas are folded into the assistant message,
                # denials and the end of the turn into the final result line.
                return None
            case _:
                assert_never(event)

    def _subagent(self, event: SubagentStarted | SubagentProgress | SubagentCompleted
                  ) -> dict[str, Any]:
        match event:
            case SubagentStarted():
                extra = {} if event.item is None else {"item": event.item}
                return self._system("subagent_started", event, subagent_id=event.subagent_id,
                                    subagent_type=event.subagent_type,
                                    description=event.description, **extra)
            case SubagentProgress():
                return self._system("subagent_progress", event, subagent_id=event.subagent_id,
                                    step=event.step, last_tool=event.last_tool,
                                    usage=event.usage.to_dict())
            case SubagentCompleted():
                return self._system("subagent_completed", event, subagent_id=event.subagent_id,
                                    status=event.status, summary=event.summary,
                                    usage=event.usage.to_dict(),
                                    files_changed=list(event.files_changed))
            case _:
                assert_never(event)


RESULT_SUBTYPES = {"end_turn": "success", "max_turns": "error_max_turns"}


def result_object(*, stop_reason: str, text: str, error: str, session_id: str, num_turns: int,
                  duration_ms: int, duration_api_ms: int, usage: Usage,
                  permission_denials: list[dict[str, Any]]) -> dict[str, Any]:
    subtype = RESULT_SUBTYPES.get(stop_reason, "error_during_execution")
    is_error = subtype != "success"
    return {
        "type": "result",
        "subtype": subtype,
        "is_error": is_error,
        "num_turns": num_turns,
        "duration_ms": duration_ms,
        "duration_api_ms": duration_api_ms,
        "result": text if not is_error or not error else (text or error),
        "error": error or None,
        "stop_reason": stop_reason,
        "session_id": session_id,
        "usage": usage.to_dict(),
        "permission_denials": permission_denials,
    }
