"""Who a call is for: the application's feature, its user and any extra keys.

`attribution(feature=..., user_id=..., **more)` works as a context manager and as a decorator of sync and async
functions. It lives in a context variable, so threads and asyncio tasks stay separate, and nests (inner values
win). Values in OpenTelemetry baggage (`app.feature`, `user.id`) count too, below the explicit ones.

Spans and log records get everything (`app.feature`, `user.id`, `app.<key>`); metrics only get `app.feature` and
the extra keys the user declares low-cardinality, never `user.id` unless explicitly allowed: one label per user
would explode every metric store.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import hmac
import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from opentelemetry import baggage

from .names import FEATURE, USER_ID

F = TypeVar("F", bound=Callable[..., Any])

EMPTY: Mapping[str, str] = MappingProxyType({})
CURRENT: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("anthropic_otel_attribution", default=EMPTY)


def attribute_name(key: str) -> str:
    return {"feature": FEATURE, "user_id": USER_ID}.get(key, f"app.{key}")


class attribution:  # used like a function: `with attribution(feature="chat"):`
    """Attributes the calls made inside it to a feature, a user and extra keys."""

    def __init__(self, feature: str | None = None, user_id: str | None = None, **more: object) -> None:
        values = {"feature": feature, "user_id": user_id, **more}
        self.attributes = {attribute_name(key): str(value) for key, value in values.items() if value is not None}
        self._tokens: list[contextvars.Token[Mapping[str, str]]] = []

    def __enter__(self) -> attribution:
        self._tokens.append(CURRENT.set(MappingProxyType({**CURRENT.get(), **self.attributes})))
        return self

    def __exit__(self, *exc: object) -> None:
        CURRENT.reset(self._tokens.pop())

    def __call__(self, function: F) -> F:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with attribution._copy(self):
                    return await function(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with attribution._copy(self):
                return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    @staticmethod
    def _copy(source: attribution) -> attribution:
        # A fresh one per invocation, so that concurrent invocations of one decorated function keep their own tokens.
        copy = attribution()
        copy.attributes = source.attributes
        return copy


def current() -> Mapping[str, str]:
    """The attribution of the calling context: baggage below explicit `attribution()` values. Never raises."""
    explicit = CURRENT.get()
    try:
        from_baggage = baggage.get_all()
    except Exception:
        return explicit
    if not from_baggage:
        return explicit
    found = {name: str(from_baggage[name]) for name in (FEATURE, USER_ID) if name in from_baggage}
    return {**found, **explicit} if found else explicit


class Pseudonyms:
    """Replaces `user.id` by its keyed hash (HMAC-SHA256, hex) before the attribution reaches any telemetry: the
    same user keeps one id across calls and processes that share the key, and nobody without the key can tell
    who it is. Hashes are cached per user (at most `CACHE` of them)."""

    CACHE = 10_000

    def __init__(self, key: str) -> None:
        self.key = key.encode("utf-8")
        self.known: dict[str, str] = {}

    def __call__(self, attributes: Mapping[str, str]) -> Mapping[str, str]:
        user = attributes.get(USER_ID)
        if user is None:
            return attributes
        hashed = self.known.get(user)
        if hashed is None:
            hashed = hmac.new(self.key, user.encode("utf-8"), hashlib.sha256).hexdigest()
            if len(self.known) >= self.CACHE:
                self.known.clear()
            self.known[user] = hashed
        return {**attributes, USER_ID: hashed}
