"""`!command` output as context for the agent (like Claude Code's bash mode): the output of each
command the user ran from the prompt goes, once, in front of the next message they send.

The wire format is plain tagged text the model reads easily and the transcript can fold back
into one line per command:

    <bash-input>git status</bash-input>
    <bash-output exit_code="0">
    ...output, capped like the Bash tool's...
    </bash-output>
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BLOCK = re.compile(r'<bash-input>(?P<command>.*?)</bash-input>\n'
                    r'<bash-output exit_code="(?P<code>[^"]*)">\n(?P<output>.*?)\n</bash-output>\n\n',
                    re.DOTALL)


@dataclass(frozen=True)
class ShellContext:
    command: str
    exit_code: str  # a number, or "timeout" / "interrupted"
    output: str

    @property
    def line_count(self) -> int:
        return len(self.output.splitlines())


def wrap(command: str, output: str, exit_code: str) -> str:
    """One command and its (already capped) output, as it goes in front of a message."""
    return (f"<bash-input>{command}</bash-input>\n<bash-output exit_code=\"{exit_code}\">\n"
            f"{output.rstrip()}\n</bash-output>\n\n")


def attach(contexts: list[str], message: str) -> str:
    """The message the agent gets: every pending command output, then what the user typed."""
    return "".join(contexts) + message


def split(message: str) -> tuple[list[ShellContext], str]:
    """The command outputs at the start of a message (oldest first) and the typed rest."""
    contexts: list[ShellContext] = []
    position = 0
    while match := _BLOCK.match(message, position):
        contexts.append(ShellContext(match["command"], match["code"], match["output"]))
        position = match.end()
    return contexts, message[position:]
