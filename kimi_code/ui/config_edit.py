"""Small, careful edits of a config.toml from the UI: the chosen theme, "allow always" rules
saved to user or project scope, and the first-run model. The rest of the file (comments, order,
other tables) is kept byte for byte; the result is re-parsed before it replaces the file, so a
bad edit can never leave a broken config behind."""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from pathlib import Path

from kimi_code.config import ConfigError, parse_config


def _quote(value: str) -> str:
    """A TOML basic string (JSON escaping is valid TOML for these characters)."""
    return json.dumps(value, ensure_ascii=False)


def _table_span(lines: list[str], table: str) -> tuple[int, int] | None:
    """(header index, end index) of `[table]` in `lines`, or None."""
    header = re.compile(r"^\s*\[\s*" + re.escape(table).replace(r"\.", r"\s*\.\s*") + r"\s*\]\s*(#.*)?$")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        return None
    any_header = re.compile(r"^\s*\[\[?\s*[A-Za-z0-9_.\"' -]+\]\]?\s*(#.*)?$")
    end = next((j for j in range(start + 1, len(lines)) if any_header.match(lines[j])), len(lines))
    return start, end


def set_key(text: str, table: str, key: str, value_toml: str) -> str:
    """Set `key = value` inside `[table]`, creating the table when missing."""
    lines = text.splitlines()
    span = _table_span(lines, table)
    assignment = f"{key} = {value_toml}"
    if span is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines += [f"[{table}]", assignment]
    else:
        start, end = span
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        found = next((i for i in range(start + 1, end) if pattern.match(lines[i])), None)
        if found is None:
            lines.insert(start + 1, assignment)
        else:
            # A multi-line array value continues until its brackets balance.
            stop = found + 1
            depth = lines[found].count("[") - lines[found].count("]")
            while depth > 0 and stop < end:
                depth += lines[stop].count("[") - lines[stop].count("]")
                stop += 1
            lines[found:stop] = [assignment]
    return "\n".join(lines) + "\n"


def _write_checked(path: Path, text: str) -> None:
    """Validate, then replace `path` atomically (private permissions, like the rest)."""
    try:
        parse_config(text, path)
    except ConfigError as exc:
        raise ConfigError(f"not saved: the edit would make {path} invalid ({exc})") from None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None


def save_theme(path: Path, theme: str) -> None:
    """Persist `[ui] theme = "<theme>"`."""
    _write_checked(path, set_key(_read(path), "ui", "theme", _quote(theme)))


def add_allow_rule(path: Path, rule: str) -> None:
    """Append `rule` to `[permissions] allow` (no duplicate)."""
    text = _read(path)
    try:
        current = tomllib.loads(text).get("permissions", {}).get("allow", []) if text else []
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML, rule not saved: {exc}") from None
    if rule in current:
        return
    value = "[" + ", ".join(_quote(r) for r in [*current, rule]) + "]"
    _write_checked(path, set_key(text, "permissions", "allow", value))


def save_model(path: Path, name: str, values: dict[str, str]) -> None:
    """Write `[models.<name>]` with `values` and make it the default model."""
    text = _read(path)
    for key, value in values.items():
        text = set_key(text, f"models.{name}", key, _quote(value))
    lines = text.splitlines()
    top = re.compile(r"^\s*default_model\s*=")
    index = next((i for i, line in enumerate(lines) if top.match(line)), None)
    first_table = next((i for i, line in enumerate(lines) if line.lstrip().startswith("[")), len(lines))
    entry = f"default_model = {_quote(name)}"
    if index is not None and index < first_table:
        lines[index] = entry
    else:
        lines.insert(0, entry)
    _write_checked(path, "\n".join(lines) + "\n")
