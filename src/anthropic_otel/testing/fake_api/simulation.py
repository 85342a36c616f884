"""How real the fake behaves: token counts from the request, prompt caching, validation, latency, batch timing.

Everything is off by default, so that a scripted reply renders exactly the numbers it was given; a test turns on
what it exercises (``FakeAnthropic(simulation=Simulation(tokens=True))``), or all of it with
:meth:`Simulation.realistic`. Time comes from an injectable clock (:class:`FakeClock`), so that cache expiry
and batch processing can be tested, and demonstrated, without waiting.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .render import Event
from .replies import MessageReply
from .tokens import CHARS_PER_TOKEN, PromptCache, block_chars, count_input_tokens, tokens_of

Clock = Callable[[], float]
"""Seconds since the epoch, like :func:`time.time`."""


class FakeClock:
    """A clock that only moves when told to: ``clock.advance(301)`` expires a 5-minute cache entry at once."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now


@dataclass(frozen=True)
class Latency:
    """Server-side delays, in real seconds: before the first token, then per token written, scaled by jitter.

    ``jitter=0.2`` scales each wait by a factor drawn uniformly from [0.8, 1.2], from a generator seeded with
    ``seed``, so that a run is reproducible.
    """

    first_token: float = 0.0
    tokens_per_second: float = 0.0
    """0 writes every token at once."""
    jitter: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class Simulation:
    """Which parts of the real API's behaviour the fake simulates (see the module docstring)."""

    tokens: bool = False
    """Input tokens from the request (:mod:`.tokens`), prompt caching from its breakpoints, output tokens from the
    reply at ~4 characters per token, and a reply cut at ``max_tokens`` with ``stop_reason: "max_tokens"``. A
    count given explicitly to ``Reply.message`` still wins."""
    validate: bool = False
    """Reject message requests without ``model`` (direct API) or ``max_tokens``, empty or non-JSON, with a 400."""
    latency: Latency = Latency()
    batch_seconds: float = 0.0
    """How long (on the fake's clock) a message batch stays ``in_progress``; 0 ends it at creation."""

    @classmethod
    def realistic(cls, latency: Latency | None = None, batch_seconds: float = 0.0) -> Simulation:
        return cls(tokens=True, validate=True, latency=latency or Latency(), batch_seconds=batch_seconds)


# -- validation ------------------------------------------------------------------------------------------------------

_REQUIRED: tuple[tuple[str, str, bool], ...] = (
    # (field, its message, required when the model travels in the URL (Vertex, Bedrock) too)
    ("model", "model: Field required", False),
    ("max_tokens", "max_tokens: Field required", True),
)


def invalid_request(body: object, raw: bytes, *, model_in_url: bool) -> str | None:
    """The API's message for a request it would reject with ``invalid_request_error``, or None when it is valid."""
    if not raw.strip():
        return "request body is empty"
    if not isinstance(body, dict):
        return "request body is not valid JSON" if body is None else "request body must be a JSON object"
    missing = [message for name, message, always in _REQUIRED if name not in body and (always or not model_in_url)]
    return missing[0] if missing else None


# -- usage derived from the request ----------------------------------------------------------------------------------

_CUTTABLE: Mapping[str, str] = {"text": "text", "thinking": "thinking"}
"""Block types a ``max_tokens`` cut can shorten, and the field holding their text; other blocks fit whole or not."""


def _cut(content: Sequence[Mapping[str, Any]], budget: int) -> tuple[list[dict[str, Any]], int, bool]:
    """The content written within ``budget`` characters: blocks in order, the last text cut short.

    Returns the blocks, the characters written and whether the budget cut anything.
    """
    kept: list[dict[str, Any]] = []
    used = 0
    for block in content:
        size = block_chars(block)
        if used + size <= budget:
            kept.append(dict(block))
            used += size
            continue
        field = _CUTTABLE.get(str(block.get("type")))
        if field and budget > used:
            kept.append({**block, field: str(block[field])[: budget - used]})
        return kept, budget, True
    return kept, used, False


def simulate_usage(
    reply: MessageReply, body: Mapping[str, Any], model: str, cache: PromptCache, now: float
) -> MessageReply:
    """``reply`` with the counts it leaves open (None) derived from the request, and cut at ``max_tokens``."""
    usage = cache.use(model, body, now)
    total = count_input_tokens(body)
    derived: dict[str, Any] = {}
    if reply.input_tokens is None:
        derived["input_tokens"] = total - usage.read - usage.written
    if reply.cache_read_input_tokens is None:
        derived["cache_read_input_tokens"] = usage.read
    if reply.cache_creation_input_tokens is None:
        derived |= {
            "cache_creation_input_tokens": usage.written,
            "cache_creation_5m": usage.written_5m,
            "cache_creation_1h": usage.written_1h,
        }
    if reply.output_tokens is None:
        content = list(reply.content) if reply.content is not None else [{"type": "text", "text": reply.text}]
        max_tokens = body.get("max_tokens")
        budget = max_tokens * CHARS_PER_TOKEN if isinstance(max_tokens, int) and max_tokens > 0 else 1 << 62
        kept, used, cut = _cut(content, budget)
        derived["output_tokens"] = max_tokens if cut else max(1, tokens_of(used))
        if cut:
            derived |= {"content": tuple(kept), "stop_reason": "max_tokens"}
    return replace(reply, **derived)


# -- latency ---------------------------------------------------------------------------------------------------------


class Pacer:
    """The waits that latency puts before a JSON body or each streamed event, from one seeded generator."""

    def __init__(self, latency: Latency) -> None:
        self.latency = latency
        self._random = random.Random(latency.seed)
        self._lock = threading.Lock()

    def _scaled(self, seconds: float) -> float:
        if seconds <= 0 or not self.latency.jitter:
            return max(seconds, 0.0)
        with self._lock:
            return seconds * self._random.uniform(1 - self.latency.jitter, 1 + self.latency.jitter)

    def _writing(self, tokens: float) -> float:
        rate = self.latency.tokens_per_second
        return self._scaled(tokens / rate) if rate > 0 else 0.0

    def before_json(self, output_tokens: int) -> float:
        return self._scaled(self.latency.first_token) + self._writing(output_tokens)

    def before_events(self, events: Sequence[Event]) -> list[float]:
        """One wait per event: the first token's before the first content delta, then each delta's writing time."""
        waits: list[float] = []
        first = True
        for name, data in events:
            wait = 0.0
            if name == "content_block_delta":
                delta = data.get("delta", {})
                text = next((str(v) for k, v in delta.items() if k != "type"), "")
                wait = self._writing(max(1, len(text) / CHARS_PER_TOKEN))
                if first:
                    wait += self._scaled(self.latency.first_token)
                    first = False
            waits.append(wait)
        return waits
