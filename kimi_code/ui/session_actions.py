"""The app's intents that are not about a single turn: new/resume session, model, mode, theme,
compaction, saving "allow always" rules, `!command`, git status. Mixed into KimiApp; each one
calls the InteractiveSession (or config/git) and shows the outcome."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kimi_code import paths
from kimi_code.config import ConfigError
from kimi_code.git.runner import GitError, git_invocation
from kimi_code.ui import shell_context
from kimi_code.ui import themes as theme_data
from kimi_code.ui.screens.picker import Choice, PickerScreen
from kimi_code.ui.widgets.blocks import NoticeBlock
from kimi_code.ui.widgets.tool_block import ToolBlock

if TYPE_CHECKING:
    from kimi_code.ui.app import KimiApp

SHELL_TIMEOUT_S = 600


class SessionActions:
    shell_task: asyncio.Task[Any] | None = None
    _shell_count = 0
    # `!command` outputs waiting for the next message, with their blocks (set in __init__)
    shell_contexts: list[tuple[str, ToolBlock]]

    def show_notice(self: KimiApp, message: str, level: str = "info") -> None:
        self.transcript.add(NoticeBlock(message, level))

    # ---- sessions ----------------------------------------------------------------------------

    async def new_session(self: KimiApp) -> None:
        await self.session.new_session()
        self.transcript.clear()
        self.queue.clear()
        self.shell_contexts.clear()
        self.show_notice(f"New session {self.session.session_id}.", "success")
        self.update_status()

    def open_session_picker(self: KimiApp) -> None:
        from kimi_code.session.store import SessionStore

        with SessionStore() as store:
            infos = store.list(self.session.workspace.root, limit=200)
            choices = []
            for info in infos:
                if info.id == self.session.session_id:
                    continue
                title = info.title or store.first_prompt(info.id) or "(empty session)"
                when = datetime.fromtimestamp(info.updated).strftime("%Y-%m-%d %H:%M")
                choices.append(Choice(info.id, title.splitlines()[0][:70],
                                      f"{when} · {info.message_count} messages · {info.id}"))
        self.push_screen(PickerScreen("Resume a session", choices,
                                      empty="No other session in this workspace yet."),
                         callback=lambda value: value and self.run_worker(self.resume(value)))

    async def resume(self: KimiApp, session_id: str) -> None:
        await self.session.cancel()
        try:
            self.session.open(resume=session_id)
        except LookupError as exc:
            self.show_notice(f"Cannot resume {session_id}: {exc}", "error")
            return
        self.queue.clear()
        self.transcript.load_history(self.session.agent.context.messages)
        self.show_notice(f"Resumed session {self.session.session_id}.", "success")
        self.update_status()

    async def switch_model(self: KimiApp, name: str) -> None:
        try:
            await self.session.switch_model(name)
        except (ConfigError, LookupError) as exc:
            self.show_notice(str(exc), "error")
            return
        model = self.session.model
        self.status.set(model=model.model or model.name)
        self.show_notice(f"Model: {model.name} ({model.model or model.path}).", "success")

    def set_mode(self: KimiApp, mode: str) -> None:
        try:
            self.session.set_mode(mode)
        except ValueError as exc:
            self.show_notice(str(exc), "error")
            return
        self.status.set(mode=mode)

    async def compact(self: KimiApp) -> None:
        if self.busy:
            self.show_notice("The agent is working; /compact after the turn (or Esc first).",
                             "warning")
            return
        self.status.set(activity="compacting…")
        done = await self.session.agent.compact_now()
        if not done:
            self.show_notice("Nothing to compact yet.", "info")
        self.update_status()

    # ---- themes and rules ----------------------------------------------------------------------

    def switch_theme(self: KimiApp, name: str, *, persist: bool = True) -> None:
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

    def save_rule(self: KimiApp, rule: str, scope: str) -> None:
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

    def run_shell(self: KimiApp, command: str) -> None:
        """`!command`: run it in the workspace, show the output, and keep it (capped like the
        Bash tool's) as context for the next message the user sends."""
        if self.shell_task is not None and not self.shell_task.done():
            self.show_notice("A shell command is still running (Esc stops it).", "warning")
            return
        SessionActions._shell_count += 1
        block = ToolBlock.for_call(f"shell-{self._shell_count}", "Shell",
                                   json.dumps({"command": command}))
        self.transcript.add(block)
        self.shell_task = asyncio.ensure_future(self._shell(command, block))

    async def _shell(self: KimiApp, command: str, block: ToolBlock) -> None:
        from kimi_code.runtime.assemble import child_environment
        from kimi_code.tools.bash import MAX_OUTPUT_CHARS
        from kimi_code.tools.process import run_command

        started = time.monotonic()
        try:
            result = await run_command(command, cwd=self.session.workspace.cwd,
                                       env=child_environment(), timeout=SHELL_TIMEOUT_S,
                                       max_output=MAX_OUTPUT_CHARS)
        except asyncio.CancelledError:  # Esc: run_command killed the process group
            output, code = "Interrupted.", "interrupted"
        except OSError as exc:
            output, code = f"Could not run the command: {exc}", "error"
        else:
            code = "timeout" if result.timed_out else str(result.exit_code)
            output = result.output + (f"\n(timed out after {SHELL_TIMEOUT_S} s)"
                                       if result.timed_out else
                                       f"\n(exit code {code})" if code != "0" else "")
        self.shell_contexts.append((shell_context.wrap(command, output, code), block))
        block.state.note = "↳ the output goes to the agent with your next message"
        block.finish(is_error=code != "0", output=output,
                     duration_ms=int((time.monotonic() - started) * 1000))
        self.run_worker(self.refresh_git(), group="git", exclusive=True)

    def with_shell_context(self: KimiApp, text: str) -> str:
        """The message to send: pending `!command` outputs first (each goes once)."""
        pending, self.shell_contexts = self.shell_contexts, []
        for _, block in pending:
            block.set_note("↳ the output went to the agent with the message below")
        return shell_context.attach([context for context, _ in pending], text)

    async def refresh_git(self: KimiApp) -> None:
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
