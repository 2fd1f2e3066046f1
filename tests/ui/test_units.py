"""The UI's pure helpers: control characters, diffs, config edits, themes, mentions, history,
prices."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from kimi_code.config import ConfigError, parse_config
from kimi_code.llm.base import Usage
from kimi_code.ui import config_edit
from kimi_code.ui.history import InputHistory
from kimi_code.ui.mentions import fuzzy, list_files, mention_at
from kimi_code.ui.prices import estimate_cost, load_prices
from kimi_code.ui.render import key_argument, proposed_diff, visible
from kimi_code.ui.themes import (
    ThemeError,
    highlight_theme,
    load_themes,
    parse_theme,
    set_active_syntax,
)


def test_visible_spells_out_control_and_invisible_characters() -> None:
    assert visible("ls\rrm -rf /\x1b[2K") == "ls\\rrm -rf /\\e[2K"
    assert visible("a\tb\x07\u202ec\u200b") == "a\\tb\\x07\\u202ec\\u200b"
    assert visible("two\nlines") == "two\nlines"
    assert visible("two\nlines", keep_newlines=False) == "two\\x0alines"


def test_key_argument_names_what_the_call_touches() -> None:
    assert key_argument("Bash", {"command": "pytest -x\nrm x"}) == "pytest -x\\x0arm x"
    assert key_argument("Edit", {"file_path": "a.py", "old_string": "x"}) == "a.py"
    assert key_argument("Unknown", {"n": 3, "q": "hello"}) == "hello"
    assert key_argument("Grep", {"pattern": "x" * 200}, width=10) == "x" * 9 + "…"


def test_proposed_diff_for_edit_and_write(tmp_path: Path) -> None:
    (tmp_path / "f.py").write_text("a = 1\nb = 2\n")
    diff = proposed_diff("Edit", {"file_path": "f.py", "old_string": "b = 2", "new_string": "b = 3"},
                         tmp_path)
    assert "-b = 2" in diff and "+b = 3" in diff and " a = 1" in diff
    created = proposed_diff("Write", {"file_path": str(tmp_path / "new.txt"), "content": "x\n"},
                            tmp_path)
    assert "+x" in created and "@@ -0,0 +1 @@" in created
    assert proposed_diff("Bash", {"command": "ls"}, tmp_path) == ""


def test_config_edit_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('# mine\ndefault_model = "kimi"\n\n[permissions]\nmode = "ask"\nallow = [\n'
                    '  "Bash(git status*)",\n]\n\n[ui]\ntheme = "kimi-dark"  # keep\n')
    config_edit.add_allow_rule(path, "Bash(pytest *)")
    config_edit.add_allow_rule(path, "Bash(pytest *)")  # no duplicate
    config_edit.save_theme(path, "kimi-light")
    text = path.read_text()
    assert text.startswith("# mine\n")
    doc = tomllib.loads(text)
    assert doc["permissions"] == {"mode": "ask", "allow": ["Bash(git status*)", "Bash(pytest *)"]}
    assert doc["ui"]["theme"] == "kimi-light"
    parse_config(text, path)


def test_config_edit_creates_tables_and_refuses_to_break_a_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.toml"
    config_edit.save_model(path, "custom", {"provider": "openai", "base_url": "http://h/v1",
                                            "model": "m", "api_key_env": "MY_KEY"})
    config = parse_config(path.read_text(), path)
    assert config.default_model == "custom" and config.models["custom"].base_url == "http://h/v1"
    broken = tmp_path / "broken.toml"
    broken.write_text("[permissions]\nmode = 3\n")
    with pytest.raises(ConfigError, match="not saved"):
        config_edit.save_theme(broken, "x")
    assert broken.read_text() == "[permissions]\nmode = 3\n"


def test_theme_files_are_validated(tmp_path: Path) -> None:
    good = parse_theme('name = "t"\n[colors]\nprimary = "#123456"\n[syntax]\nkeyword = "#ff0000 bold"\n',
                       tmp_path / "t.toml")
    assert good.theme.primary == "#123456" and good.syntax == {"keyword": "#ff0000 bold"}
    cases = {
        "[colors]\nprimary = 'blue'": "is not a colour",
        "[colors]\nprimary = '#123456'\nsparkle = '#000000'": "sparkle is not a theme field",
        "[colors]\nprimary = '#123456'\n[syntax]\nkeyword = 'loud'": "'loud' is neither",
        "[colors]\nprimary = '#123456'\n[diff]\ninserted = '#000000'": "[diff] inserted is unknown",
        "[colors": "invalid TOML",
        "name = 'x'": "needs a [colors] table",
    }
    for text, message in cases.items():
        with pytest.raises(ThemeError, match=message.replace("[", r"\[")):
            parse_theme(text, tmp_path / "bad.toml")


def test_bundled_themes_load_and_user_themes_override(tmp_path: Path) -> None:
    themes, problems = load_themes()
    assert {"kimi-dark", "kimi-light", "kimi-high-contrast"} <= set(themes) and problems == []
    user = tmp_path / "themes"
    user.mkdir()
    (user / "kimi-dark.toml").write_text('name = "kimi-dark"\n[colors]\nprimary = "#000001"\n')
    (user / "oops.toml").write_text("nonsense = [")
    from kimi_code.ui.themes import BUNDLED_DIR

    merged, problems = load_themes([BUNDLED_DIR, user])
    assert merged["kimi-dark"].theme.primary == "#000001"
    assert len(problems) == 1 and "oops.toml" in problems[0] and "skipped" in problems[0]


def test_syntax_colours_reach_the_highlighter() -> None:
    from pygments.token import Token

    set_active_syntax({"keyword": "#abcdef bold"})
    try:
        assert highlight_theme().STYLES[Token.Keyword] == "#abcdef bold"
    finally:
        set_active_syntax({})


def test_mentions(tmp_path: Path) -> None:
    assert mention_at("look at @src/ma") == "src/ma"
    assert mention_at("mail me@host") is None
    assert mention_at("@") == ""
    files = ["docs/main.md", "src/main.py", "src/maintenance/util.py", "tests/test_main.py"]
    assert fuzzy("main.py", files)[0] == "src/main.py"
    assert fuzzy("tmain", files)[0] == "tests/test_main.py"
    assert fuzzy("zzz", files) == []
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.py").write_text("")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "y.js").write_text("")
    assert list_files(tmp_path) == ["a/x.py"]  # not a git repo: a bounded walk


def test_history_persists_and_navigates(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    history = InputHistory(path)
    for text in ("one", "two\nlines", "two\nlines"):
        history.add(text)
    again = InputHistory(path)
    assert again.entries == ["one", "two\nlines"]
    assert again.previous("draft") == "two\nlines"
    assert again.previous("") == "one"
    assert again.previous("") is None
    assert again.next() == "two\nlines"
    assert again.next() == "draft"


def test_prices(tmp_path: Path) -> None:
    prices = load_prices([tmp_path / "missing.toml"])
    assert estimate_cost("kimi-k2-0905-preview", Usage(1000, 1000), prices) is None
    (tmp_path / "p.toml").write_text('[models."my-model"]\ninput = 1.0\noutput = 2.0\n')
    prices = load_prices([tmp_path / "p.toml"])
    assert estimate_cost("my-model-v2", Usage(1_000_000, 500_000), prices) == pytest.approx(2.0)
