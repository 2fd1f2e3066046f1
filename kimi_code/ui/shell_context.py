"""`!command` output as context (see kimi_code.runtime.shell_context): the transcript folds it
back into one line per command with `split`."""

from kimi_code.runtime.shell_context import ShellContext, attach, split, wrap

__all__ = ["ShellContext", "attach", "split", "wrap"]
