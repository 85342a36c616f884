"""A fake Anthropic Messages API: a real HTTP server on 127.0.0.1, for tests and demos.

Why a real server rather than a mocked transport: what the instrumentation has to get right (retries, timeouts,
SSE parsing, connection pooling, errors raised mid-stream) lives in the SDK's HTTP layer. A mock would skip exactly
those code paths; a socket exercises them with whatever SDK version is installed. Why the standard library only:
this module ships inside the package, so users' tests and the demo can use it without extra dependencies.

Usage::

    with FakeAnthropic() as api:
        api.enqueue(Reply.rate_limited(retry_after=0.01), Reply.message(text="Hi"))
        client = anthropic.Anthropic(base_url=api.base_url, api_key="test")
        ...
        assert len(api.requests) == 2

Replies are scripted first-in first-out; when the script is empty ``api.default`` answers. Message endpoints
consume any scripted reply; the other endpoints (count_tokens, batches) only consume a scripted *fault*
(error, reset, delay, malformed or raw reply), so faults can be injected there without disturbing the script.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import socket
import socketserver
import struct
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import unquote, urlsplit

__all__ = [
    "DEFAULT_MODEL",
    "DelayReply",
    "ErrorReply",
    "FakeAnthropic",
    "MalformedJsonReply",
    "MessageReply",
    "RawReply",
    "ReceivedRequest",
    "Reply",
    "ResetReply",
    "StreamErrorReply",
    "TruncatedStreamReply",
    "count_input_tokens",
    "main",
    "render_message",
    "sse_events",
]

DEFAULT_MODEL = "claude-fake-1"
"""Model reported when neither the reply, the URL nor the request body names one."""

DEFAULT_TEXT = "Hello! How can I help?"

HeaderItems = tuple[tuple[str, str], ...]
HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]] | None
Event = tuple[str, dict[str, Any]]
_M = TypeVar("_M", bound="MessageReply")

# Like the real API's, so code reading rate-limit headers has something realistic to read.
_RATE_LIMITS: tuple[tuple[str, int, int], ...] = (
    ("requests", 4000, 3999),
    ("tokens", 400000, 399000),
    ("input-tokens", 320000, 319000),
    ("output-tokens", 80000, 79000),
)

# Framing is the server's business: replayed recordings must not dictate it (they were chunked, gzip'd, ...).
_HOP_BY_HOP = frozenset(
    {"connection", "content-length", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
)

_ERROR_MESSAGES: Mapping[str, str] = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of requests has exceeded your per-minute rate limit",
    "api_error": "Internal server error",
    "overloaded_error": "Overloaded",
}

_REASONS: Mapping[int, str] = {529: "Overloaded"}

_MALFORMED_BODY = b'{"id": "msg_fake", "type": "message", "usage": {"input_to'

_SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
_JSON_CONTENT_TYPE = "application/json"
_JSONL_CONTENT_TYPE = "application/binary"  # what the real results endpoint sends; the SDK decodes any type


# --------------------------------------------------------------------------------------------------------------------
# What the server received
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server saw it, so tests can assert on what the SDK really sent (retries included)."""

    method: str
    path: str
    """The request target, query string included (e.g. ``/v1/messages?beta=true``)."""
    headers: dict[str, str]
    """Header names lower-cased; a repeated header keeps its last value."""
    body: bytes
    json: object | None
    """The body decoded as JSON, or None when empty or not JSON."""


# --------------------------------------------------------------------------------------------------------------------
# Rendering messages (pure functions: the same reply always renders the same message)
# --------------------------------------------------------------------------------------------------------------------


def _word_chunks(text: str, words_per_chunk: int = 3) -> list[str]:
    """Split text into pieces of a few words that concatenate back to exactly ``text``.

    Several deltas per block are what makes a stream a stream: accumulation bugs only show with more than one.
    """
    words = re.findall(r"\S+\s*", text)
    if not words:
        return [text]
    leading = text[: len(text) - len(text.lstrip())]
    chunks = ["".join(words[i : i + words_per_chunk]) for i in range(0, len(words), words_per_chunk)]
    chunks[0] = leading + chunks[0]
    return chunks


def _json_chunks(value: object, parts: int = 3) -> list[str]:
    """Split the JSON text of a tool input into a few ``partial_json`` pieces, like the real API streams it."""
    text = json.dumps(value, separators=(",", ":"))
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)] or [text]


def _word_count(blocks: Sequence[Mapping[str, Any]]) -> int:
    """Default output token count: whitespace-separated words of everything the model "wrote"."""
    texts = [str(block.get("text") or block.get("thinking") or "") for block in blocks]
    texts += [json.dumps(block["input"]) for block in blocks if block.get("type") == "tool_use"]
    return max(1, sum(len(text.split()) for text in texts))


