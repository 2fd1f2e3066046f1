"""`kimi-code config show|path`."""

from __future__ import annotations

import sys
from dataclasses import asdict

from kimi_code import paths
from kimi_code.config import ConfigError, load_config


def _mask(value: str | None) -> str:
    if not value:
        return "(not set)"
    return f"set ({value[:3]}…{len(value)} chars)" if len(value) > 8 else "set"


def config_show_main() -> int:
    try:
        config = load_config()
    except ConfigError as exc:
        sys.stderr.write(f"kimi-code: {exc}\n")
        return 2
    from rich.console import Console
    from rich.table import Table

    from kimi_code.llm.scrub import strip_userinfo

    console = Console()
    console.print(f"[bold]config file[/]: {config.source or paths.config_file()} "
                  f"{'' if config.source else '(not present: built-in defaults)'}")
    console.print(f"[bold]default_model[/]: {config.default_model}")
    table = Table("name", "provider", "model", "base_url / path", "api key", "context")
    for name, model in sorted(config.models.items()):
        table.add_row(name + (" *" if name == config.default_model else ""), model.provider,
                      model.model, strip_userinfo(model.base_url or model.path or ""),
                      _mask(model.api_key),
                      str(model.context_window))
    console.print(table)
    for section in ("permissions", "swarm", "checkpoints", "ui"):
        console.print(f"[bold]{section}[/]: {asdict(getattr(config, section))}")
    return 0


def config_path_main() -> int:
    print(f"config file: {paths.config_file()}")
    print(f"data dir:    {paths.data_dir()}")
    print(f"cache dir:   {paths.cache_dir()}")
    print(f"sessions:    {paths.sessions_db()}")
    return 0
