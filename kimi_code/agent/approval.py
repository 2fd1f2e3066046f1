"""Approval requests and answers: what a front end is asked and what it answers.

Kept free of tool and pydantic imports so front ends can import it before the first frame.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ApprovalRequest:
    tool_name: str
    tool_use_id: str
    tool_input: dict[str, Any]
    subject: str  # exactly what will run / be touched (the command, the path)
    suggested_rule: str  # an editable "allow always" proposal
    agent_id: str = ""


@dataclass(frozen=True)
class ApprovalResponse:
    allowed: bool
    message: str = ""  # deny with a message to the agent
    remember_rule: str | None = None  # "allow always": add this rule for the session


Approver = Callable[[ApprovalRequest], Awaitable[ApprovalResponse]]


def parse_answer(answer: str, suggested_rule: str) -> ApprovalResponse:
    """A typed answer to an approval question (the line modes: `kimi-code run` in a terminal,
    `--plain`): y/yes allows once, a/always allows and remembers `suggested_rule`, n/no or
    nothing denies, and anything else denies with that text as a message to the agent."""
    text = answer.strip()
    word = text.lower()
    if word in ("y", "yes"):
        return ApprovalResponse(True)
    if word in ("a", "always"):
        return ApprovalResponse(True, remember_rule=suggested_rule)
    return ApprovalResponse(False, message="" if word in ("", "n", "no") else text)
