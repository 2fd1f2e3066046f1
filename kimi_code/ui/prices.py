"""Cost estimates from token usage, when the model's price is known (data in prices.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from kimi_code import paths
from kimi_code.llm.base import Usage

BUNDLED = Path(__file__).with_name("prices.toml")


def load_prices(files: list[Path] | None = None) -> dict[str, dict[str, float]]:
    """model id prefix -> {input, output, cache_read, cache_write} in USD per million tokens.
    Unreadable files are ignored (a cost estimate is never worth an error)."""
    prices: dict[str, dict[str, float]] = {}
    for path in files if files is not None else [BUNDLED, paths.config_dir() / "prices.toml"]:
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        for model, table in (doc.get("models") or {}).items():
            if isinstance(table, dict):
                prices[model] = {k: float(v) for k, v in table.items()
                                 if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return prices


def estimate_cost(model: str, usage: Usage, prices: dict[str, dict[str, float]]) -> float | None:
    """USD for `usage` on `model`, or None when its price is unknown."""
    matches = [key for key in prices if model.startswith(key)]
    if not matches:
        return None
    price = prices[max(matches, key=len)]
    per = 1_000_000
    return (usage.input_tokens * price.get("input", 0.0)
            + usage.output_tokens * price.get("output", 0.0)
            + usage.cache_read_tokens * price.get("cache_read", price.get("input", 0.0))
            + usage.cache_write_tokens * price.get("cache_write", price.get("input", 0.0))) / per
