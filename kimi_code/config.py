"""Configuration: `$KIMI_CODE_HOME/config.toml`, overridden by environment, overridden by flags.

Errors are `ConfigError`s that name the file, the line when known, and what to do; the CLI turns
them into exit code 2.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kimi_code import paths

PROVIDERS = ("openai", "anthropic", "engine")
PERMISSION_MODES = ("ask", "accept-edits", "yolo", "read-only")
MAX_TOKENS_PARAMS = ("auto", "max_tokens", "max_completion_tokens", "both")
DEFAULT_BASE_URLS = {"openai": "https://api.moonshot.ai/v1", "anthropic": "https://api.anthropic.com"}


class ConfigError(Exception):
    """A configuration problem the user must fix (exit code 2)."""


@dataclass(frozen=True)
class ModelConfig:
    """One model endpoint. `api_key` is resolved (from api_key_env or KIMI_API_KEY) at load."""

    name: str
    provider: str = "openai"
    base_url: str | None = None
    model: str = ""
    api_key_env: str = "MOONSHOT_API_KEY"
    api_key: str | None = field(default=None, repr=False)
    context_window: int = 262144
    max_tokens: int | None = None
    path: str | None = None  # engine: a Hugging Face-format checkpoint directory
    temperature: float | None = None
    # openai provider: the body field for max_tokens (see kimi_code/llm/openai.py).
    max_tokens_param: str = "auto"


# Works out of the box with only MOONSHOT_API_KEY (or KIMI_API_KEY) exported.
BUILTIN_MODELS = {
    "kimi": ModelConfig(name="kimi", provider="openai", base_url=DEFAULT_BASE_URLS["openai"],
                        model="kimi-k2.6"),
}


@dataclass(frozen=True)
class PermissionsConfig:
    mode: str = "ask"
    allow: tuple[str, ...] = ()
    ask: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


@dataclass(frozen=True)
class SwarmConfig:
    max_concurrency: int = 64
    max_agents: int = 300
    max_total_steps: int = 4000


@dataclass(frozen=True)
class UIConfig:
    theme: str = "kimi-dark"


@dataclass(frozen=True)
class CheckpointsConfig:
    """Retention of the shadow checkpoint stores (kimi_code/git/checkpoints/gc.py)."""

    keep_days: int = 30
    keep_sessions: int = 20
    max_size_mb: int = 1024  # per workspace; 0 = no cap
    auto_gc: bool = True


@dataclass(frozen=True)
class SandboxConfig:
    """[sandbox]: what bubblewrap hides beyond the defaults (credential stores, sockets; see
    kimi_code/safety/sandbox_hide.py), which defaults to leave visible, and the per-process
    memory limit in MiB (0 = half the machine's memory). Read from the user's file only."""

    hide: tuple[str, ...] = ()
    unhide: tuple[str, ...] = ()
    memory_mb: int = 0
    allow_domains: tuple[str, ...] = ()  # without network: hosts reachable through a proxy


@dataclass(frozen=True)
class Config:
    default_model: str = "kimi"
    models: dict[str, ModelConfig] = field(default_factory=lambda: dict(BUILTIN_MODELS))
    permissions: PermissionsConfig = field(default_factory=PermissionsConfig)
    swarm: SwarmConfig = field(default_factory=SwarmConfig)
    ui: UIConfig = field(default_factory=UIConfig)
    checkpoints: CheckpointsConfig = field(default_factory=CheckpointsConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    source: Path | None = None  # the file it was read from, if any

    def model_config(self, name: str | None = None) -> ModelConfig:
        """The selected model, or a ConfigError telling how to configure one."""
        key = name or self.default_model
        if key in self.models:
            return self.models[key]
        known = ", ".join(sorted(self.models)) or "none"
        raise ConfigError(
            f"No model named '{key}' is configured (known: {known}). Add a [models.{key}] table "
            f"to {paths.config_file()} or set KIMI_BASE_URL / KIMI_MODEL_NAME / KIMI_API_KEY."
        )


# ---- loading ---------------------------------------------------------------------------------


def _line_of(text: str, table: str, key: str | None) -> int | None:
    """Best-effort line number of `key` inside `[table]` (for error messages)."""
    header = re.compile(r"^\s*\[\s*" + re.escape(table).replace(r"\.", r"\s*\.\s*") + r"\s*\]")
    in_table = table == ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            in_table = bool(header.match(line))
            if in_table and key is None:
                return number
            continue
        if in_table and key and re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return number
    return None


class _Reader:
    """Typed access to a parsed TOML document that reports errors with file and line."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text = path, text

    def fail(self, table: str, key: str | None, problem: str) -> ConfigError:
        line = _line_of(self.text, table, key)
        where = f"{self.path}:{line}" if line else str(self.path)
        name = f"{table}.{key}" if table and key else (key or table)
        return ConfigError(f"{where}: {name}: {problem}")

    def get(self, data: dict[str, Any], table: str, key: str, kind: type | tuple[type, ...],
            default: Any) -> Any:
        if key not in data:
            return default
        value = data[key]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(table, key, f"expected {expected}, got {type(value).__name__} {value!r}")
        return value

    def strings(self, data: dict[str, Any], table: str, key: str) -> tuple[str, ...]:
        value = self.get(data, table, key, list, [])
        if not all(isinstance(v, str) for v in value):
            raise self.fail(table, key, "expected a list of strings")
        return tuple(value)

    def choice(self, data: dict[str, Any], table: str, key: str, choices: tuple[str, ...],
               default: str) -> str:
        value = self.get(data, table, key, str, default)
        if value not in choices:
            raise self.fail(table, key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value


def _parse_model(r: _Reader, name: str, data: Any) -> ModelConfig:
    table = f"models.{name}"
    if not isinstance(data, dict):
        raise r.fail(table, None, "must be a table")
    unknown = set(data) - {f for f in ModelConfig.__dataclass_fields__ if f not in ("name", "api_key")}
    if unknown:
        raise r.fail(table, sorted(unknown)[0], "unknown key")
    provider = r.choice(data, table, "provider", PROVIDERS, "openai")
    window = r.get(data, table, "context_window", int, 262144)
    if window < 1024:
        raise r.fail(table, "context_window", f"must be at least 1024, got {window}")
    return ModelConfig(
        name=name,
        provider=provider,
        base_url=r.get(data, table, "base_url", str, None),
        model=r.get(data, table, "model", str, ""),
        api_key_env=r.get(data, table, "api_key_env", str, "MOONSHOT_API_KEY"),
        context_window=window,
        max_tokens=r.get(data, table, "max_tokens", int, None),
        path=r.get(data, table, "path", str, None),
        temperature=r.get(data, table, "temperature", (int, float), None),
        max_tokens_param=r.choice(data, table, "max_tokens_param", MAX_TOKENS_PARAMS, "auto"),
    )


def _parse_checkpoints(r: _Reader, data: dict[str, Any]) -> CheckpointsConfig:
    unknown = set(data) - set(CheckpointsConfig.__dataclass_fields__)
    if unknown:
        raise r.fail("checkpoints", sorted(unknown)[0], "unknown key (known: "
                     f"{', '.join(CheckpointsConfig.__dataclass_fields__)})")
    values = {}
    for key, low in (("keep_days", 0), ("keep_sessions", 1), ("max_size_mb", 0)):
        values[key] = r.get(data, "checkpoints", key, int, getattr(CheckpointsConfig, key))
        if values[key] < low:
            raise r.fail("checkpoints", key, f"must be at least {low}, got {values[key]}")
    return CheckpointsConfig(auto_gc=r.get(data, "checkpoints", "auto_gc", bool, True), **values)


def _parse_sandbox(r: _Reader, data: dict[str, Any]) -> SandboxConfig:
    unknown = set(data) - set(SandboxConfig.__dataclass_fields__)
    if unknown:
        raise r.fail("sandbox", sorted(unknown)[0], "unknown key (known: "
                     f"{', '.join(SandboxConfig.__dataclass_fields__)})")
    memory = r.get(data, "sandbox", "memory_mb", int, 0)
    if memory < 0:
        raise r.fail("sandbox", "memory_mb", f"must be 0 (automatic) or more, got {memory}")
    return SandboxConfig(hide=r.strings(data, "sandbox", "hide"),
                         unhide=r.strings(data, "sandbox", "unhide"), memory_mb=memory,
                         allow_domains=r.strings(data, "sandbox", "allow_domains"))


def parse_config(text: str, path: Path) -> Config:
    """Parse config TOML text. Raises ConfigError with file:line on any problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    r = _Reader(path, text)
    known = {"default_model", "models", "permissions", "swarm", "ui", "checkpoints", "sandbox"}
    for key in doc:
        if key not in known:
            raise r.fail("", key, f"unknown setting (known: {', '.join(sorted(known))})")
    models_doc = r.get(doc, "", "models", dict, {})
    models = dict(BUILTIN_MODELS)
    models.update({name: _parse_model(r, name, data) for name, data in models_doc.items()})
    perm = r.get(doc, "", "permissions", dict, {})
    swarm = r.get(doc, "", "swarm", dict, {})
    ui = r.get(doc, "", "ui", dict, {})
    checkpoints = _parse_checkpoints(r, r.get(doc, "", "checkpoints", dict, {}))
    return Config(
        default_model=r.get(doc, "", "default_model", str, "kimi"),
        models=models,
        permissions=PermissionsConfig(
            mode=r.choice(perm, "permissions", "mode", PERMISSION_MODES, "ask"),
            allow=r.strings(perm, "permissions", "allow"),
            ask=r.strings(perm, "permissions", "ask"),
            deny=r.strings(perm, "permissions", "deny"),
        ),
        swarm=SwarmConfig(
            max_concurrency=r.get(swarm, "swarm", "max_concurrency", int, 64),
            max_agents=r.get(swarm, "swarm", "max_agents", int, 300),
            max_total_steps=r.get(swarm, "swarm", "max_total_steps", int, 4000),
        ),
        ui=UIConfig(theme=r.get(ui, "ui", "theme", str, "kimi-dark")),
        checkpoints=checkpoints,
        sandbox=_parse_sandbox(r, r.get(doc, "", "sandbox", dict, {})),
        source=path,
    )


def load_config(path: Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Read the config file (if present) and apply environment overrides."""
    path = path or paths.config_file()
    env = dict(os.environ) if env is None else env
    if path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read config file: {exc}") from None
        config = parse_config(text, path)
    else:
        config = Config()
    return apply_env(config, env)


def apply_env(config: Config, env: dict[str, str]) -> Config:
    """KIMI_* variables override the default model's settings (and create it if missing)."""
    name = config.default_model
    base = config.models.get(name, ModelConfig(name=name))
    changes: dict[str, Any] = {}
    if env.get("KIMI_PROVIDER"):
        if env["KIMI_PROVIDER"] not in PROVIDERS:
            raise ConfigError(
                f"KIMI_PROVIDER={env['KIMI_PROVIDER']!r} is not one of {', '.join(PROVIDERS)}"
            )
        changes["provider"] = env["KIMI_PROVIDER"]
    if env.get("KIMI_BASE_URL"):
        changes["base_url"] = env["KIMI_BASE_URL"]
    if env.get("KIMI_MODEL_NAME"):
        changes["model"] = env["KIMI_MODEL_NAME"]
    if env.get("KIMI_MODEL_PATH"):
        changes["path"] = env["KIMI_MODEL_PATH"]
    model = replace(base, **changes)
    key = env.get("KIMI_API_KEY") or env.get(model.api_key_env) or None
    model = replace(model, api_key=key)
    models = {n: replace(m, api_key=env.get("KIMI_API_KEY") or env.get(m.api_key_env) or None)
              for n, m in config.models.items()}
    if changes or name in models or key:
        models[name] = model
    return replace(config, models=models)


def with_overrides(config: Config, *, model: str | None = None, provider: str | None = None,
                   base_url: str | None = None) -> tuple[Config, ModelConfig]:
    """Apply CLI flags. `--model` names a configured model or, failing that, sets the model id
    of the default one. Returns the config and the resolved, validated model."""
    if model and model in config.models:
        selected = config.models[model]
    else:
        selected = config.models.get(config.default_model, ModelConfig(name=config.default_model))
        if model:
            selected = replace(selected, model=model)
    if provider:
        if provider not in PROVIDERS:
            raise ConfigError(f"--provider {provider!r} is not one of {', '.join(PROVIDERS)}")
        selected = replace(selected, provider=provider)
    if base_url:
        selected = replace(selected, base_url=base_url)
    validate_model(selected)
    return config, selected


def validate_model(model: ModelConfig) -> None:
    """Raise a ConfigError saying exactly how to fix an unusable model setting."""
    where = paths.config_file()
    if model.provider == "engine":
        if not model.path:
            raise ConfigError(
                f"Model '{model.name}' uses the embedded engine but has no checkpoint path. Set "
                f"`path` under [models.{model.name}] in {where} or KIMI_MODEL_PATH."
            )
        return
    if not model.model:
        raise ConfigError(
            f"No model id is set for '{model.name}'. Set `model` under [models.{model.name}] in "
            f"{where}, or export KIMI_MODEL_NAME (e.g. kimi-k2.6), or pass --model."
        )
    if not model.api_key and not _is_local(model.base_url):
        raise ConfigError(
            f"No API key for model '{model.name}'. Export KIMI_API_KEY (or {model.api_key_env}), "
            f"or set api_key_env under [models.{model.name}] in {where}."
        )


def _is_local(url: str | None) -> bool:
    return bool(url) and bool(re.match(r"^https?://(127\.|localhost|\[::1\])", url or ""))
