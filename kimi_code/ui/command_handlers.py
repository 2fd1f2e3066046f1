"""The slash commands' handlers, shared by the TUI and plain mode: each calls AgentSession
operations and reports through the CommandHost (command_host.py). /undo and /rewind live in
rewind_commands.py."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from kimi_code.config import ConfigError
from kimi_code.safety.permissions import MODES
from kimi_code.ui.command_host import Choice, CommandHost
from kimi_code.ui.render import human_tokens

INIT_PROMPT = Path(__file__).with_name("prompts") / "init.md"


async def new_session(host: CommandHost, arg: str) -> None:
    await host.session.new_session()
    host.conversation_replaced()
    host.show_notice(f"New session {host.session.session_id}.", "success")
    host.status_changed()


async def sessions(host: CommandHost, arg: str) -> None:
    """/sessions: pick an earlier session; /sessions ID (or /resume ID) resumes it directly."""
    if arg:
        await resume(host, arg)
        return
    choices = []
    for info, title in host.session.sessions():
        when = datetime.fromtimestamp(info.updated).strftime("%Y-%m-%d %H:%M")
        first = title.splitlines()[0][:70] if title.strip() else "(empty session)"
        choices.append(Choice(info.id, first, f"{when} · {info.message_count} messages · {info.id}"))
    await host.choose("Resume a session", choices, lambda value: resume(host, value),
                      empty="No other session in this workspace yet.")


async def resume(host: CommandHost, session_id: str) -> None:
    await host.session.cancel()
    try:
        host.session.resume(session_id)
    except LookupError as exc:
        host.show_notice(f"Cannot resume {session_id}: {exc}", "error")
        return
    host.conversation_replaced()
    host.show_notice(f"Resumed session {host.session.session_id} "
                     f"({len(host.session.messages)} messages).", "success")
    host.status_changed()


async def fork(host: CommandHost, arg: str) -> None:
    old = host.session.session_id
    new = await host.session.fork()
    host.show_notice(f"Forked session {old} into {new}; you are in {new} now "
                     f"(/sessions goes back to {old}).", "success")
    host.status_changed()


async def model(host: CommandHost, arg: str) -> None:
    if arg:
        await switch_model(host, arg)
        return
    models = host.session.config.models
    choices = [Choice(name, name, f"{m.provider} · {m.model or m.path or ''}")
               for name, m in sorted(models.items())]
    await host.choose("Model", choices, lambda value: switch_model(host, value),
                      current=host.session.model.name)


async def switch_model(host: CommandHost, name: str) -> None:
    try:
        await host.session.switch_model(name)
    except (ConfigError, LookupError) as exc:
        host.show_notice(str(exc), "error")
        return
    current = host.session.model
    host.show_notice(f"Model: {current.name} ({current.model or current.path}).", "success")
    host.status_changed()


def set_mode(host: CommandHost, mode: str) -> None:
    try:
        host.session.set_mode(mode)
    except ValueError as exc:
        host.show_notice(f"usage: /mode {'|'.join(MODES)} ({exc})", "error")
        return
    host.status_changed()


async def mode(host: CommandHost, arg: str) -> None:
    if arg:
        set_mode(host, arg)
        return
    await host.choose("Permission mode", [Choice(m, m) for m in MODES],
                      lambda value: set_mode(host, value), current=host.session.permission_mode)


async def theme(host: CommandHost, arg: str) -> None:
    choices = host.theme_choices()
    if not choices:
        host.show_notice("Themes apply to the full-screen TUI only.", "info")
    elif arg:
        host.switch_theme(arg)
    else:
        await host.choose("Theme", choices, host.switch_theme)


async def compact(host: CommandHost, arg: str) -> None:
    if host.session.busy:
        host.show_notice("The agent is working; /compact after the turn (or Esc first).",
                         "warning")
        return
    if not await host.session.compact():
        host.show_notice("Nothing to compact yet.", "info")
    host.status_changed()


async def clear(host: CommandHost, arg: str) -> None:
    host.clear_screen()


async def init(host: CommandHost, arg: str) -> None:
    host.send_prompt(INIT_PROMPT.read_text(encoding="utf-8"), shown="/init")


async def trust(host: CommandHost, arg: str) -> None:
    if host.session.trusted:
        host.show_notice("This workspace is already trusted.", "info")
        return
    if host.session.busy:
        host.show_notice("The agent is working; /trust after the turn (or Esc first).",
                         "warning")
        return
    host.session.trust()
    host.show_notice("Workspace trusted: its project config and custom subagent types are "
                     "loaded now.", "success")
    host.status_changed()


async def cost(host: CommandHost, arg: str) -> None:
    usage, estimate = host.session.usage, host.cost()
    text = (f"This session: {human_tokens(usage.input_tokens)} input tokens "
            f"({human_tokens(usage.cache_read_tokens)} from cache), "
            f"{human_tokens(usage.output_tokens)} output tokens. ")
    text += f"Estimated cost ${estimate:.4f}." if estimate is not None else \
        "Cost unknown for this model (add its price to prices.toml in your config dir)."
    host.show_notice(text, "info")


async def quit_(host: CommandHost, arg: str) -> None:
    await host.quit()
