"""Retrying a call to Claude: the naive loop next to two correct ways, and what the telemetry shows of each.

The SDK already retries: by default every call makes up to 3 attempts (max_retries=2) on 408, 409, 429, 5xx
and connection errors, with exponential backoff that honours the server's `retry-after`. A retry loop of your
own around that client multiplies the attempts: 3 tries of the app x 3 attempts of the SDK is 9 requests
against an API that is already overloaded. Keep exactly one retry layer:

- `sdk`: rely on the SDK's retries alone; set how many with `max_retries`. The simplest, and usually enough.
- `backoff`: your own loop (a deadline, a fallback model, a queue to park work in), around a client made with
  `max_retries=0`; exponential backoff with full jitter, at least as long as `retry-after` asks.
- `naive`: the loop to avoid, for comparison.

The plugin makes the multiplication visible: each HTTP attempt counts in `anthropic.client.attempts`, and
each retry the SDK takes is an `anthropic.retry` event on the call's span (`http.request.resend_count` on the
span says how many). Against a persistent 529, `naive` makes 3 spans with 2 retries each (9 attempts),
`backoff` 3 spans without retries (3 attempts), `sdk` 1 span with 2 retries (3 attempts).

Usage: python retries.py [sdk|backoff|naive]
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

import anthropic
from instrument_at_startup import configure_opentelemetry
from opentelemetry import trace

import anthropic_otel

MODEL = "claude-sonnet-4-6"
REQUEST: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 200,
    "messages": [{"role": "user", "content": "In one sentence: what is exponential backoff?"}],
}
TRIES = 3


def naive() -> anthropic.types.Message:
    """Don't: a loop around a client that retries by itself, retrying everything, deaf to `retry-after`."""
    client = anthropic.Anthropic()  # max_retries=2 by default: each try below is up to 3 requests
    for attempt in range(TRIES):
        try:
            return client.messages.create(**REQUEST)
        except anthropic.APIError:  # a 400 or a 401 too, which no retry will fix
            if attempt == TRIES - 1:
                raise
            time.sleep(2**attempt)
    raise AssertionError("unreachable")


def sdk_only() -> anthropic.types.Message:
    """One retry layer, the SDK's: TRIES attempts in all, backoff and `retry-after` handled for you."""
    client = anthropic.Anthropic(max_retries=TRIES - 1)
    return client.messages.create(**REQUEST)


def with_backoff(base: float = 0.5, cap: float = 30.0) -> anthropic.types.Message:
    """One retry layer, yours: the SDK's retries off, so that TRIES means TRIES requests."""
    client = anthropic.Anthropic(max_retries=0)
    for attempt in range(TRIES):
        try:
            return client.messages.create(**REQUEST)
        except (anthropic.APIConnectionError, anthropic.APIStatusError) as error:  # timeouts included
            if attempt == TRIES - 1 or not retryable(error):
                raise
            # Full jitter: a random wait up to the exponential bound, so that clients that failed together do
            # not come back together. Never shorter than the server asked: an earlier retry is refused again.
            wait = max(retry_after(error), random.uniform(0, min(cap, base * 2**attempt)))
            trace.get_current_span().add_event("app.retry", {"app.retry.attempt": attempt + 1, "app.retry.wait": wait})
            time.sleep(wait)
    raise AssertionError("unreachable")


def retryable(error: anthropic.APIConnectionError | anthropic.APIStatusError) -> bool:
    """What the SDK itself would retry: the server's `x-should-retry` first, then the status code."""
    if isinstance(error, anthropic.APIConnectionError):
        return True
    should_retry = error.response.headers.get("x-should-retry")
    if should_retry in ("true", "false"):
        return should_retry == "true"
    return error.status_code in (408, 409, 429) or error.status_code >= 500


def retry_after(error: anthropic.APIConnectionError | anthropic.APIStatusError) -> float:
    """The wait the server asked for, in seconds (`retry-after-ms`, else `retry-after`), 0 when it asked none."""
    if not isinstance(error, anthropic.APIStatusError):
        return 0.0
    headers = error.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(headers[name]) * scale)
        except (KeyError, ValueError):
            continue
    return 0.0  # an HTTP date is allowed too; the SDK parses it, a loop of yours may simply back off


PATTERNS = {"sdk": sdk_only, "backoff": with_backoff, "naive": naive}


def main(pattern: str = "backoff") -> int:
    # One span around the whole operation: in a trace viewer, its children are the calls the loop made, each
    # with the SDK's retries as events.
    try:
        with trace.get_tracer("examples.retries").start_as_current_span(f"answer_question.{pattern}"):
            message = PATTERNS[pattern]()
    except anthropic.APIStatusError as error:
        print(f"{pattern}: gave up with HTTP {error.status_code}")
        return 1
    print(f"{pattern}: {''.join(block.text for block in message.content if block.type == 'text')}")
    return 0


if __name__ == "__main__":
    configure_opentelemetry()
    anthropic_otel.instrument()
    sys.exit(main(*sys.argv[1:2]))
