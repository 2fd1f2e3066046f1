"""First run: the onboarding screen writes a config that the real loader accepts."""

from __future__ import annotations

import os
from pathlib import Path

from textual.widgets import Input, RadioButton, Static

from kimi_code.config import load_config, with_overrides
from kimi_code.ui.screens.onboarding import OnboardingApp


async def test_onboarding_writes_an_openai_compatible_model(home: Path, monkeypatch) -> None:
    monkeypatch.delenv("KIMI_API_KEY", raising=False)
    monkeypatch.delenv("KIMI_MODEL_NAME", raising=False)
    monkeypatch.delenv("ONBOARD_TEST_KEY", raising=False)
    app = OnboardingApp("No API key for model 'kimi'.")
    async with app.run_test(size=(100, 40)) as pilot:
        buttons = {b.name: b for b in app.query(RadioButton)}
        buttons["openai"].value = True
        await pilot.pause()
        assert app.query_one("#base_url", Input).value == "http://127.0.0.1:8000/v1"
        app.query_one("#model", Input).value = "my-served-model"
        app.query_one("#api_key_env", Input).value = "ONBOARD_TEST_KEY"
        app.query_one("#api_key", Input).value = "sk-secret"
        await pilot.click("#save")
        await pilot.pause()
    assert app.return_value is True
    text = (home / "config.toml").read_text()
    assert "sk-secret" not in text  # keys never hit the disk
    assert os.environ.pop("ONBOARD_TEST_KEY") == "sk-secret"
    monkeypatch.setenv("ONBOARD_TEST_KEY", "sk-secret")
    _, model = with_overrides(load_config())
    assert (model.name, model.provider, model.model) == ("custom", "openai", "my-served-model")
    assert model.base_url == "http://127.0.0.1:8000/v1" and model.api_key == "sk-secret"


async def test_onboarding_rejects_a_bad_engine_path(home: Path, tmp_path: Path) -> None:
    app = OnboardingApp("no model")
    async with app.run_test(size=(100, 40)) as pilot:
        {b.name: b for b in app.query(RadioButton)}["engine"].value = True
        await pilot.pause()
        app.query_one("#path", Input).value = str(tmp_path)
        await pilot.click("#save")
        await pilot.pause()
        assert "not a model directory" in str(app.query_one("#error", Static).render())
        await pilot.press("escape")
    assert app.return_value is False
    assert not (home / "config.toml").exists()
