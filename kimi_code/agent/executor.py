"""Runs one tool call: validate arguments, check permissions (asking when needed), execute,
and turn every outcome — including malformed arguments, unknown tools, denials and crashes —
into a tool-result message for the model. Nothing here raises for a bad call."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kimi_code.agent.approval import ApprovalRequest, Approver
from kimi_code.events import Event, PermissionDenied, ToolCallFinished, ToolCallStarted
from kimi_code.llm.base import Message, ToolCall, sendable
from kimi_code.safety.permissions import Decision, PermissionPolicy, suggest_rule
from kimi_code.tools.base import (
    Tool,
    ToolArgs,
    ToolContext,
    ToolError,
    ToolResult,
    current_call_id,
)
from kimi_code.tools.globmatch import note_workspace_change
from kimi_code.tools.registry import ToolRegistry

log = logging.getLogger(__name__)


@dataclass
class PreparedCall:
    """A call after validation and the permission decision, ready to run (or to refuse)."""

    call: ToolCall
    tool: Tool[Any] | None
    args: ToolArgs | None
    decision: Decision
    error: str = ""  # set when the call cannot run (unknown tool, bad arguments)
    input: dict[str, Any] = field(default_factory=dict)
    # Set once the call has run: whether it may have changed the workspace (the agent takes a
    # checkpoint after such a call). False for calls refused or never run.
    mutated: bool = False

    @property
    def runs_freely(self) -> bool:
        """Concurrent-safe and allowed without asking: may start early and run concurrently."""
        return not self.error and self.tool is not None and self.tool.concurrent_safe \
            and self.decision is Decision.ALLOW


class ToolExecutor:
    def __init__(self, registry: ToolRegistry, ctx: ToolContext, policy: PermissionPolicy,
                 approver: Approver | None, emit: Callable[[Event], None], agent_id: str = "") -> None:
        self.registry, self.ctx, self.policy = registry, ctx, policy
        self.approver, self.emit, self.agent_id = approver, emit, agent_id
        self.denials: list[dict[str, Any]] = []

    def prepare(self, call: ToolCall) -> PreparedCall:
        try:
            raw_input = json.loads(call.arguments) if call.arguments.strip() else {}
        except json.JSONDecodeError:
            raw_input = {"_raw": call.arguments[:2000]}
        if not isinstance(raw_input, dict):
            raw_input = {"_raw": raw_input}
        tool = self.registry.get(call.name)
        if tool is None:
            names = ", ".join(self.registry.names())
            return PreparedCall(call, None, None, Decision.DENY,
                                f"Unknown tool '{call.name}'. Available tools: {names}.", raw_input)
        try:
            args = tool.parse_args(call.arguments)
        except ToolError as exc:
            return PreparedCall(call, tool, None, Decision.DENY, str(exc), raw_input)
        try:
            subject = tool.permission_subject(args, self.ctx)
        except ToolError as exc:
            return PreparedCall(call, tool, args, Decision.DENY, str(exc), raw_input)
        except OSError as exc:  # a path changing on disk mid-resolution: this call fails only
            return PreparedCall(call, tool, args, Decision.DENY,
                                f"{tool.name} could not resolve its path: {exc}", raw_input)
        decision = self.policy.decide(tool.name, subject, read_only=not tool.asks_as_write())
        return PreparedCall(call, tool, args, decision, "", raw_input)

    async def execute(self, prepared: PreparedCall) -> tuple[Message, dict[str, Any]]:
        """Run a prepared call and return (tool message, display data). Emits start/finish."""
        call = prepared.call
        started = time.monotonic()
        self.emit(ToolCallStarted(call=call, agent_id=self.agent_id))
        result = await self._outcome(prepared)
        message = Message(role="tool", content=sendable(result.content), tool_call_id=call.id,
                          is_error=result.is_error)
        duration = int((time.monotonic() - started) * 1000)
        self.emit(ToolCallFinished(call=call, message=message, duration_ms=duration,
                                   display=result.display, agent_id=self.agent_id))
        return message, result.display

    async def _outcome(self, prepared: PreparedCall) -> ToolResult:
        if prepared.error:
            return ToolResult(prepared.error, is_error=True)
        assert prepared.tool is not None and prepared.args is not None
        tool, args = prepared.tool, prepared.args
        if prepared.decision is not Decision.ALLOW:
            refusal = await self._permission(prepared)
            if refusal is not None:
                return refusal
        token = current_call_id.set(prepared.call.id)
        result: ToolResult | None = None
        try:
            result = await tool.run(args, self.ctx)
            return result
        except ToolError as exc:
            return ToolResult(str(exc), is_error=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a tool bug must not kill the agent
            log.exception("tool %s crashed", tool.name)
            return ToolResult(f"{tool.name} failed unexpectedly: {type(exc).__name__}: {exc}",
                              is_error=True)
        finally:
            current_call_id.reset(token)
            # a refused or crashed writing tool may still have written part of its change
            prepared.mutated = tool.changed_workspace(result)
            if prepared.mutated:
                note_workspace_change()

    async def _permission(self, prepared: PreparedCall) -> ToolResult | None:
        """None when the call may go ahead; otherwise the refusal result."""
        assert prepared.tool is not None and prepared.args is not None
        try:
            subject = prepared.tool.permission_subject(prepared.args, self.ctx)
        except (ToolError, OSError) as exc:  # the path changed since prepare(): refuse it
            return ToolResult(str(exc), is_error=True)
        reason = "denied by a permission rule or mode"
        if why := self.policy.explain(prepared.tool.name, subject):
            reason += f" ({why})"
        if prepared.decision is Decision.ASK:
            if self.approver is None:
                reason = "needs approval, and no one can approve in this mode (headless)"
                reason += f" ({why})" if why else ""
            else:
                response = await self.approver(ApprovalRequest(
                    prepared.tool.name, prepared.call.id, prepared.input, subject,
                    suggest_rule(prepared.tool.name, subject), self.agent_id))
                if response.allowed:
                    if response.remember_rule:
                        self.policy.grant(response.remember_rule)
                    return None
                reason = "the user declined"
                if response.message:
                    reason += f" with this message: {response.message}"
        self.denials.append({"tool_name": prepared.tool.name, "tool_use_id": prepared.call.id,
                             "tool_input": prepared.input})
        self.emit(PermissionDenied(tool_name=prepared.tool.name, tool_use_id=prepared.call.id,
                                   tool_input=prepared.input, reason=reason, agent_id=self.agent_id))
        return ToolResult(
            f"Permission denied: {prepared.tool.name}({subject}) was not run: {reason}. "
            "Do not retry the same call; choose another approach or ask the user.",
            is_error=True,
        )