def _content_blocks(reply: MessageReply, new_id: Callable[[str], str]) -> list[dict[str, Any]]:
    """The message content: one text block, or copies of ``reply.content`` with the fields the API always sends."""
    if reply.content is None:
        return [{"type": "text", "text": reply.text}]
    blocks: list[dict[str, Any]] = json.loads(json.dumps(list(reply.content)))  # deep copy; also proves JSON-able
    for block in blocks:
        if block.get("type") == "tool_use":
            block.setdefault("id", new_id("toolu_fake"))
            block.setdefault("input", {})
        elif block.get("type") == "thinking":
            block.setdefault("signature", "fake-signature")
    return blocks


def _usage(reply: MessageReply, output_tokens: int, service_tier: str) -> dict[str, Any]:
    """The usage object in the shape and order of the real API."""
    five_minutes = reply.cache_creation_input_tokens if reply.cache_creation_5m is None else reply.cache_creation_5m
    return {
        "input_tokens": reply.input_tokens,
        "cache_creation_input_tokens": reply.cache_creation_input_tokens,
        "cache_read_input_tokens": reply.cache_read_input_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": five_minutes,
            "ephemeral_1h_input_tokens": reply.cache_creation_1h or 0,
        },
        "output_tokens": output_tokens,
        "service_tier": service_tier,
    }


def render_message(
    reply: MessageReply, *, msg_id: str, model: str, new_id: Callable[[str], str], service_tier: str | None = None
) -> dict[str, Any]:
    """The complete message a non-streaming request would get; streams are derived from it by :func:`sse_events`."""
    content = _content_blocks(reply, new_id)
    message: dict[str, Any] = {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
    }
    if not reply.omit_usage:
        output_tokens = _word_count(content) if reply.output_tokens is None else reply.output_tokens
        message["usage"] = _usage(reply, output_tokens, service_tier or reply.service_tier)
    return message


@dataclass(frozen=True)
class _Streamed:
    """How one content block type is streamed: which field is emptied in ``content_block_start`` and sent as deltas."""

    field: str
    empty: object
    delta_type: str
    delta_field: str
    pieces: Callable[[Any], list[str]]


_STREAMED: Mapping[str, _Streamed] = {
    "text": _Streamed("text", "", "text_delta", "text", _word_chunks),
    "thinking": _Streamed("thinking", "", "thinking_delta", "thinking", _word_chunks),
    "tool_use": _Streamed("input", {}, "input_json_delta", "partial_json", _json_chunks),
}


