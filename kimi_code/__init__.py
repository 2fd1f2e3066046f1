"""kimi-code: a terminal coding agent.

The package keeps its import cheap: nothing heavy (textual, torch, SDKs) is imported here.
"""

__version__ = "0.1.0"
