"""Workspace trust: nothing project-level loads until the user trusts the workspace.

The store is a per-user JSON file under `paths.config_dir()` (read-only inside the sandbox, so
a command the model runs cannot trust a workspace on the user's behalf).

Front ends call, in order:

    if interactive and not trust.is_trusted(root):
        if ask_user():            # the TUI's prompt: Enter trusts, Esc/n declines
            trust.trust(root)
    project = trust.load_project_config(root, review=is_review)   # None when untrusted

`load_project_config` never returns anything that widens permissions, changes a model, base
URL or key, sets hooks or environment: those keys are dropped and listed in `ignored`.
`check_yolo(mode, is_tty)` refuses `--permission-mode yolo` from a non-TTY process unless
KIMI_CODE_ALLOW_YOLO=1.
"""

from __future__ import annotations

import json
import os
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimi_code import paths

STORE_NAME = "trusted_workspaces.json"
PROJECT_CONFIG = Path(".kimi-code") / "config.toml"
ENV_ALLOW_YOLO = "KIMI_CODE_ALLOW_YOLO"
# Permission modes from least to most permissive: a project may only move left.
MODE_ORDER = ("read-only", "ask", "accept-edits", "yolo")


def store_path() -> Path:
    return paths.config_dir() / STORE_NAME


def _key(workspace: Path) -> str:
    return os.path.realpath(workspace)


def _load() -> dict[str, Any]:
    try:
        data = json.loads(store_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    workspaces = data.get("workspaces") if isinstance(data, dict) else None
    return workspaces if isinstance(workspaces, dict) else {}


def _save(workspaces: dict[str, Any]) -> None:
    path = store_path()
    paths.ensure_dir(path.parent)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"version": 1, "workspaces": workspaces}, indent=1), encoding="utf-8")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written store


def is_trusted(workspace: Path) -> bool:
    """Whether the user trusted this workspace (exactly this canonical directory)."""
    return _key(workspace) in _load()


def trust(workspace: Path) -> None:
    """Record that the user trusts `workspace`."""
    workspaces = _load()
    workspaces[_key(workspace)] = {"trusted_at": int(time.time())}
    _save(workspaces)


def untrust(workspace: Path) -> None:
    """Forget trust for `workspace` (no error when it was not trusted)."""
    workspaces = _load()
    if workspaces.pop(_key(workspace), None) is not None:
        _save(workspaces)


@dataclass
class ProjectConfig:
    """What a trusted project may set: only narrowing permission settings and the UI theme."""

    mode: str | None = None  # only ever narrower than the user's mode (see `narrow_mode`)
    ask: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    theme: str | None = None
    ignored: list[str] = field(default_factory=list)  # "key: why", for a notice to the user

    def narrow_mode(self, user_mode: str) -> str:
        """The effective mode: the project's when it is stricter than the user's, else theirs."""
        if self.mode is None or user_mode not in MODE_ORDER:
            return user_mode
        return min(self.mode, user_mode, key=MODE_ORDER.index)


def load_project_config(workspace: Path, *, review: bool = False) -> ProjectConfig | None:
    """The project's `.kimi-code/config.toml`, sanitised; None before trust, in review, or when
    absent. Raises ValueError (with the path) for invalid TOML in a trusted project."""
    if review or not is_trusted(workspace):
        return None
    path = Path(workspace) / PROJECT_CONFIG
    if not path.is_file():
        return None
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot read project config: {exc}") from None
    return _sanitise(doc)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _sanitise(doc: dict[str, Any]) -> ProjectConfig:
    result = ProjectConfig()
    raw_perms = doc.get("permissions")
    perms: dict[str, Any] = raw_perms if isinstance(raw_perms, dict) else {}
    for key in doc:
        if key not in ("permissions", "ui"):
            result.ignored.append(f"{key}: a project cannot set models, endpoints, keys, hooks "
                                  "or environment")
    for key, value in perms.items():
        if key == "deny":
            result.deny = _strings(value)
        elif key == "ask":
            result.ask = _strings(value)
        elif key == "mode" and value in MODE_ORDER:
            result.mode = value
        else:
            result.ignored.append(f"permissions.{key}: a project can only narrow permissions")
    ui = doc.get("ui")
    if isinstance(ui, dict) and isinstance(ui.get("theme"), str):
        result.theme = ui["theme"]
    return result


def yolo_allowed(is_tty: bool, environ: dict[str, str] | None = None) -> bool:
    """Whether `--permission-mode yolo` may run: always from a terminal; from a non-TTY
    process only with KIMI_CODE_ALLOW_YOLO=1."""
    env = os.environ if environ is None else environ
    return is_tty or env.get(ENV_ALLOW_YOLO, "").strip().lower() in {"1", "true", "yes"}


def check_yolo(mode: str, is_tty: bool, environ: dict[str, str] | None = None) -> None:
    """Raise ValueError (a usage error, exit 2) for yolo without a TTY and without opt-in."""
    if mode == "yolo" and not yolo_allowed(is_tty, environ):
        raise ValueError("--permission-mode yolo from a non-interactive process needs an explicit "
                         f"opt-in: set {ENV_ALLOW_YOLO}=1 (it runs every command and edit without "
                         "asking; the OS sandbox still applies).")
