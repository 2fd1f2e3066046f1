"""max_tokens vs max_completion_tokens: the request body the server receives, per model setting
and by the automatic rule (OpenAI's reasoning models reject max_tokens)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimi_code.config import ConfigError, parse_config
from kimi_code.llm.base import Message
from kimi_code.llm.factory import make_provider
from kimi_code.llm.openai import OpenAIProvider, max_tokens_fields

from .conftest import collect

USER = [Message("user", "hi")]
LIMIT_FIELDS = ("max_tokens", "max_completion_tokens")


def limits_sent(body: dict) -> dict[str, int]:
    return {name: body[name] for name in LIMIT_FIELDS if name in body}


@pytest.mark.parametrize(("model", "setting", "expected"), [
    ("kimi-k2.6", "auto", {"max_tokens": 500}),  # Moonshot, vLLM, SGLang: max_tokens
    ("o3-mini", "auto", {"max_completion_tokens": 500}),  # a reasoning model, through a proxy
    ("openai/gpt-5-mini", "auto", {"max_completion_tokens": 500}),  # vendor-prefixed name
    ("o3-mini", "max_tokens", {"max_tokens": 500}),  # the setting wins over the rule
    ("kimi-k2.6", "max_completion_tokens", {"max_completion_tokens": 500}),
    ("kimi-k2.6", "both", {"max_tokens": 500, "max_completion_tokens": 500}),
])
@pytest.mark.parametrize("streaming", [True, False])
async def test_body_carries_the_chosen_field(scripted, model, setting, expected,
                                             streaming) -> None:
    server = scripted([{"text": "ok"}])
    provider = OpenAIProvider(model=model, base_url=server.base_url_openai, max_tokens=500,
                              max_tokens_param=setting, streaming=streaming)
    try:
        await collect(provider, USER, tools=[])
    finally:
        await provider.aclose()
    body = server.requests[-1]["body"]
    assert body["model"] == model and limits_sent(body) == expected


async def test_per_call_limit_and_no_limit(scripted, providers) -> None:
    server = scripted([{"text": "a"}, {"text": "b"}])
    provider = providers("openai", server, max_tokens_param="both")
    await collect(provider, USER, tools=[])
    assert limits_sent(server.requests[-1]["body"]) == {}  # nothing set, nothing sent
    [_ async for _ in provider.stream(USER, [], max_tokens=64)]
    assert limits_sent(server.requests[-1]["body"]) == {"max_tokens": 64,
                                                        "max_completion_tokens": 64}


@pytest.mark.parametrize(("model", "base_url", "expected"), [
    ("gpt-4.1", "https://api.openai.com/v1", ("max_completion_tokens",)),
    ("gpt-4o", "https://my-res.openai.azure.com/openai/deployments/x", ("max_completion_tokens",)),
    ("gpt-4o", None, ("max_completion_tokens",)),  # the SDK's default base URL is OpenAI's
    ("o1", "http://127.0.0.1:8000/v1", ("max_completion_tokens",)),
    ("O4-MINI", "https://openrouter.ai/api/v1", ("max_completion_tokens",)),
    ("kimi-k2.6", "https://api.moonshot.ai/v1", ("max_tokens",)),
    ("Qwen/Qwen3-8B", "http://gpu-box:8000/v1", ("max_tokens",)),
    ("gpt-oss-120b", "http://gpu-box:8000/v1", ("max_tokens",)),  # vLLM serving an open model
    ("omni-7b", "http://gpu-box:8000/v1", ("max_tokens",)),  # "o" not followed by a digit
])
def test_auto_rule(model, base_url, expected) -> None:
    assert max_tokens_fields("auto", model, base_url) == expected


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="max_tokens_param must be one of auto, max_tokens"):
        max_tokens_fields("max_output_tokens", "m", None)


async def test_config_file_setting_reaches_the_wire(scripted, tmp_path: Path) -> None:
    server = scripted([{"text": "ok"}])
    path = tmp_path / "config.toml"
    text = (f'[models.gw]\nprovider = "openai"\nbase_url = "{server.base_url_openai}"\n'
            'model = "kimi-k2.6"\nmax_tokens = 900\nmax_tokens_param = "max_completion_tokens"\n')
    provider = make_provider(parse_config(text, path).model_config("gw"))
    try:
        await collect(provider, USER, tools=[])
    finally:
        await provider.aclose()
    assert limits_sent(server.requests[-1]["body"]) == {"max_completion_tokens": 900}


def test_bad_config_value_names_file_line_and_choices(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    text = '[models.gw]\nprovider = "openai"\nmax_tokens_param = "max_output"\n'
    with pytest.raises(ConfigError) as info:
        parse_config(text, path)
    message = str(info.value)
    assert f"{path}:3" in message and "models.gw.max_tokens_param" in message
    assert "auto, max_tokens, max_completion_tokens, both" in message
