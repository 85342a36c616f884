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

Replies are scripted first-in first-out; when the script is empty ``api.default`` answers. Clients that send
concurrently can have ``api.responder`` choose each message request's reply from the request itself instead.
Message endpoints consume any scripted reply; the other endpoints (count_tokens, models, batches) only consume a
scripted *fault* (error, reset, delay, malformed or raw reply), so faults can be injected there without
disturbing the script.

By default a reply renders exactly the numbers it was given. ``FakeAnthropic(simulation=Simulation(...))``
makes the fake behave more like the real API: token counts from the request, prompt caching, validation,
latency, batch processing time (see :mod:`.simulation`).

Modules, one concern each: :mod:`.render` (JSON bodies, SSE and AWS event-stream framing, headers),
:mod:`.replies` (what can be scripted), :mod:`.tokens` (counting and the prompt cache), :mod:`.simulation`
(what is simulated, the clock, latency), :mod:`.endpoints` and :mod:`.batches` (routes), :mod:`.control`
(scenarios and ``/_fake`` endpoints), :mod:`.state` and :mod:`.server` (HTTP), :mod:`.front`
(:class:`FakeAnthropic`), :mod:`.cli` (``python -m anthropic_otel.testing.fake_api``).
"""

from __future__ import annotations

from .cli import main
from .front import FakeAnthropic
from .render import DEFAULT_MODEL, OMIT, encode_sse, render_message, sse_events
from .replies import (
    DelayReply,
    ErrorReply,
    HangReply,
    MalformedJsonReply,
    MessageReply,
    NonUtf8Reply,
    RawReply,
    Reply,
    ResetReply,
    ResetStreamReply,
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
    "HangReply",
    "Latency",
    "MalformedJsonReply",
    "MessageReply",
    "NonUtf8Reply",
    "RawReply",
    "ReceivedRequest",
    "Reply",
    "ResetReply",
    "ResetStreamReply",
    "Simulation",
    "StreamErrorReply",
    "TruncatedStreamReply",
    "count_input_tokens",
    "encode_sse",
    "main",
    "render_message",
    "sse_events",
]
