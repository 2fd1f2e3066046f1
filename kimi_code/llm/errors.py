"""Turn HTTP failures from any provider into our ProviderError family.

The SDK-specific modules extract (status, headers, body, message) from their exceptions and call
`from_status` / `connection_error`; the classification rules live here once:

- context-length errors -> ContextOverflowError (the loop compacts, then tries again)
- quota / billing (402, insufficient_quota, ...) -> QuotaError (never retried)
- 401 / 403 -> AuthError (never retried)
- 408 / 409 / 429 / 5xx / connection problems -> ProviderError(retryable=True, retry_after=...)
- any other 4xx -> ProviderError(retryable=False) carrying the server's message
"""

from __future__ import annotations

import email.utils
import sys
import time
from collections.abc import Mapping
from typing import Any

from kimi_code.llm.base import AuthError, ContextOverflowError, ProviderError, QuotaError

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
QUOTA_CODES = frozenset({
    "insufficient_quota", "billing_error", "exceeded_current_quota_error", "quota_exceeded",
    "billing_hard_limit_reached", "insufficient_balance", "payment_required",
})
QUOTA_WORDS = ("insufficient_quota", "exceeded your current quota", "billing", "credit balance",
               "insufficient balance", "payment required")
OVERFLOW_CODES = frozenset({"context_length_exceeded", "request_too_large", "string_above_max_length"})
OVERFLOW_WORDS = ("context length", "context_length", "context window", "maximum context",
                  "prompt is too long", "too many tokens", "token limit", "exceeds the model",
                  "input is too long", "input length", "reduce the length", "too long for the model")
# Anthropic reports mid-stream failures as an `error` event on an HTTP 200 response; its error
# type is then the only hint of what happened.
TYPE_STATUS = {"overloaded_error": 529, "api_error": 500, "rate_limit_error": 429,
               "timeout_error": 504, "authentication_error": 401, "permission_error": 403,
               "billing_error": 402, "request_too_large": 413, "invalid_request_error": 400,
               "not_found_error": 404}


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait as the server asked: `retry-after-ms`, else `retry-after` as seconds or as
    an HTTP date. None when absent or unparsable."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_fields(body: Any, fallback: str) -> tuple[str, str, str]:
    """(message, code, type) from an error body in OpenAI, Anthropic or vLLM shape."""
    if isinstance(body, Mapping):
        inner = body.get("error")
        data = inner if isinstance(inner, Mapping) else body
        message = data.get("message") or (inner if isinstance(inner, str) else None)
        raw_details = data.get("details")
        details = raw_details if isinstance(raw_details, Mapping) else {}
        code = data.get("code") or details.get("error_code") or ""
        kind = data.get("type") or ""
        return str(message or fallback), str(code), str(kind)
    if isinstance(body, str) and body.strip():
        return body.strip()[:500], "", ""
    return fallback, "", ""


def _looks_like(haystack: str, needles: tuple[str, ...]) -> bool:
    low = haystack.lower()
    return any(n in low for n in needles)


def from_status(label: str, status: int | None, headers: Mapping[str, str] | None, body: Any,
                fallback: str) -> ProviderError:
    """Classify an HTTP error response (or an in-stream error event when status is None/2xx)."""
    message, code, kind = error_fields(body, fallback)
    if status is None or status < 400:
        status = TYPE_STATUS.get(kind, status)
    shown = f"{label} error {status}: {message}" if status else f"{label} error: {message}"
    tags = {code.lower(), kind.lower()}
    if status in (None, 400, 413, 422) and (
        tags & OVERFLOW_CODES or status == 413 or _looks_like(message, OVERFLOW_WORDS)):
        return ContextOverflowError(shown, status=status)
    if status == 402 or tags & QUOTA_CODES or (
            status in (400, 403, 429) and _looks_like(message, QUOTA_WORDS)):
        return QuotaError(shown + " (check your plan and billing; this is not retried)", status)
    if status in (401, 403):
        return AuthError(
            shown + " (check the API key: KIMI_API_KEY or the model's api_key_env)", status)
    if status is None or status in RETRYABLE_STATUS or status >= 500:
        return ProviderError(shown, retryable=True, status=status,
                             retry_after=parse_retry_after(headers))
    return ProviderError(shown, retryable=False, status=status)


def is_transport_error(exc: BaseException) -> bool:
    """A network-level failure the SDK let through unwrapped (the anthropic SDK does so while
    reading a stream): httpx/httpx2 request errors, OS connection errors, timeouts."""
    for name in ("httpx2", "httpx"):
        module = sys.modules.get(name)  # only check libraries that are already loaded
        if module is not None and isinstance(exc, module.RequestError):
            return True
    return isinstance(exc, (ConnectionError, TimeoutError))


def connection_error(label: str, exc: BaseException, *, started: bool) -> ProviderError:
    """A transport failure: before the response (cannot connect, timeout) or during the stream."""
    cause = exc.__cause__ or exc
    detail = f"{type(cause).__name__}: {cause}"
    if started:
        return ProviderError(f"{label}: stream ended early ({detail})", retryable=True)
    url = _request_url(exc)
    where = f" to {url}" if url else ""
    return ProviderError(f"{label}: connection failed{where} ({detail}); is the endpoint up, "
                         "and is `base_url` right (kimi-code doctor checks it)?", retryable=True)


def _request_url(exc: BaseException) -> str:
    """The URL the failed request went to, when the exception carries it."""
    try:
        # The SDKs' and the HTTP client's errors carry `.request` (some raise when it is unset).
        request = getattr(exc, "request", None)
        return "" if request is None else str(request.url)
    except Exception:  # no request attached (raised before one was built)
        return ""


def unexpected(label: str, exc: BaseException) -> ProviderError:
    """Anything else the SDK raised (bad response shape, ...): reported, not retried."""
    return ProviderError(f"{label}: unexpected failure: {type(exc).__name__}: {exc}",
                         retryable=False)


def from_sdk(sdk: Any, label: str, exc: BaseException, *, started: bool = False) -> ProviderError:
    """Any exception from one of the official SDKs (`sdk` is the `openai` or `anthropic`
    module: both share the same exception hierarchy) as a ProviderError."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, sdk.APIStatusError):
        return from_status(label, exc.status_code, exc.response.headers, exc.body, exc.message)
    if isinstance(exc, sdk.APIConnectionError):  # includes APITimeoutError
        return connection_error(label, exc, started=started)
    if isinstance(exc, sdk.APIError):  # an error object inside an HTTP 200 stream
        return from_status(label, None, None, exc.body, exc.message)
    if is_transport_error(exc):
        return connection_error(label, exc, started=started)
    return unexpected(label, exc)