def _block_events(index: int, block: Mapping[str, Any]) -> list[Event]:
    """``content_block_start``, its deltas and ``content_block_stop`` for one block (unknown types: no deltas)."""
    streamed = _STREAMED.get(str(block.get("type")))
    start = dict(block)
    deltas: list[dict[str, Any]] = []
    if streamed is not None:
        start[streamed.field] = streamed.empty
        deltas = [
            {"type": streamed.delta_type, streamed.delta_field: piece}
            for piece in streamed.pieces(block[streamed.field])
        ]
    if block.get("type") == "thinking":
        start["signature"] = ""
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    return [
        ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}),
        *[("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas],
        ("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]


def sse_events(message: Mapping[str, Any]) -> list[Event]:
    """The event sequence the real API streams for ``message``.

    ``message_start`` carries the input/cache usage with ``output_tokens: 1``; ``message_delta`` carries the final,
    cumulative counts (and, as newer API versions do, the input/cache counts again).
    """
    usage = message.get("usage")
    started: dict[str, Any] = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    if usage is not None:
        started["usage"] = {**usage, "output_tokens": 1}
    delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
    }
    if usage is not None:
        kept = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
        delta["usage"] = {key: usage[key] for key in kept}
    blocks = [event for index, block in enumerate(message["content"]) for event in _block_events(index, block)]
    return [
        ("message_start", {"type": "message_start", "message": started}),
        ("ping", {"type": "ping"}),
        *blocks,
        ("message_delta", delta),
        ("message_stop", {"type": "message_stop"}),
    ]


def _encode_event(event: Event) -> bytes:
    name, data = event
    return f"event: {name}\ndata: {_dumps(data)}\n\n".encode()


def _dumps(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"))


def count_input_tokens(body: object) -> int:
    """Deterministic stand-in for ``count_tokens``: characters of all text in system + messages, // 4, at least 1."""
    if not isinstance(body, dict):
        return 1
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    contents = [body.get("system"), *(m.get("content") for m in messages if isinstance(m, dict))]
    return max(1, sum(map(_text_length, contents)) // 4)


def _text_length(content: object) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(b["text"]) for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return 0


def _timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as the API writes timestamps."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rate_limit_headers() -> list[tuple[str, str]]:
    reset = _timestamp(datetime.now(timezone.utc) + timedelta(minutes=1))
    headers: list[tuple[str, str]] = []
    for name, limit, remaining in _RATE_LIMITS:
        prefix = f"anthropic-ratelimit-{name}"
        headers += [
            (f"{prefix}-limit", str(limit)),
            (f"{prefix}-remaining", str(remaining)),
            (f"{prefix}-reset", reset),
        ]
    return headers


def _header_items(headers: HeadersLike) -> HeaderItems:
    if headers is None:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), str(value)) for name, value in items)


def _merge_headers(base: Iterable[tuple[str, str]], extra: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``base`` with every header named in ``extra`` replaced by extra's values (names compared case-insensitively)."""
    extra = list(extra)
    replaced = {name.lower() for name, _ in extra}
    return [(name, value) for name, value in base if name.lower() not in replaced] + extra


# --------------------------------------------------------------------------------------------------------------------
# Replies
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Reply:
    """One scripted answer. Build them with the classmethods (``Reply.message()``, ``Reply.error(...)``, ...).

    Each kind knows how to answer an :class:`_Exchange`; the server only decides *which* reply answers a request.
    """

    fault: ClassVar[bool] = True
    """Whether endpoints other than the message endpoints (count_tokens, batches) consume this reply."""

    headers: HeaderItems = ()
    """Extra response headers; they replace generated headers of the same name."""

    def respond(self, ex: _Exchange) -> None:
        raise NotImplementedError

    # -- constructors ------------------------------------------------------------------------------------------------

    @classmethod
    def message(
        cls,
        text: str = DEFAULT_TEXT,
        *,
        model: str | None = None,
        id: str | None = None,
        input_tokens: int = 10,
        output_tokens: int | None = None,
        cache_read_input_tokens: int = 0,
        cache_creation_input_tokens: int = 0,
        cache_creation_5m: int | None = None,
        cache_creation_1h: int | None = None,
        stop_reason: str | None = "end_turn",
        service_tier: str = "standard",
        content: Sequence[Mapping[str, Any]] | None = None,
        omit_usage: bool = False,
        headers: HeadersLike = None,
    ) -> MessageReply:
        """A successful message: JSON, or SSE when the request says ``"stream": true``.

        ``model`` defaults to the requested model, ``id`` to ``msg_fake_000001``-style ids, ``output_tokens`` to the
        number of words written. ``content`` (text / tool_use / thinking block dicts) replaces the single text block.
        ``omit_usage`` leaves ``usage`` out, to test code that must survive its absence.
        """
        return MessageReply(
            text=text,
            model=model,
            id=id,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_input_tokens=cache_read_input_tokens,
            cache_creation_input_tokens=cache_creation_input_tokens,
            cache_creation_5m=cache_creation_5m,
            cache_creation_1h=cache_creation_1h,
            stop_reason=stop_reason,
            service_tier=service_tier,
            content=None if content is None else tuple(dict(block) for block in content),
            omit_usage=omit_usage,
            headers=_header_items(headers),
        )

    @classmethod
    def error(
        cls,
        status: int,
        error_type: str,
        message: str | None = None,
        *,
        retry_after: float | str | None = None,
        headers: HeadersLike = None,
    ) -> ErrorReply:
        """An API error body with ``status``; ``retry_after`` sets the ``retry-after`` header exactly as given.

        Note: the SDK ignores ``retry-after: 0`` and falls back to its own backoff (about 0.5 s); use a small
        positive value such as 0.01 for fast retries.
        """
        return ErrorReply(
            status=status,
            error_type=error_type,
            message=_ERROR_MESSAGES.get(error_type, "Fake error") if message is None else message,
            retry_after=None if retry_after is None else str(retry_after),
            headers=_header_items(headers),
        )

    @classmethod
    def overloaded(cls, *, retry_after: float | str | None = None, headers: HeadersLike = None) -> ErrorReply:
        """529 ``overloaded_error``, what the API answers when it sheds load."""
        return cls.error(529, "overloaded_error", "Overloaded", retry_after=retry_after, headers=headers)

    @classmethod
    def rate_limited(cls, retry_after: float | str | None = 0, *, headers: HeadersLike = None) -> ErrorReply:
        """429 ``rate_limit_error`` with a ``retry-after`` header (omitted when ``retry_after`` is None).

        The SDK treats ``retry-after: 0`` as absent and backs off about 0.5 s; pass e.g. 0.01 for fast tests.
        """
        return cls.error(429, "rate_limit_error", retry_after=retry_after, headers=headers)

    @classmethod
    def reset(cls) -> ResetReply:
        """Close the connection abruptly (TCP reset) without answering: the SDK sees a connection error."""
        return ResetReply()

    @classmethod
    def delay(cls, seconds: float, then: Reply) -> DelayReply:
        """Wait, then answer with ``then``: for client timeouts. Stopping the server cuts the wait short."""
        return DelayReply(seconds=seconds, then=then)

    @classmethod
    def malformed_json(cls, status: int = 200, *, headers: HeadersLike = None) -> MalformedJsonReply:
        """``application/json`` whose body is cut off mid-object."""
        return MalformedJsonReply(status=status, headers=_header_items(headers))

    @classmethod
    def truncated_stream(
        cls, after_events: int, *, abrupt: bool = False, **message_kwargs: Any
    ) -> TruncatedStreamReply:
        """The SSE stream of ``Reply.message(**message_kwargs)``, cut after ``after_events`` events.

        ``abrupt=False`` ends the HTTP body cleanly (a stream without ``message_stop``); ``abrupt=True`` closes the
        socket mid-body, without the terminating chunk (a protocol error for the client).
        """
        return _specialise(
            cls.message(**message_kwargs), TruncatedStreamReply, after_events=after_events, abrupt=abrupt
        )

    @classmethod
    def stream_error(
        cls, after_events: int, error_type: str = "overloaded_error", message: str = "Overloaded", **message_kwargs: Any
    ) -> StreamErrorReply:
        """A 200 SSE stream whose first ``after_events`` events are followed by an ``error`` event, as the API does
        when it fails after the response has started."""
        return _specialise(
            cls.message(**message_kwargs),
            StreamErrorReply,
            after_events=after_events,
            error_type=error_type,
            error_message=message,
        )

    @classmethod
    def raw(
        cls,
        status: int,
        headers: Mapping[str, str] | Sequence[tuple[str, str]],
        body: bytes,
        *,
        chunks: Sequence[bytes] | None = None,
    ) -> RawReply:
        """A byte-exact response (for replaying recordings). Hop-by-hop headers are dropped: the server frames the
        body itself, with Content-Length, or chunked with ``chunks`` when given."""
        kept = tuple((name, value) for name, value in _header_items(headers) if name.lower() not in _HOP_BY_HOP)
        return RawReply(status=status, headers=kept, body=bytes(body), chunks=None if chunks is None else tuple(chunks))


@dataclass(frozen=True, kw_only=True)
class MessageReply(Reply):
    """A message, rendered per request (model and ids depend on it) and delivered as JSON or SSE."""

    fault: ClassVar[bool] = False

    text: str = DEFAULT_TEXT
    model: str | None = None
    id: str | None = None
    input_tokens: int = 10
    output_tokens: int | None = None
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_creation_5m: int | None = None
    cache_creation_1h: int | None = None
    stop_reason: str | None = "end_turn"
    service_tier: str = "standard"
    content: tuple[Mapping[str, Any], ...] | None = None
    omit_usage: bool = False

    def respond(self, ex: _Exchange) -> None:
        ex.answer(self)

    def deliver(self, ex: _Exchange, message: dict[str, Any], *, stream: bool) -> None:
        """Send the rendered message; subclasses change only how it travels."""
        if stream:
            ex.send_events(sse_events(message), self.headers)
        else:
            ex.send_json(200, message, self.headers, success=True)


@dataclass(frozen=True, kw_only=True)
class TruncatedStreamReply(MessageReply):
    """Always SSE; only the first ``after_events`` events, then a clean end or an abrupt close."""

    after_events: int
    abrupt: bool = False

    def deliver(self, ex: _Exchange, message: dict[str, Any], *, stream: bool) -> None:
        ex.send_events(sse_events(message)[: self.after_events], self.headers, complete=not self.abrupt)


@dataclass(frozen=True, kw_only=True)
class StreamErrorReply(MessageReply):
    """Always SSE; the first ``after_events`` events, then an ``error`` event and a clean end."""

    after_events: int
    error_type: str = "overloaded_error"
    error_message: str = "Overloaded"

    def deliver(self, ex: _Exchange, message: dict[str, Any], *, stream: bool) -> None:
        error = {"type": "error", "error": {"type": self.error_type, "message": self.error_message}}
        ex.send_events([*sse_events(message)[: self.after_events], ("error", error)], self.headers)


@dataclass(frozen=True, kw_only=True)
class ErrorReply(Reply):
    """An API error: ``{"type": "error", "error": {...}, "request_id": ...}`` with its status."""

    status: int
    error_type: str
    message: str
    retry_after: str | None = None

    def respond(self, ex: _Exchange) -> None:
        ex.send_error(self.status, self.error_type, self.message, self.headers, retry_after=self.retry_after)


@dataclass(frozen=True, kw_only=True)
class ResetReply(Reply):
    """No answer at all: the connection is reset."""

    def respond(self, ex: _Exchange) -> None:
        ex.reset()


@dataclass(frozen=True, kw_only=True)
class DelayReply(Reply):
    """Sleep, then answer with ``then`` (which may be any reply, another delay included)."""

    seconds: float
    then: Reply

    def respond(self, ex: _Exchange) -> None:
        ex.sleep(self.seconds)
        self.then.respond(ex)


@dataclass(frozen=True, kw_only=True)
class MalformedJsonReply(Reply):
    """A JSON content type with a truncated JSON body."""

    status: int = 200

    def respond(self, ex: _Exchange) -> None:
        ex.send(self.status, _merge_headers([("content-type", _JSON_CONTENT_TYPE)], self.headers), _MALFORMED_BODY)


@dataclass(frozen=True, kw_only=True)
class RawReply(Reply):
    """Status, headers and body exactly as given (the framing aside)."""

    status: int
    body: bytes
    chunks: tuple[bytes, ...] | None = None

    def respond(self, ex: _Exchange) -> None:
        if self.chunks is None:
            ex.send(self.status, self.headers, self.body)
        else:
            ex.send_chunks(self.status, self.headers, self.chunks)


def _specialise(base: MessageReply, kind: type[_M], **extra: Any) -> _M:
    """Turn a plain message reply into one of its delivery variants, keeping every message field."""
    values = {f.name: getattr(base, f.name) for f in fields(base)}
    return kind(**values, **extra)


# --------------------------------------------------------------------------------------------------------------------
# Shared server state
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class _Batch:
    info: dict[str, Any]
    results: bytes


@dataclass
class _State:
    """Everything handler threads share, behind one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    script: deque[Reply] = field(default_factory=deque)
    default: Reply = field(default_factory=Reply.message)
    requests: list[ReceivedRequest] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    batches: dict[str, _Batch] = field(default_factory=dict)

    def clear(self) -> None:
        with self.lock:
            self.script.clear()
            self.default = Reply.message()
            self.requests.clear()
            self.errors.clear()
            self.counters.clear()
            self.batches.clear()

    def new_id(self, prefix: str) -> str:
        """Deterministic ids, one counter per prefix: ``req_fake_000001``, ``msg_fake_000001``, ..."""
        with self.lock:
            self.counters[prefix] = number = self.counters.get(prefix, 0) + 1
        return f"{prefix}_{number:06d}"

    def take(self, policy: Literal["any", "faults", "none"]) -> Reply | None:
        """The reply for the next request: message endpoints take anything (else the default), others only faults."""
        with self.lock:
            if policy == "any":
                return self.script.popleft() if self.script else self.default
            if policy == "faults" and self.script and self.script[0].fault:
                return self.script.popleft()
            return None

    def record(self, request: ReceivedRequest) -> None:
        with self.lock:
            self.requests.append(request)

    def record_error(self, error: BaseException) -> None:
        with self.lock:
            self.errors.append(error)


# --------------------------------------------------------------------------------------------------------------------
# One request being answered
# --------------------------------------------------------------------------------------------------------------------


class _Exchange:
    """A request and the means to answer it: what replies and endpoints are allowed to do to the connection."""

    def __init__(self, handler: _Handler, request: ReceivedRequest, route: _Route, params: dict[str, str]) -> None:
        self.handler = handler
        self.request = request
        self.state = handler.server.state
        self.base_url = handler.server.base_url
        self._route = route
        self._params = params
        self._request_id: str | None = None
        self.started = False

    @property
    def request_id(self) -> str:
        """This request's ``request-id``, allocated when first needed so only answered requests use a number."""
        if self._request_id is None:
            self._request_id = self.state.new_id("req_fake")
        return self._request_id

    @property
    def body(self) -> dict[str, Any]:
        return self.request.json if isinstance(self.request.json, dict) else {}

    def answer(self, reply: MessageReply | None) -> None:
        """The endpoint's own answer, shaped by ``reply`` (a message reply, or None when nothing was scripted)."""
        self._route.answer(self, self._params, reply)

    # -- writing -----------------------------------------------------------------------------------------------------

    def send(self, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        self._start(status, [*headers, ("content-length", str(len(body)))])
        self._write(body)

    def send_json(
        self, status: int, payload: object, extra: Iterable[tuple[str, str]] = (), *, success: bool = False
    ) -> None:
        headers = [("content-type", _JSON_CONTENT_TYPE), *(_rate_limit_headers() if success else [])]
        self.send(status, _merge_headers(headers, extra), _dumps(payload).encode())

    def send_error(
        self,
        status: int,
        error_type: str,
        message: str,
        extra: Iterable[tuple[str, str]] = (),
        *,
        retry_after: str | None = None,
    ) -> None:
        body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": self.request_id}
        headers = [("retry-after", retry_after)] if retry_after is not None else []
        self.send_json(status, body, _merge_headers(headers, extra))

    def send_events(self, events: Iterable[Event], extra: HeaderItems = (), *, complete: bool = True) -> None:
        headers = [("content-type", _SSE_CONTENT_TYPE), ("cache-control", "no-cache"), *_rate_limit_headers()]
        self.send_chunks(200, _merge_headers(headers, extra), map(_encode_event, events), complete=complete)

    def send_chunks(
        self, status: int, headers: Iterable[tuple[str, str]], chunks: Iterable[bytes], *, complete: bool = True
    ) -> None:
        """Chunked transfer encoding, one chunk per item, each written (and so flushed) as soon as it is ready.

        ``complete=False`` closes the connection instead of sending the terminating chunk.
        """
        self._start(status, [*headers, ("transfer-encoding", "chunked")])
        for chunk in chunks:
            if chunk:  # an empty chunk would end the body
                self._write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if complete:
            self._write(b"0\r\n\r\n")
        else:
            self.handler.close_connection = True
            self.handler.connection.shutdown(socket.SHUT_RDWR)

    def reset(self) -> None:
        """Close with SO_LINGER 0, so the kernel sends a RST instead of a FIN."""
        handler = self.handler
        handler.close_connection = True
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.rfile.close()  # the reader holds a reference that would otherwise delay the real close
        handler.connection.close()

    def sleep(self, seconds: float) -> None:
        self.state.stopping.wait(seconds)

    def _start(self, status: int, headers: list[tuple[str, str]]) -> None:
        handler = self.handler
        handler.send_response_only(status, _REASONS.get(status))
        names = {name.lower() for name, _ in headers}
        request_id = self.request_id  # allocated even when a replayed recording brings its own
        defaults = [("request-id", request_id), ("date", formatdate(usegmt=True))]
        for name, value in [*headers, *((n, v) for n, v in defaults if n not in names)]:
            handler.send_header(name, value)
        handler.end_headers()
        self.started = True

    def _write(self, data: bytes) -> None:
        self.handler.wfile.write(data)


# --------------------------------------------------------------------------------------------------------------------
# Endpoints
# --------------------------------------------------------------------------------------------------------------------

Answer = Callable[[_Exchange, dict[str, str], MessageReply | None], None]


def _answer_message(
    ex: _Exchange, params: dict[str, str], reply: MessageReply | None, *, streaming: bool = True
) -> None:
    """Messages (direct, Vertex ``rawPredict``, Bedrock ``invoke``): render ``reply`` for this request."""
    reply = reply or Reply.message()
    model = reply.model or params.get("model") or ex.body.get("model") or DEFAULT_MODEL
    msg_id = reply.id or ex.state.new_id("msg_fake")
    message = render_message(reply, msg_id=msg_id, model=str(model), new_id=ex.state.new_id)
    reply.deliver(ex, message, stream=streaming and ex.body.get("stream") is True)


def _answer_count_tokens(ex: _Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    ex.send_json(200, {"input_tokens": count_input_tokens(ex.request.json)}, success=True)


def _answer_create_batch(ex: _Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    """Create a batch that has already ended: every request succeeded with a message rendered like ``reply``."""
    requests = ex.body.get("requests")
    if not isinstance(requests, list) or not all(isinstance(r, dict) for r in requests):
        ex.send_error(400, "invalid_request_error", "requests: expected a list of {custom_id, params} objects")
        return
    template = reply or (ex.state.default if isinstance(ex.state.default, MessageReply) else Reply.message())
    batch_id = ex.state.new_id("msgbatch_fake")
    lines = [_batch_result(ex, template, request) for request in requests]
    now = datetime.now(timezone.utc)
    info = {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": "ended",
        "request_counts": {"processing": 0, "succeeded": len(requests), "errored": 0, "canceled": 0, "expired": 0},
        "created_at": _timestamp(now),
        "ended_at": _timestamp(now),
        "expires_at": _timestamp(now + timedelta(days=1)),
        "archived_at": None,
        "cancel_initiated_at": None,
        "results_url": f"{ex.base_url}/v1/messages/batches/{batch_id}/results",
    }
    with ex.state.lock:
        ex.state.batches[batch_id] = _Batch(info, b"".join(_dumps(line).encode() + b"\n" for line in lines))
    ex.send_json(200, info, success=True)


def _batch_result(ex: _Exchange, template: MessageReply, request: Mapping[str, Any]) -> dict[str, Any]:
    params = request.get("params") if isinstance(request.get("params"), dict) else {}
    model = str(template.model or params.get("model") or DEFAULT_MODEL)
    msg_id = template.id or ex.state.new_id("msg_fake")
    message = render_message(template, msg_id=msg_id, model=model, new_id=ex.state.new_id, service_tier="batch")
    return {"custom_id": request.get("custom_id"), "result": {"type": "succeeded", "message": message}}


def _answer_batch(ex: _Exchange, params: dict[str, str], reply: MessageReply | None, *, results: bool) -> None:
    with ex.state.lock:
        batch = ex.state.batches.get(params["batch_id"])
    if batch is None:
        ex.send_error(404, "not_found_error", f"message batch {params['batch_id']!r} not found")
    elif results:
        ex.send(200, [("content-type", _JSONL_CONTENT_TYPE), *_rate_limit_headers()], batch.results)
    else:
        ex.send_json(200, batch.info, success=True)


def _answer_bedrock_stream(ex: _Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    message = (
        "The fake Anthropic API does not support Bedrock streaming: invoke-with-response-stream uses the binary "
        "AWS event-stream encoding. Use /model/{model}/invoke (non-streaming) instead."
    )
    ex.send_error(400, "invalid_request_error", message)


def _answer_not_found(ex: _Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    ex.send_error(404, "not_found_error", f"Not found: {ex.request.method} {ex.request.path}")


@dataclass(frozen=True)
class _Route:
    """``method`` + path regex (query string excluded) -> answer, and which scripted replies it consumes."""

    method: str
    pattern: str
    answer: Answer
    consumes: Literal["any", "faults", "none"]


_VERTEX_MODELS = r"(?:/v1)?/projects/[^/]+/locations/[^/]+/publishers/anthropic/models"

_ROUTES: tuple[_Route, ...] = (
    _Route("POST", r"/v1/messages", _answer_message, "any"),
    _Route("POST", r"/v1/messages/count_tokens", _answer_count_tokens, "faults"),
    _Route("POST", r"/v1/messages/batches", _answer_create_batch, "faults"),
    _Route("GET", r"/v1/messages/batches/(?P<batch_id>[^/]+)", partial(_answer_batch, results=False), "faults"),
    _Route("GET", r"/v1/messages/batches/(?P<batch_id>[^/]+)/results", partial(_answer_batch, results=True), "faults"),
    _Route("POST", _VERTEX_MODELS + r"/count-tokens:rawPredict", _answer_count_tokens, "faults"),
    _Route("POST", _VERTEX_MODELS + r"/(?P<model>[^/:]+):(?:stream)?[rR]awPredict", _answer_message, "any"),
    _Route("POST", r"/model/(?P<model>[^/]+)/invoke", partial(_answer_message, streaming=False), "any"),
    _Route("POST", r"/model/(?P<model>[^/]+)/invoke-with-response-stream", _answer_bedrock_stream, "none"),
)

_NOT_FOUND = _Route("*", "", _answer_not_found, "none")


def _resolve(method: str, target: str) -> tuple[_Route, dict[str, str]]:
    path = urlsplit(target).path
    for route in _ROUTES:
        match = re.fullmatch(route.pattern, path)
        if match and route.method == method:
            return route, {name: unquote(value) for name, value in match.groupdict().items()}
    return _NOT_FOUND, {}


# --------------------------------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive (the SDK pools connections); silent, because tests read stderr too."""

    protocol_version = "HTTP/1.1"
    server_version = "fake-anthropic"
    disable_nagle_algorithm = True  # small SSE chunks must not wait for delayed ACKs
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines on stderr."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        request = ReceivedRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=(body := self._read_body()),
            json=_decode_json(body),
        )
        state = self.server.state
        state.record(request)
        route, params = _resolve(request.method, request.path)
        exchange = _Exchange(self, request, route, params)
        reply = state.take(route.consumes)
        try:
            if reply is None:
                exchange.answer(None)
            else:
                reply.respond(exchange)
        except ConnectionError:  # the client went away (timeout, cancelled stream): nothing to report
            self.close_connection = True
        except Exception as error:
            state.record_error(error)
            self.close_connection = True
            if not exchange.started:  # tell the client too, as a 500 it can show
                with contextlib.suppress(OSError):
                    exchange.send_error(500, "api_error", f"fake server error: {error!r}")

    def _read_body(self) -> bytes:
        length = self.headers.get("content-length")
        if length is not None:
            return self.rfile.read(int(length))
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return b"".join(iter(self._read_chunk, b""))
        return b""

    def _read_chunk(self) -> bytes:
        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
        data = self.rfile.read(size) if size else b""
        self.rfile.readline()  # the CRLF after the data (or after the last, empty chunk)
        return data


def _decode_json(body: bytes) -> object | None:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


class _Server(ThreadingHTTPServer):
    """A threading server that can stop promptly: it knows its open connections and handler threads."""

    daemon_threads = True
    block_on_close = False  # we join our own handler threads, with a timeout
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], state: _State) -> None:
        self.state = state
        self._open: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._track = threading.Lock()
        super().__init__(address, _Handler)
        host, port = self.server_address[:2]
        self.base_url = f"http://{host}:{port}"

    def server_bind(self) -> None:
        """Bind without HTTPServer's ``socket.getfqdn`` call, which can hang for seconds without DNS."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._track:  # registered by the accept loop, so stop() cannot miss a connection accepted just before
            self._open.add(request)
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._track:
            self._handler_threads.add(threading.current_thread())
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._track:
                self._handler_threads.discard(threading.current_thread())

    def shutdown_request(self, request: Any) -> None:
        with self._track:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that disconnect; keeps anything else in ``FakeAnthropic.errors`` instead of stderr."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError) or (isinstance(error, OSError) and self.state.stopping.is_set()):
            return
        if error is not None:
            self.state.record_error(error)

    def close_connections(self, timeout: float) -> None:
        """Wake handler threads blocked on idle keep-alive connections, then wait for them to finish."""
        with self._track:
            connections, threads = list(self._open), list(self._handler_threads)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout)


# --------------------------------------------------------------------------------------------------------------------
# The public object
# --------------------------------------------------------------------------------------------------------------------


class FakeAnthropic:
    """A fake Anthropic API on ``127.0.0.1`` and an ephemeral port, served from a background thread.

    Point the real SDK at :attr:`base_url`, script replies with :meth:`enqueue`, assert on :attr:`requests`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._address = (host, port)
        self._state = _State()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    def start(self) -> FakeAnthropic:
        if self._server is not None:
            raise RuntimeError("FakeAnthropic is already running")
        self._state.stopping.clear()
        self._server = _Server(self._address, self._state)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() may wait for the accept loop
            name=f"fake-anthropic:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting, close every connection (idle keep-alive ones included) and join the threads."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._state.stopping.set()  # also cuts Reply.delay sleeps short
        server.shutdown()
        server.server_close()
        server.close_connections(timeout)
        thread.join(timeout)
        self._server = self._thread = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- where -------------------------------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return str(self._running.server_address[0])

    @property
    def port(self) -> int:
        return int(self._running.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, for ``anthropic.Anthropic(base_url=...)``."""
        return self._running.base_url

    @property
    def _running(self) -> _Server:
        if self._server is None:
            raise RuntimeError("FakeAnthropic is not running; use start() or a with block")
        return self._server

    # -- script ------------------------------------------------------------------------------------------------------

    def enqueue(self, *replies: Reply) -> None:
        """Append replies to the script; each request to a message endpoint takes the next one."""
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"expected a Reply, got {reply!r}")
        with self._state.lock:
            self._state.script.extend(replies)

    @property
    def default(self) -> Reply:
        """The reply used when the script is empty (initially ``Reply.message()``)."""
        with self._state.lock:
            return self._state.default

    @default.setter
    def default(self, reply: Reply) -> None:
        if not isinstance(reply, Reply):
            raise TypeError(f"expected a Reply, got {reply!r}")
        with self._state.lock:
            self._state.default = reply

    def clear(self) -> None:
        """Forget the script, the received requests, errors, batches and id counters; restore the default reply."""
        self._state.clear()

    # -- what happened -----------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received, in arrival order (a snapshot)."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected exceptions inside the server (client disconnects excluded), for debugging a test."""
        with self._state.lock:
            return list(self._state.errors)

    def format_errors(self) -> str:
        """The server errors with their tracebacks, for an assertion message."""
        return "\n".join("".join(traceback.format_exception(error)) for error in self.errors)

    def __repr__(self) -> str:
        where = self._server.base_url if self._server else "stopped"
        return f"FakeAnthropic({where}, {len(self.requests)} requests)"


# --------------------------------------------------------------------------------------------------------------------
# CLI: python -m anthropic_otel.testing.fake_api
# --------------------------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake API in the foreground until Ctrl-C, for demos: point ``ANTHROPIC_BASE_URL`` at it."""
    parser = argparse.ArgumentParser(prog="python -m anthropic_otel.testing.fake_api", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    with FakeAnthropic(args.host, args.port) as api:
        print(api.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
