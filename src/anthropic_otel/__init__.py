"""OpenTelemetry instrumentation for the Anthropic Python SDK.

`instrument()` at start-up (or `opentelemetry-instrument python app.py`) gives every `messages` call one span
with tokens, cache usage, stop reason, request id and retry events.
"""

from __future__ import annotations

from typing import Any

from .attribution import attribution
from .config import ConfigError
from .instrumentor import AnthropicInstrumentor
from .spend import Spend, spend
from .version import __version__

__all__ = [
    "AnthropicInstrumentor",
    "ConfigError",
    "Spend",
    "__version__",
    "attribution",
    "instrument",
    "spend",
    "uninstrument",
]


def instrument(**options: Any) -> AnthropicInstrumentor:
    """Instruments the Anthropic SDK; a second call does nothing. Raises `ConfigError` for a bad option.

    Options are validated before anything is hooked, so a bad one leaves the SDK untouched.
    """
    from .config import RESOLVED, resolve

    settings = resolve(options)
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(**{RESOLVED: settings})
    return instrumentor


def uninstrument() -> None:
    """Restores every original callable of the SDK."""
    AnthropicInstrumentor().uninstrument()
