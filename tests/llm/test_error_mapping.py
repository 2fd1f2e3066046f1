"""Every failure reaches the loop as a ProviderError with the right class and retry hints, for
both providers, through real HTTP responses from the scripted server."""

from __future__ import annotations

import socket
import time
from email.utils import formatdate

import pytest

from kimi_code.llm import errors
from kimi_code.llm.base import AuthError, ContextOverflowError, Message, ProviderError, QuotaError

from .conftest import collect, make

APIS = ["openai", "anthropic"]
USER = [Message("user", "hi")]


async def failure(api: str, scripted, entry: dict, **kwargs) -> ProviderError:
    server = scripted([entry])
    provider = make(api, server, **kwargs)
    try:
        with pytest.raises(ProviderError) as info:
            await collect(provider, USER)
    finally:
        await provider.aclose()
    return info.value


@pytest.mark.parametrize("api", APIS)
async def test_429_is_retryable_with_retry_after(api, scripted) -> None:
    err = await failure(api, scripted, {"error": {"status": 429, "retry_after": 0.05,
                                                  "message": "slow down"}})
    assert type(err) is ProviderError
    assert err.retryable and err.status == 429 and err.retry_after == pytest.approx(0.05)
    assert "slow down" in str(err)


@pytest.mark.parametrize("api", APIS)
async def test_retry_after_seconds_header_alone(api, scripted) -> None:
    err = await failure(api, scripted, {"error": {"status": 503, "message": "busy",
                                                  "headers": {"retry-after": "2"}}})
    assert err.retryable and err.status == 503 and err.retry_after == 2.0


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("status", [408, 409, 500, 502, 529])
async def test_transient_statuses_are_retryable(api, status, scripted) -> None:
    err = await failure(api, scripted, {"error": {"status": status, "message": "transient"}})
    assert type(err) is ProviderError and err.retryable and err.status == status
    assert err.retry_after is None


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_are_not_retried(api, status, scripted) -> None:
    err = await failure(api, scripted, {"error": {"status": status, "message": "invalid key"}})
    assert isinstance(err, AuthError) and not err.retryable and err.status == status
    assert "invalid key" in str(err) and "KIMI_API_KEY" in str(err)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("error", [
    {"status": 429, "code": "insufficient_quota",
     "message": "You exceeded your current quota, please check your plan and billing details."},
    {"status": 402, "message": "payment required"},
    {"status": 429, "type": "exceeded_current_quota_error",
     "message": "Your account is suspended, please check your plan and billing details"},
    {"status": 400, "message": "Your credit balance is too low to access the API."},
])
async def test_quota_errors_are_not_retried(api, error, scripted) -> None:
    err = await failure(api, scripted, {"error": error})
    assert isinstance(err, QuotaError) and not err.retryable and err.status == error["status"]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("error", [
    {"status": 400, "code": "context_length_exceeded",
     "message": "This model's maximum context length is 8192 tokens."},
    {"status": 400, "message": "prompt is too long: 210000 tokens > 200000 maximum"},
    {"status": 400, "message": "Invalid request: Your request exceeded model token limit: 262144"},
    {"status": 413, "message": "request too large"},
])
async def test_context_overflow(api, error, scripted) -> None:
    err = await failure(api, scripted, {"error": error})
    assert isinstance(err, ContextOverflowError) and not err.retryable


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("status", [400, 404, 422])
async def test_other_client_errors_carry_the_server_message(api, status, scripted) -> None:
    err = await failure(api, scripted, {"error": {"status": status,
                                                  "message": "tools.0.name: bad pattern"}})
    assert type(err) is ProviderError and not err.retryable and err.status == status
    assert "tools.0.name: bad pattern" in str(err)


@pytest.mark.parametrize("api", APIS)
async def test_exhausted_script_is_a_500(api, scripted) -> None:
    server = scripted([])
    provider = make(api, server)
    with pytest.raises(ProviderError, match="script exhausted") as info:
        await collect(provider, USER)
    await provider.aclose()
    assert info.value.retryable and info.value.status == 500


@pytest.mark.parametrize("api", APIS)
async def test_cut_non_streaming_body_is_retryable(api, scripted) -> None:
    err = await failure(api, scripted, {"text": "a complete answer", "cut_after_chunks": 0},
                        streaming=False)
    assert err.retryable


