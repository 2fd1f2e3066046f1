"""The app's intents that are not about a single turn: the view after the conversation changed,
themes, saving "allow always" rules, `!command`, git status. Mixed into KimiApp; each one calls
the AgentSession (or config/git) and shows the outcome. Slash commands live in
command_handlers.py (shared with plain mode)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App

from kimi_code import paths
from kimi_code.agent.approval import ApprovalRequest, ApprovalResponse
from kimi_code.config import ConfigError
from kimi_code.git.runner import GitError, git_invocation
from kimi_code.ui import themes as theme_data
from kimi_code.ui.widgets.blocks import NoticeBlock
from kimi_code.ui.widgets.tool_block import ToolBlock

if TYPE_CHECKING:
    from kimi_code.runtime.session import AgentSession
    from kimi_code.ui.themes import KimiTheme
    from kimi_code.ui.widgets.prompt_input import PromptInput
    from kimi_code.ui.widgets.status_bar import StatusBar
    from kimi_code.ui.widgets.transcript import Transcript


class SessionActions(App[int]):
    """The base of KimiApp (an App itself, so these methods type-check against the real app
    without importing it): what KimiApp sets up is declared here, not defined."""

    shell_task: asyncio.Task[Any] | None = None
    _shell_count = 0
    # `!command` blocks whose output waits for the next message (set in __init__)
    shell_blocks: list[ToolBlock]

    if TYPE_CHECKING:  # defined by KimiApp
        session: AgentSession
        transcript: Transcript
        status: StatusBar
        prompt: PromptInput
        queue: list[str]
        kimi_themes: dict[str, KimiTheme]
        diff_palette: dict[str, str]
        awaiting_approval: bool

        def update_status(self) -> None: ...
        def _show_queue(self) -> None: ...
        def send_prompt(self, text: str, *, shown: str | None = None) -> None: ...
        def session_cost(self) -> float | None: ...

    def show_notice(self, message: str, level: str = "info") -> None:
        self.transcript.add(NoticeBlock(message, level))

    def conversation_replaced(self, prompt: str = "") -> None:
        """Redraw after the session's conversation changed (resume, new session, rewind):
        queued prompts are dropped, `prompt` goes back into an empty input line."""
        self.queue.clear()
        self._show_queue()
        if not self.session.pending_shell:
            self.shell_blocks.clear()
        messages = self.session.messages
        if messages:
            self.transcript.load_history(messages)
        else:
            self.transcript.clear()
        if prompt.strip() and not self.prompt.text:
            self.prompt.insert(prompt)
        self.update_status()

    def set_mode(self, mode: str) -> None:
        """Shift+Tab: the next mode (the /mode command goes through the registry)."""
        try:
            self.session.set_mode(mode)
        except ValueError as exc:
            self.show_notice(str(exc), "error")
            return
        self.status.set(mode=mode)

    # ---- approvals, themes and rules -----------------------------------------------------------

    async def approve(self, request: ApprovalRequest) -> ApprovalResponse:
        """The session's approver: show the modal and wait for the answer."""
        from kimi_code.ui.screens.approval import ApprovalResult, ApprovalScreen

        future: asyncio.Future[ApprovalResult | None] = \
            asyncio.get_running_loop().create_future()
        screen = ApprovalScreen(request, self.session.workspace.root)

        def answered(result: ApprovalResult | None) -> None:
            if not future.done():
                future.set_result(result)

        self.awaiting_approval = True
        self.push_screen(screen, callback=answered)
        try:
            result = await future
        except asyncio.CancelledError:
            if screen.is_attached and self.screen is screen:
                self.pop_screen()
            raise
        finally:
            self.awaiting_approval = False
        if result is None:  # dismissed without an answer: nothing is allowed
            return ApprovalResponse(False)
        if result.response.allowed and result.response.remember_rule:
            self.save_rule(result.response.remember_rule, result.scope)
        return result.response

    def switch_theme(self, name: str, *, persist: bool = True) -> None:
        if name not in self.available_themes:
            known = ", ".join(sorted(self.available_themes))
            self.show_notice(f"No theme {name!r}. Available: {known}.", "error")
            return
        kimi_theme = self.kimi_themes.get(name)
        theme_data.set_active_syntax(kimi_theme.syntax if kimi_theme else {})
        self.diff_palette = dict(kimi_theme.diff if kimi_theme else theme_data.FALLBACK_DIFF)
        self.theme = name
        if persist:
            from kimi_code.ui.config_edit import save_theme

            try:
                save_theme(paths.config_file(), name)
            except (ConfigError, OSError) as exc:
                self.show_notice(f"Theme switched, but not saved: {exc}", "warning")

    def save_rule(self, rule: str, scope: str) -> None:
        """Keep an "allow always" rule beyond this session when asked (project or user)."""
        if scope == "session":
            return
        from kimi_code.ui.config_edit import add_allow_rule

        target = paths.config_file() if scope == "user" else \
            self.session.workspace.root / ".kimi-code" / "config.toml"
        try:
            add_allow_rule(target, rule)
        except (ConfigError, OSError) as exc:
            self.show_notice(f"Allowed for this session, but not saved: {exc}", "warning")
            return
        self.show_notice(f"Saved {rule} to {target}.", "success")

    # ---- shell and git -----------------------------------------------------------------------

    def run_shell(self, command: str) -> None:
        """`!command`: the session runs it in the workspace; the output is shown here and goes
        (capped like the Bash tool's) with the next message the user sends."""
        if self.shell_task is not None and not self.shell_task.done():
            self.show_notice("A shell command is still running (Esc stops it).", "warning")
            return
        SessionActions._shell_count += 1
        block = ToolBlock.for_call(f"shell-{self._shell_count}", "Shell",
                                   json.dumps({"command": command}))
        self.transcript.add(block)
        self.shell_task = asyncio.ensure_future(self._shell(command, block))

    async def _shell(self, command: str, block: ToolBlock) -> None:
        result = await self.session.run_shell(command)
        self.shell_blocks.append(block)
        block.state.note = "↳ the output goes to the agent with your next message"
        block.finish(is_error=not result.ok, output=result.output, duration_ms=result.duration_ms)
        self.run_worker(self.refresh_git(), group="git", exclusive=True)

    def shell_outputs_sent(self) -> None:
        """The session attached the pending `!command` outputs to the message just sent."""
        pending, self.shell_blocks = self.shell_blocks, []
        for block in pending:
            block.set_note("↳ the output went to the agent with the message below")

    async def refresh_git(self) -> None:
        """Branch and dirty state for the status bar (nothing when not a git repository)."""
        root = str(self.session.workspace.root)

        async def git(*args: str) -> tuple[int, str]:
            # the safe runner's argv and environment: no repository program, no secrets
            argv, env = git_invocation(list(args), cwd=Path(root))
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=root, env=env, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL, stdin=asyncio.subprocess.DEVNULL)
            out, _ = await proc.communicate()
            return proc.returncode or 0, out.decode("utf-8", "replace").strip()

        try:
            code, branch = await git("rev-parse", "--abbrev-ref", "HEAD")
            if code != 0:
                return
            _, dirty = await git("status", "--porcelain", "--untracked-files=normal")
        except (OSError, GitError):
            return
        self.status.set(branch=branch, dirty=bool(dirty))
