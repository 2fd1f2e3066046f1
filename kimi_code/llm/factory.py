"""Build the ChatProvider a ModelConfig asks for.

The SDKs (and, for the engine, torch) are imported only here, inside the function, so that
importing the CLI stays fast.
"""

from __future__ import annotations

from kimi_code.config import DEFAULT_BASE_URLS, ConfigError, ModelConfig
from kimi_code.llm.base import ChatProvider

ENGINE_DEPENDENCIES = ("kimi_engine", "torch", "triton", "safetensors")


def make_provider(model: ModelConfig) -> ChatProvider:
    """A provider for `model` (provider openai | anthropic | engine). Raises ConfigError when the
    provider is unknown or cannot be loaded."""
    if model.provider == "openai":
        from kimi_code.llm.openai import OpenAIProvider

        return OpenAIProvider(
            model=model.model, base_url=model.base_url or DEFAULT_BASE_URLS["openai"],
            api_key=model.api_key, context_window=model.context_window,
            max_tokens=model.max_tokens, temperature=model.temperature,
            max_tokens_param=model.max_tokens_param)
    if model.provider == "anthropic":
        from kimi_code.llm.anthropic import AnthropicProvider

        return AnthropicProvider(
            model=model.model, base_url=model.base_url or DEFAULT_BASE_URLS["anthropic"],
            api_key=model.api_key, context_window=model.context_window,
            max_tokens=model.max_tokens, temperature=model.temperature)
    if model.provider == "engine":
        return _make_engine(model)
    raise ConfigError(
        f"Model '{model.name}': unknown provider {model.provider!r}; use openai, anthropic or "
        "engine (`provider` in the model's config table, KIMI_PROVIDER or --provider).")


def _make_engine(model: ModelConfig) -> ChatProvider:
    try:
        from kimi_code.llm import local
    except ModuleNotFoundError as exc:
        name = exc.name or ""
        if name.split(".")[0] in ENGINE_DEPENDENCIES:
            raise ConfigError(
                f"Model '{model.name}' uses the embedded engine, which is not installed "
                f"(missing module {name!r}). Install it with `./install.sh --engine`, or point "
                "the model at a server with provider = \"openai\" and base_url.") from None
        if name.startswith("kimi_code.llm.local"):
            raise ConfigError(
                f"Model '{model.name}' uses the embedded engine, but this build of kimi-code has "
                "no engine adapter (kimi_code.llm.local). Use provider = \"openai\" with the "
                "engine's server (`kimi-code serve`) instead.") from None
        raise
    return local.make_local_provider(model)