@pytest.mark.parametrize("api", APIS)
async def test_connection_refused_is_retryable(api) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    class Nowhere:
        base_url_openai = f"http://127.0.0.1:{port}/v1"
        base_url_anthropic = f"http://127.0.0.1:{port}"

    provider = make(api, Nowhere())
    with pytest.raises(ProviderError, match="connection failed") as info:
        await collect(provider, USER)
    await provider.aclose()
    assert info.value.retryable and info.value.status is None
    assert f"to http://127.0.0.1:{port}/" in str(info.value)  # the user sees where it tried


@pytest.mark.parametrize("api", APIS)
async def test_timeout_is_retryable(api, scripted) -> None:
    err = await failure(api, scripted, {"text": "late", "delay_s": 1.0}, timeout=0.2)
    assert err.retryable


# ---- the classification rules on their own ----------------------------------------------------


def test_parse_retry_after_variants() -> None:
    assert errors.parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert errors.parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert errors.parse_retry_after({"retry-after-ms": "junk", "retry-after": "3"}) == 3.0
    assert errors.parse_retry_after({"retry-after": "soon"}) is None
    assert errors.parse_retry_after({}) is None and errors.parse_retry_after(None) is None
    future = formatdate(time.time() + 30, usegmt=True)
    assert 25 <= errors.parse_retry_after({"retry-after": future}) <= 31
    past = formatdate(time.time() - 30, usegmt=True)
    assert errors.parse_retry_after({"retry-after": past}) == 0.0


def test_in_stream_error_event_classified_by_type() -> None:
    # Anthropic sends mid-stream failures as an `error` event on an HTTP 200 response.
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    err = errors.from_status("anthropic API", 200, {}, body, "fallback")
    assert type(err) is ProviderError and err.retryable and err.status == 529
    body = {"type": "error", "error": {"type": "invalid_request_error",
                                       "message": "prompt is too long: 5 > 4"}}
    assert isinstance(errors.from_status("x", 200, {}, body, ""), ContextOverflowError)


def test_vllm_and_plain_text_error_bodies() -> None:
    vllm = {"object": "error", "message": "This model's maximum context length is 32768 tokens. "
            "However, you requested 40000 tokens.", "type": "BadRequestError", "code": 400}
    assert isinstance(errors.from_status("x", 400, {}, vllm, ""), ContextOverflowError)
    err = errors.from_status("x", 502, {}, "<html>Bad Gateway</html>", "")
    assert err.retryable and "Bad Gateway" in str(err)
    assert "rate limit" in str(errors.from_status("x", 429, {}, {"error": "rate limit"}, ""))


def test_rate_limits_are_not_mistaken_for_quota() -> None:
    limit = {"error": {"message": "Rate limit reached for requests per min (RPM): Limit 3",
                       "type": "rate_limit_reached_error"}}
    err = errors.from_status("x", 429, {"retry-after": "1"}, limit, "")
    assert type(err) is ProviderError and err.retryable and err.retry_after == 1.0
    billing = {"error": {"message": "Your account is suspended, check your billing details"}}
    assert isinstance(errors.from_status("x", 403, {}, billing, ""), QuotaError)


@pytest.mark.parametrize("api", APIS)
async def test_error_event_inside_a_started_stream(api, scripted) -> None:
    server = scripted([
        {"text": "partial answer here", "error_after_chunks": 2,
         "error": {"status": 529, "message": "Overloaded"}},
        {"text": "x", "error_after_chunks": 1,
         "error": {"status": 400, "code": "context_length_exceeded",
                   "message": "This model's maximum context length is 8192 tokens."}},
    ])
    provider = make(api, server)
    try:
        with pytest.raises(ProviderError, match="Overloaded") as info:
            await collect(provider, USER)
        assert type(info.value) is ProviderError and info.value.retryable
        with pytest.raises(ContextOverflowError):
            await collect(provider, USER)
    finally:
        await provider.aclose()


@pytest.mark.parametrize("api", APIS)
async def test_body_ending_cleanly_mid_stream_is_retryable(api, scripted) -> None:
    err = await failure(api, scripted, {"text": "never finished", "end_after_chunks": 3})
    assert type(err) is ProviderError and err.retryable
    assert "stream ended early" in str(err)
