"""The Anthropic API key: read from the environment only, never logged or written; its absence is a clear error."""

from __future__ import annotations

import os

API_KEY_ENV = "ANTHROPIC_API_KEY"


class ApiKeyMissing(RuntimeError):
    """The configuration needs the Anthropic API but ANTHROPIC_API_KEY is unset or empty."""


def require_api_key(what: str) -> None:
    """Fail early, naming `what` needs the key (e.g. ``"judge.backend: anthropic"``), when it is unset or empty."""
    if not os.environ.get(API_KEY_ENV, "").strip():
        raise ApiKeyMissing(
            f"{what} needs the Anthropic API, but the environment variable {API_KEY_ENV} is not set (or empty). "
            f"Export {API_KEY_ENV} in the environment that runs the workflow (it is read from the environment only, "
            f"never from config files), or configure a setting that does not need the API."
        )
