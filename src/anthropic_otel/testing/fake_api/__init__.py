"""A fake Anthropic Messages API: a real HTTP server on 127.0.0.1, for tests and demos.

Why a real server rather than a mocked transport: what the instrumentation has to get right (retries, timeouts,
SSE parsing, connection pooling, errors raised mid-stream) lives in the SDK's HTTP layer. A mock would skip exactly
those code paths; a socket exercises them with whatever SDK version is installed. Why the standard library only:
this package ships inside anthropic-otel, so users' tests and the demo can use it without extra dependencies.

Usage::

    with FakeAnthropic() as api:
        api.enqueue(Reply.rate_limited(retry_after=0.01), Reply.message(text="Hi"))
        client = anthropic.Anthropic(base_url=api.base_url, api_key="test")
        ...
        assert len(api.requests) == 2

Replies are scripted first-in first-out; when the script is empty ``api.default`` answers. Message endpoints
consume any scripted reply; the other endpoints (count_tokens, batches) only consume a scripted *fault*
(error, reset, delay, malformed or raw reply), so faults can be injected there without disturbing the script.

Modules, one concern each: :mod:`.render` (JSON bodies, SSE framing, headers), :mod:`.replies` (what can be
scripted), :mod:`.endpoints` (routes), :mod:`.server` (HTTP), :mod:`.front` (:class:`FakeAnthropic`),
:mod:`.cli` (``python -m anthropic_otel.testing.fake_api``).
"""

from __future__ import annotations

from .cli import main
from .front import FakeAnthropic
from .render import DEFAULT_MODEL, OMIT, encode_sse, render_message, sse_events
from .replies import (
    DelayReply,
    ErrorReply,
    MalformedJsonReply,
    MessageReply,
    RawReply,
    Reply,
    ResetReply,
    StreamErrorReply,
    TruncatedStreamReply,
)
from .server import ReceivedRequest
from .simulation import FakeClock, Latency, Simulation
from .tokens import MIN_CACHEABLE_TOKENS, count_input_tokens

__all__ = [
    "DEFAULT_MODEL",
    "MIN_CACHEABLE_TOKENS",
    "OMIT",
    "DelayReply",
    "ErrorReply",
    "FakeAnthropic",
    "FakeClock",
    "Latency",
    "MalformedJsonReply",
    "MessageReply",
    "RawReply",
    "ReceivedRequest",
    "Reply",
    "ResetReply",
    "Simulation",
    "StreamErrorReply",
    "TruncatedStreamReply",
    "count_input_tokens",
    "encode_sse",
    "main",
    "render_message",
    "sse_events",
]
