"""The anthropic SDK side shared by the anthropic judge and suite generation (`metasft.suites.api_generation`).

`make_client` builds the client; `call_with_retry` retries a call with backoff (honouring retry-after) and raises
`ApiCallFailed`; `is_retryable` and `describe_error` classify and describe SDK errors; `reply_text` reads a
Message's reply. The API key is read from ``ANTHROPIC_API_KEY`` only, and never logged or written anywhere. Only
this module and `metasft.judging.anthropic_judge` import the SDK.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from typing import Any, Callable

import anthropic

from metasft.pipeline.secrets import API_KEY_ENV, require_api_key

log = logging.getLogger(__name__)


class AnthropicAPIError(RuntimeError):
    """An API call failed for good (not retryable, or retries exhausted)."""


class ApiCallFailed(AnthropicAPIError):
    """Raised by `call_with_retry`: the last error, how many attempts were made and whether it was retryable."""

    def __init__(self, what: str, error: BaseException, attempts: int, retryable: bool):
        self.error, self.attempts, self.retryable = error, attempts, retryable
        self.status_code = getattr(error, "status_code", None)
        self.description = describe_error(error)
        how = f"gave up after {attempts} attempts" if retryable else "not retryable"
        super().__init__(f"{what}: {self.description} ({how})")


def make_client(max_retries: int = 2, timeout: float = 60.0, http_client: Any = None) -> anthropic.Anthropic:
    """An `anthropic.Anthropic` client with the key from ``ANTHROPIC_API_KEY`` and, when set, the endpoint from
    ``ANTHROPIC_BASE_URL`` (``judge.anthropic.max_retries`` / ``timeout_s``). `http_client`: an ``httpx2.Client``
    (tests pass one with a ``MockTransport``)."""
    require_api_key("an Anthropic API client (judge.backend: anthropic, or rule generate_suite)")
    kwargs: dict[str, Any] = {"api_key": os.environ[API_KEY_ENV].strip(), "max_retries": max_retries, "timeout": timeout}
    base_url = os.environ.get("ANTHROPIC_BASE_URL", "").strip()
    if base_url:
        kwargs["base_url"] = base_url
    if http_client is not None:
        kwargs["http_client"] = http_client
    return anthropic.Anthropic(**kwargs)


def is_retryable(error: BaseException) -> bool:
    """Rate limits (429), overload (529), other 5xx, 408/409, timeouts and connection errors."""
    if isinstance(error, anthropic.APIConnectionError):
        return True
    if isinstance(error, anthropic.APIStatusError):
        return error.status_code in (408, 409, 429) or error.status_code >= 500
    return False


def describe_error(error: BaseException) -> str:
    if isinstance(error, anthropic.APIStatusError):
        kind, message = None, None
        body = error.body
        if isinstance(body, dict):
            inner = body.get("error") if isinstance(body.get("error"), dict) else body
            kind, message = inner.get("type"), inner.get("message")
        text = f"HTTP {error.status_code}" + (f" {kind}" if kind else "")
        return text + (f": {str(message)[:200]}" if message else "")
    if isinstance(error, anthropic.APITimeoutError):
        return "request timed out"
    if isinstance(error, anthropic.APIConnectionError):
        return f"connection error ({error.__cause__ or error})"[:300]
    return f"{type(error).__name__}: {error}"[:300]


def _retry_after(error: BaseException) -> float | None:
    response = getattr(error, "response", None)
    if response is None:
        return None
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(response.headers.get(header)) * scale
        except (TypeError, ValueError):
            continue
    return None


def call_with_retry(fn: Callable[[], Any], *, what: str, max_attempts: int, sleep: Callable[[float], None] = time.sleep,
                    backoff_base_s: float = 1.0, backoff_max_s: float = 60.0) -> Any:
    """Call `fn` (one SDK call, which itself retries `max_retries` times) up to `max_attempts` times, sleeping with
    exponential backoff (and jitter, at least any ``retry-after``) between attempts on retryable errors.
    Raises `ApiCallFailed` when the error is not retryable or the attempts are used up."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except anthropic.APIError as error:
            retryable = is_retryable(error)
            if not retryable or attempt >= max_attempts:
                raise ApiCallFailed(what, error, attempt, retryable) from error
            delay = min(backoff_max_s, backoff_base_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            delay = max(delay, min(_retry_after(error) or 0.0, backoff_max_s))
            log.warning("%s: %s; attempt %d of %d, retrying in %.1f s", what, describe_error(error), attempt,
                        max_attempts, delay)
            sleep(delay)


def reply_text(message: Any) -> str:
    """The text of a Message's text blocks (the structured-output JSON), or the JSON of a tool_use block's input."""
    texts = [block.text for block in message.content if getattr(block, "type", None) == "text"]
    if texts:
        return "".join(texts)
    for block in message.content:
        if getattr(block, "type", None) == "tool_use":
            return json.dumps(block.input)
    return ""
