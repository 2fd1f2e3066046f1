"""Themes as data: `themes/*.toml` (bundled) and `<config dir>/themes/*.toml` (the user's).

A theme file has a `name`, `dark`, a `[colors]` table whose keys are Textual's Theme fields,
a `[diff]` table (added, added_bg, removed, removed_bg, hunk, header) and a `[syntax]` table
(keyword, string, comment, number, function, class, builtin, operator, decorator, variable).
A file that does not parse or has a bad value is reported (path and reason) and skipped; the
app then falls back to the default theme instead of failing.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pygments.token import Token
from textual.highlight import HighlightTheme
from textual.theme import Theme

from kimi_code import paths
from kimi_code.ui.render import FALLBACK_DIFF

DEFAULT_THEME = "kimi-dark"
BUNDLED_DIR = Path(__file__).resolve().parents[2] / "themes"
COLOR_FIELDS = ("primary", "secondary", "accent", "foreground", "background", "surface", "panel",
                "boost", "success", "warning", "error")
DIFF_KEYS = ("added", "added_bg", "removed", "removed_bg", "hunk", "header")
SYNTAX_TOKENS = {
    "keyword": (Token.Keyword, Token.Keyword.Namespace, Token.Operator.Word),
    "string": (Token.String, Token.Literal.String, Token.Literal.String.Double,
               Token.Literal.String.Backtick),
    "comment": (Token.Comment,),
    "number": (Token.Number, Token.Literal.Number, Token.Keyword.Constant),
    "function": (Token.Name.Function, Token.Name.Function.Magic),
    "class": (Token.Name.Class, Token.Keyword.Type),
    "builtin": (Token.Name.Builtin,),
    "operator": (Token.Operator,),
    "decorator": (Token.Name.Decorator, Token.Name.Attribute),
    "variable": (Token.Name.Variable, Token.Name),
}
_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_STYLE_WORDS = {"bold", "italic", "underline", "dim", "strike", "reverse", "not"}


class ThemeError(ValueError):
    """A theme file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class KimiTheme:
    """A loaded theme: the Textual theme plus our diff and syntax colours."""

    theme: Theme
    diff: dict[str, str] = field(default_factory=lambda: dict(FALLBACK_DIFF))
    syntax: dict[str, str] = field(default_factory=dict)
    source: Path | None = None

    @property
    def name(self) -> str:
        return self.theme.name


def _check_color(path: Path, table: str, key: str, value: object) -> str:
    if not isinstance(value, str) or not _COLOR.match(value):
        raise ThemeError(f"{path}: [{table}] {key} = {value!r} is not a colour like \"#1a2b3c\"")
    return value


def _check_style(path: Path, key: str, value: object) -> str:
    """A syntax style: a colour optionally followed by words such as bold or italic."""
    if not isinstance(value, str) or not value.split():
        raise ThemeError(f"{path}: [syntax] {key} must be a string like \"#ff9e64 bold\"")
    for word in value.split():
        if not (_COLOR.match(word) or word in _STYLE_WORDS):
            raise ThemeError(f"{path}: [syntax] {key}: {word!r} is neither a colour like "
                             f"\"#1a2b3c\" nor one of {', '.join(sorted(_STYLE_WORDS))}")
    return value


def parse_theme(text: str, path: Path) -> KimiTheme:
    """Parse one theme file. Raises ThemeError naming the file and what is wrong."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"{path}: invalid TOML: {exc}") from None
    name = doc.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ThemeError(f"{path}: name must be letters, digits, '-', '_' or '.', got {name!r}")
    colors = doc.get("colors")
    if not isinstance(colors, dict) or "primary" not in colors:
        raise ThemeError(f"{path}: needs a [colors] table with at least `primary`")
    unknown = sorted(set(colors) - set(COLOR_FIELDS))
    if unknown:
        raise ThemeError(f"{path}: [colors] {unknown[0]} is not a theme field "
                         f"(known: {', '.join(COLOR_FIELDS)})")
    checked = {k: _check_color(path, "colors", k, v) for k, v in colors.items()}
    dark = doc.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeError(f"{path}: dark must be true or false, got {dark!r}")
    diff = dict(FALLBACK_DIFF)
    for key, value in (doc.get("diff") or {}).items():
        if key not in DIFF_KEYS:
            raise ThemeError(f"{path}: [diff] {key} is unknown (known: {', '.join(DIFF_KEYS)})")
        diff[key] = _check_color(path, "diff", key, value)
    syntax = {}
    for key, value in (doc.get("syntax") or {}).items():
        if key not in SYNTAX_TOKENS:
            raise ThemeError(f"{path}: [syntax] {key} is unknown "
                             f"(known: {', '.join(SYNTAX_TOKENS)})")
        syntax[key] = _check_style(path, key, value)
    colours: dict[str, Any] = dict(checked)  # the colour fields of Theme, all checked above
    return KimiTheme(Theme(name=name, dark=dark, **colours), diff, syntax, path)


def theme_dirs() -> list[Path]:
    """Where themes are looked for; later directories override earlier ones by name."""
    return [BUNDLED_DIR, paths.config_dir() / "themes"]


def load_themes(dirs: list[Path] | None = None) -> tuple[dict[str, KimiTheme], list[str]]:
    """All loadable themes by name, and one message per file that could not be used."""
    themes: dict[str, KimiTheme] = {}
    problems: list[str] = []
    for directory in dirs if dirs is not None else theme_dirs():
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = parse_theme(path.read_text(encoding="utf-8"), path)
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(f"{path}: cannot read theme: {exc}")
                continue
            except ThemeError as exc:
                problems.append(f"{exc} — theme skipped")
                continue
            themes[theme.name] = theme
    return themes, problems


# ---- the active syntax palette (read by the Markdown code fence) --------------------------------

_active_syntax: dict[str, str] = {}


def set_active_syntax(syntax: dict[str, str]) -> None:
    """Select the syntax colours code blocks use from now on."""
    _active_syntax.clear()
    _active_syntax.update(syntax)


def highlight_theme() -> type[HighlightTheme]:
    """Textual's default highlight theme with our theme's syntax colours laid over it."""
    if not _active_syntax:
        return HighlightTheme
    styles = dict(HighlightTheme.STYLES)
    for key, style in _active_syntax.items():
        for token in SYNTAX_TOKENS[key]:
            styles[token] = style
    return type("KimiHighlightTheme", (HighlightTheme,), {"STYLES": styles})
