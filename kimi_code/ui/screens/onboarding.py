"""First run: no usable model is configured. Explain the choices, write config.toml, continue.

API keys are never written to disk: the config names the environment variable that holds the
key; a key typed here is used for this run only (export it in your shell profile for later)."""

from __future__ import annotations

import os
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from kimi_code import paths
from kimi_code.config import DEFAULT_BASE_URLS, ConfigError

CHOICES = {
    "moonshot": ("Moonshot API (Kimi K2.x, hosted)", "kimi", "openai"),
    "openai": ("Any OpenAI-compatible endpoint (vLLM, SGLang, other hosts)", "custom", "openai"),
    "anthropic": ("Any Anthropic-compatible endpoint", "custom", "anthropic"),
    "engine": ("A local model on this machine (embedded engine, needs GPUs)", "local", "engine"),
}
INTRO = ("Welcome to kimi-code. No model is configured yet, so pick how to reach one. This "
         "writes {config}; edit it any time (see `kimi-code config`).")


class OnboardingApp(App[bool]):
    CSS = """
    Screen { align: center middle; }
    #form { width: 90%; max-width: 100; height: auto; max-height: 95%;
            border: thick $primary; padding: 1 2; }
    #form Label { margin-top: 1; }
    #why { color: $warning; }
    #error { color: $error; height: auto; }
    #buttons { height: auto; margin-top: 1; }
    .hidden { display: none; }
    """
    BINDINGS = [Binding("escape", "give_up", "Quit")]

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="form"):
            yield Static(INTRO.format(config=paths.config_file()))
            yield Static(self.reason, id="why")
            with RadioSet(id="kind"):
                for key, (label, _, _) in CHOICES.items():
                    yield RadioButton(label, value=key == "moonshot", name=key)
            yield Label("Base URL", classes="api")
            yield Input(DEFAULT_BASE_URLS["openai"], id="base_url", classes="api")
            yield Label("Model id (e.g. kimi-k2.6)", classes="api")
            yield Input("kimi-k2.6", id="model", classes="api")
            yield Label("Environment variable holding the API key", classes="api")
            yield Input("MOONSHOT_API_KEY", id="api_key_env", classes="api")
            yield Label("API key for this run (optional; not saved — export the variable "
                        "above in your shell profile)", classes="api")
            yield Input(password=True, id="api_key", classes="api")
            yield Label("Checkpoint directory (Hugging Face format)", classes="engine hidden")
            yield Input(placeholder="/models/Kimi-K2.6", id="path", classes="engine hidden")
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Save and start", id="save", variant="primary")
                yield Button("Quit", id="quit")

    @property
    def kind(self) -> str:
        pressed = self.query_one(RadioSet).pressed_button
        return (pressed.name if pressed is not None else None) or "moonshot"

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        engine = self.kind == "engine"
        for widget in self.query(".api"):
            widget.set_class(engine, "hidden")
        for widget in self.query(".engine"):
            widget.set_class(not engine, "hidden")
        defaults = {"moonshot": DEFAULT_BASE_URLS["openai"], "openai": "http://127.0.0.1:8000/v1",
                    "anthropic": DEFAULT_BASE_URLS["anthropic"]}
        if self.kind in defaults:
            self.query_one("#base_url", Input).value = defaults[self.kind]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.save()
        else:
            self.exit(False)

    def action_give_up(self) -> None:
        self.exit(False)

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def save(self) -> None:
        from kimi_code.ui.config_edit import save_model

        _, name, provider = CHOICES[self.kind]
        try:
            values = self._values(provider)
            save_model(paths.config_file(), name, values)
        except (ConfigError, OSError) as exc:
            self.query_one("#error", Static).update(str(exc))
            return
        key = self._value("api_key")
        if key and provider != "engine":
            os.environ[values["api_key_env"]] = key  # this process only, never written
        self.exit(True)

    def _values(self, provider: str) -> dict[str, str]:
        if provider == "engine":
            path = self._value("path")
            if not path or not (Path(path).expanduser() / "config.json").is_file():
                raise ConfigError(f"{path or '(empty)'}: not a model directory (no config.json)")
            return {"provider": "engine", "path": str(Path(path).expanduser())}
        values = {"provider": provider, "base_url": self._value("base_url"),
                  "model": self._value("model"), "api_key_env": self._value("api_key_env")}
        if not values["base_url"].startswith(("http://", "https://")):
            raise ConfigError("The base URL must start with http:// or https://")
        if not values["model"]:
            raise ConfigError("Enter the model id the endpoint serves.")
        if not values["api_key_env"].replace("_", "").isalnum():
            raise ConfigError("The environment variable name may hold letters, digits and _.")
        return values
