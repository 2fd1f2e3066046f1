"""The one exception for an expected failure of something done on the model's behalf.

A refused path, a hard link that could write outside the workspace, a sandbox that cannot be
enforced, malformed tool arguments: each raises ToolError, and the agent's executor turns it
into an error result the model reads. It is defined here, in the lowest layer that raises it,
so the safety checks refuse in the tools' own terms without importing the tools layer; tools
import it from kimi_code.tools.base as before.
"""

from __future__ import annotations


class ToolError(Exception):
    """Raised inside a tool for an expected failure; becomes an error result for the model."""
