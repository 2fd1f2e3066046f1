"""The approval modal: exactly what will run (control characters made visible; the diff for
edits), and the four answers: allow once, allow always (an editable rule, saved to the session,
the project or the user config), deny, deny with a message to the agent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from kimi_code.agent.approval import ApprovalRequest, ApprovalResponse
from kimi_code.safety.permissions import Rule, RuleError
from kimi_code.ui.render import proposed_diff, visible
from kimi_code.ui.widgets.diff_view import DiffView

SCOPES = (("this session", "session"), ("this project", "project"), ("all projects (user)", "user"))


@dataclass(frozen=True)
class ApprovalResult:
    response: ApprovalResponse
    scope: str = "session"  # where an "allow always" rule is kept: session | project | user


class ApprovalScreen(ModalScreen[ApprovalResult]):
    DEFAULT_CSS = """
    ApprovalScreen { align: center middle; }
    ApprovalScreen > #dialog {
        width: 90%; max-width: 120; height: auto; max-height: 90%;
        border: round $warning; background: $surface; padding: 0 1;
    }
    ApprovalScreen #title { text-style: bold; color: $warning; margin-bottom: 1; }
    ApprovalScreen #subject-box { width: 100%; height: auto; max-height: 12;
                                  background: $background; padding: 0 1; }
    ApprovalScreen #diff-box { height: auto; max-height: 20; margin-top: 1; }
    ApprovalScreen .row { width: 100%; height: auto; margin-top: 1; }
    ApprovalScreen .row Label { width: 16; padding: 1 1 0 0; }
    ApprovalScreen #rule { width: 1fr; }
    ApprovalScreen #scope { width: 26; }
    ApprovalScreen #message { width: 1fr; }
    ApprovalScreen #buttons { width: 100%; height: auto; margin-top: 1; }
    ApprovalScreen #buttons Button { margin-right: 1; min-width: 10; }
    ApprovalScreen #error { color: $error; height: auto; }
    """
    BINDINGS = [
        Binding("y", "allow_once", "Allow once"),
        Binding("a", "allow_always", "Allow always"),
        Binding("n", "deny", "Deny"),
        Binding("m", "focus_message", "Deny with message"),
        Binding("escape", "deny", "Deny", show=False),
    ]

    def __init__(self, request: ApprovalRequest, workspace: Path) -> None:
        super().__init__()
        self.request = request
        self.diff = proposed_diff(request.tool_name, request.tool_input, workspace)

    def compose(self) -> ComposeResult:
        r = self.request
        who = " (subagent)" if r.agent_id else ""
        with Vertical(id="dialog"):
            yield Label(f"Allow {r.tool_name}{who}?", id="title")
            with VerticalScroll(id="subject-box"):
                yield Static(Text(visible(r.subject) or "(no arguments)"), id="subject")
            if self.diff:
                with VerticalScroll(id="diff-box"):
                    yield DiffView(self.diff)
            with Horizontal(classes="row"):
                yield Label("Always allow")
                yield Input(r.suggested_rule, id="rule")
                yield Select(SCOPES, value="session", allow_blank=False, id="scope")
            with Horizontal(classes="row"):
                yield Label("Tell the agent")
                yield Input(placeholder="why not / what to do instead (Enter denies)",
                            id="message")
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button(Text("[y] Allow once"), id="once", variant="success")
                yield Button(Text("[a] Always"), id="always", variant="primary")
                yield Button(Text("[n] Deny"), id="deny", variant="error")
                yield Button(Text("[m] Deny + message"), id="deny-message", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#once", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        actions = {"once": self.action_allow_once, "always": self.action_allow_always,
                   "deny": self.action_deny, "deny-message": self._deny_with_message}
        actions[event.button.id or "deny"]()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "message":
            self._deny_with_message()
        else:
            self.action_allow_always()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Letter shortcuts must not fire while the user types a rule or a message.
        if action in ("allow_once", "allow_always", "deny", "focus_message") and \
                isinstance(self.focused, Input) and action != "deny":
            return False
        return True

    def action_allow_once(self) -> None:
        self.dismiss(ApprovalResult(ApprovalResponse(True)))

    def action_allow_always(self) -> None:
        rule = self.query_one("#rule", Input).value.strip()
        try:
            parsed = Rule.parse(rule)
        except RuleError as exc:
            self.query_one("#error", Static).update(str(exc))
            return
        scope = str(self.query_one("#scope", Select).value)
        self.dismiss(ApprovalResult(ApprovalResponse(True, remember_rule=str(parsed)), scope))

    def action_deny(self) -> None:
        self.dismiss(ApprovalResult(ApprovalResponse(False)))

    def action_focus_message(self) -> None:
        self.query_one("#message", Input).focus()

    def _deny_with_message(self) -> None:
        message = self.query_one("#message", Input).value.strip()
        if not message:
            self.action_focus_message()
            self.query_one("#error", Static).update("Type a message for the agent, then Enter.")
            return
        self.dismiss(ApprovalResult(ApprovalResponse(False, message=message)))
