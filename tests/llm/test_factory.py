"""make_provider: the right provider for each config, configured from the ModelConfig."""

from __future__ import annotations

import importlib.abc
import subprocess
import sys
import types

import pytest

from kimi_code.config import ConfigError, ModelConfig
from kimi_code.llm.anthropic import AnthropicProvider
from kimi_code.llm.base import Message
from kimi_code.llm.factory import make_provider
from kimi_code.llm.openai import OpenAIProvider

from .conftest import collect, text_of


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_provider_uses_every_model_setting(kind, scripted) -> None:
    server = scripted([{"text": "configured"}])
    base_url = server.base_url_openai if kind == "openai" else server.base_url_anthropic
    config = ModelConfig(name="t", provider=kind, base_url=base_url, model="kimi-k2-test",
                         api_key="key-123", context_window=65536, max_tokens=77, temperature=0.6)
    provider = make_provider(config)
    assert isinstance(provider, OpenAIProvider if kind == "openai" else AnthropicProvider)
    assert provider.model == "kimi-k2-test" and provider.context_window == 65536
    try:
        assert text_of(await collect(provider, [Message("user", "hi")], tools=[])) == "configured"
    finally:
        await provider.aclose()
    request = server.requests[-1]
    assert request["body"]["model"] == "kimi-k2-test"
    assert request["body"]["max_tokens"] == 77 and request["body"]["temperature"] == 0.6
    auth = request["headers"].get("authorization", "") + request["headers"].get("x-api-key", "")
    assert "key-123" in auth


def test_default_base_urls() -> None:
    openai_provider = make_provider(ModelConfig(name="k", provider="openai", model="kimi-k2.6"))
    assert str(openai_provider._client.base_url).startswith("https://api.moonshot.ai/v1")
    claude = make_provider(ModelConfig(name="c", provider="anthropic", model="claude"))
    assert str(claude._client.base_url).startswith("https://api.anthropic.com")


def test_unknown_provider_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown provider 'gemini'"):
        make_provider(ModelConfig(name="g", provider="gemini", model="x"))


def test_engine_delegates_to_local_adapter(monkeypatch) -> None:
    sentinel = object()
    seen = []
    fake = types.ModuleType("kimi_code.llm.local")
    fake.make_local_provider = lambda model: seen.append(model) or sentinel
    monkeypatch.setitem(sys.modules, "kimi_code.llm.local", fake)
    import kimi_code.llm as llm_package

    monkeypatch.setattr(llm_package, "local", fake, raising=False)
    config = ModelConfig(name="local", provider="engine", path="/models/k2")
    assert make_provider(config) is sentinel and seen == [config]


def test_engine_adapter_missing_is_a_config_error(monkeypatch) -> None:
    import kimi_code.llm as llm_package

    monkeypatch.delattr(llm_package, "local", raising=False)
    monkeypatch.setitem(sys.modules, "kimi_code.llm.local", None)
    with pytest.raises(ConfigError, match="no engine adapter"):
        make_provider(ModelConfig(name="local", provider="engine", path="/m"))


class _NoEngine(importlib.abc.MetaPathFinder):
    """Makes importing the adapter fail the way it does when kimi_engine is not installed."""

    def find_spec(self, name, path, target=None):
        if name == "kimi_code.llm.local":
            raise ModuleNotFoundError("No module named 'kimi_engine'", name="kimi_engine")
        return None


def test_engine_not_installed_says_how_to_install(monkeypatch) -> None:
    import kimi_code.llm as llm_package

    monkeypatch.delattr(llm_package, "local", raising=False)
    monkeypatch.delitem(sys.modules, "kimi_code.llm.local", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoEngine(), *sys.meta_path])
    with pytest.raises(ConfigError, match=r"install.sh --engine"):
        make_provider(ModelConfig(name="local", provider="engine", path="/m"))


def test_factory_import_does_not_load_the_sdks() -> None:
    code = ("import sys, kimi_code.llm.factory; "
            "bad = [m for m in ('openai', 'anthropic', 'torch', 'textual') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
