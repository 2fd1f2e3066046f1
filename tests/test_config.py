"""Config loading: file, environment and flags, and errors that say where and how to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimi_code.config import ConfigError, load_config, parse_config, with_overrides


def test_defaults_work_with_only_an_api_key(tmp_path: Path) -> None:
    config = load_config(tmp_path / "missing.toml", {"MOONSHOT_API_KEY": "sk-x"})
    _, model = with_overrides(config)
    assert (model.provider, model.model, model.api_key) == ("openai", "kimi-k2.6", "sk-x")
    assert model.base_url == "https://api.moonshot.ai/v1"


def test_env_overrides_file_and_flags_override_env(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[models.kimi]\nprovider = "openai"\nmodel = "from-file"\n'
                    'base_url = "http://file/v1"\n[permissions]\nallow = ["Bash(ls*)"]\n')
    env = {"KIMI_MODEL_NAME": "from-env", "KIMI_API_KEY": "k", "KIMI_PROVIDER": "anthropic"}
    config = load_config(path, env)
    assert config.model_config().model == "from-env"
    assert config.model_config().base_url == "http://file/v1"
    assert config.permissions.allow == ("Bash(ls*)",)
    _, model = with_overrides(config, model="from-flag", provider="openai", base_url="http://flag/v1")
    assert (model.model, model.provider, model.base_url) == ("from-flag", "openai", "http://flag/v1")


def test_named_model_flag_selects_a_configured_model(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[models.local]\nprovider = "engine"\npath = "/models/k2"\n')
    _, model = with_overrides(load_config(path, {}), model="local")
    assert model.provider == "engine" and model.path == "/models/k2"


@pytest.mark.parametrize(("text", "fragment"), [
    ('[models.kimi]\nprovider = "gpt"\n', ":2: models.kimi.provider: must be one of"),
    ('[models.kimi]\ncontext_window = "big"\n', ":2: models.kimi.context_window: expected int"),
    ('[models.kimi]\ncontext_window = 10\n', "at least 1024"),
    ('[models.kimi]\nmodle = "x"\n', ":2: models.kimi.modle: unknown key"),
    ('[permissions]\nmode = "god"\n', ":2: permissions.mode: must be one of"),
    ('[permissions]\nallow = [1]\n', "list of strings"),
    ('thme = "x"\n', ":1: thme: unknown setting"),
    ('[ui\n', "invalid TOML"),
])
def test_broken_config_names_file_line_and_problem(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_missing_key_and_model_messages_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KIMI_API_KEY"):
        with_overrides(load_config(tmp_path / "none.toml", {}))
    config = parse_config('[models.kimi]\nmodel = ""\n', tmp_path / "c.toml")
    with pytest.raises(ConfigError, match="KIMI_MODEL_NAME"):
        with_overrides(config)
    engine = parse_config('[models.kimi]\nprovider = "engine"\n', tmp_path / "c.toml")
    with pytest.raises(ConfigError, match="KIMI_MODEL_PATH"):
        with_overrides(engine)
    # A local endpoint needs no key.
    _, model = with_overrides(load_config(tmp_path / "none.toml", {"KIMI_BASE_URL": "http://127.0.0.1:8000/v1"}))
    assert model.api_key is None


def test_bad_provider_env_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KIMI_PROVIDER"):
        load_config(tmp_path / "none.toml", {"KIMI_PROVIDER": "bogus"})
