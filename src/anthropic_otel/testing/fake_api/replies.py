"""Scripted answers: a message (JSON or SSE), an API error, or a fault (reset, delay, truncated or malformed body).

Each reply knows how to answer an :class:`~.server.Exchange`; the server only decides *which* reply answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .render import (
    DEFAULT_TEXT,
    JSON_CONTENT_TYPE,
    HeaderItems,
    HeadersLike,
    dumps,
    encode_event,
    header_items,
    merge_headers,
    sse_events,
)

if TYPE_CHECKING:
    from .server import Exchange

_M = TypeVar("_M", bound="MessageReply")

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


_MALFORMED_BODY = b'{"id": "msg_fake", "type": "message", "usage": {"input_to'


@dataclass(frozen=True, kw_only=True)
class Reply:
    """One scripted answer. Build them with the classmethods (``Reply.message()``, ``Reply.error(...)``, ...).

    Each kind knows how to answer an :class:`Exchange`; the server only decides *which* reply answers a request.
    """

    fault: ClassVar[bool] = True
    """Whether endpoints other than the message endpoints (count_tokens, batches) consume this reply."""

    headers: HeaderItems = ()
    """Extra response headers; they replace generated headers of the same name."""

    def respond(self, ex: Exchange) -> None:
        raise NotImplementedError

    # -- constructors ------------------------------------------------------------------------------------------------

    @classmethod
    def message(
        cls,
        text: str = DEFAULT_TEXT,
        *,
        model: str | None = None,
        id: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_input_tokens: int | None = None,
        cache_creation_input_tokens: int | None = None,
        cache_creation_5m: int | None = None,
        cache_creation_1h: int | None = None,
        stop_reason: str | None = "end_turn",
        service_tier: str = "standard",
        content: Sequence[Mapping[str, Any]] | None = None,
        omit_usage: bool = False,
        speed: str | None = None,
        inference_geo: str | None = None,
        web_search_requests: int | None = None,
        web_fetch_requests: int | None = None,
        thinking_tokens: int | None = None,
        usage_patch: Mapping[str, object] | None = None,
        headers: HeadersLike = None,
    ) -> MessageReply:
        """A successful message: JSON, or SSE when the request says ``"stream": true``.

        ``model`` defaults to the requested model, ``id`` to ``msg_fake_000001``-style ids. Counts left out are
        derived from the request when the fake simulates tokens (:class:`~.simulation.Simulation`), else
        ``input_tokens`` is 10, the cache counts 0 and ``output_tokens`` the number of words written. ``content``
        (text / tool_use / thinking block dicts) replaces the single text block. ``omit_usage`` leaves ``usage``
        out, to test code that must survive its absence.

        Newer usage fields appear only when given: ``speed`` (``"standard"``/``"fast"``), ``inference_geo``
        (``"global"``/``"us"``), ``server_tool_use`` (from ``web_search_requests`` / ``web_fetch_requests``) and
        ``output_tokens_details`` (from ``thinking_tokens``). ``usage_patch`` is applied last, verbatim, to make
        usage wrong on purpose: ``{"input_tokens": -1}``, ``{"output_tokens": "12"}``, ``{"output_tokens": OMIT}``.
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
            speed=speed,
            inference_geo=inference_geo,
            web_search_requests=web_search_requests,
            web_fetch_requests=web_fetch_requests,
            thinking_tokens=thinking_tokens,
            usage_patch=tuple((usage_patch or {}).items()),
            headers=header_items(headers),
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
            headers=header_items(headers),
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
        return MalformedJsonReply(status=status, headers=header_items(headers))

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
    def reset_mid_stream(cls, after_events: int, **message_kwargs: Any) -> ResetStreamReply:
        """The SSE stream of ``Reply.message(**message_kwargs)``, reset (TCP RST) after ``after_events`` events."""
        return _specialise(cls.message(**message_kwargs), ResetStreamReply, after_events=after_events)

    @classmethod
    def hang(cls) -> HangReply:
        """Never answer: hold the connection until the client gives up (its timeout) or the server stops."""
        return HangReply()

    @classmethod
    def huge(cls, size: int = 8_000_000, **message_kwargs: Any) -> MessageReply:
        """A message whose text is ``size`` characters of words (8 MB by default), for memory and buffering."""
        words = "lorem ipsum dolor sit amet " * (size // 27 + 1)
        return cls.message(words[:size], **message_kwargs)

    @classmethod
    def non_utf8(cls, **message_kwargs: Any) -> NonUtf8Reply:
        """A message (JSON or SSE) whose text carries bytes that are not UTF-8 (``0xff 0xfe``) in place of
        ``NonUtf8Reply.MARK``; the text defaults to one with the mark in the middle."""
        message_kwargs.setdefault("text", f"before {NonUtf8Reply.MARK} after")
        return _specialise(cls.message(**message_kwargs), NonUtf8Reply)

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
        kept = tuple((name, value) for name, value in header_items(headers) if name.lower() not in _HOP_BY_HOP)
        return RawReply(status=status, headers=kept, body=bytes(body), chunks=None if chunks is None else tuple(chunks))


@dataclass(frozen=True, kw_only=True)
class MessageReply(Reply):
    """A message, rendered per request (model and ids depend on it) and delivered as JSON or SSE."""

    fault: ClassVar[bool] = False

    text: str = DEFAULT_TEXT
    model: str | None = None
    id: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_creation_5m: int | None = None
    cache_creation_1h: int | None = None
    stop_reason: str | None = "end_turn"
    service_tier: str = "standard"
    content: tuple[Mapping[str, Any], ...] | None = None
    omit_usage: bool = False
    speed: str | None = None
    inference_geo: str | None = None
    web_search_requests: int | None = None
    web_fetch_requests: int | None = None
    thinking_tokens: int | None = None
    usage_patch: tuple[tuple[str, object], ...] = ()

    def respond(self, ex: Exchange) -> None:
        ex.answer(self)

    def deliver(self, ex: Exchange, message: dict[str, Any], *, stream: bool) -> None:
        """Send the rendered message; subclasses change only how it travels."""
        if stream:
            ex.send_events(sse_events(message), self.headers)
        else:
            ex.send_message(message, self.headers)


@dataclass(frozen=True, kw_only=True)
class TruncatedStreamReply(MessageReply):
    """Always SSE; only the first ``after_events`` events, then a clean end or an abrupt close."""

    after_events: int
    abrupt: bool = False

    def deliver(self, ex: Exchange, message: dict[str, Any], *, stream: bool) -> None:
        ex.send_events(
            sse_events(message)[: self.after_events], self.headers, end="close" if self.abrupt else "complete"
        )


@dataclass(frozen=True, kw_only=True)
class StreamErrorReply(MessageReply):
    """Always SSE; the first ``after_events`` events, then an ``error`` event and a clean end."""

    after_events: int
    error_type: str = "overloaded_error"
    error_message: str = "Overloaded"

    def deliver(self, ex: Exchange, message: dict[str, Any], *, stream: bool) -> None:
        error = {"type": "error", "error": {"type": self.error_type, "message": self.error_message}}
        ex.send_events([*sse_events(message)[: self.after_events], ("error", error)], self.headers)


@dataclass(frozen=True, kw_only=True)
class ResetStreamReply(MessageReply):
    """Always SSE; the first ``after_events`` events, then a connection reset."""

    after_events: int

    def deliver(self, ex: Exchange, message: dict[str, Any], *, stream: bool) -> None:
        ex.send_events(sse_events(message)[: self.after_events], self.headers, end="reset")


@dataclass(frozen=True, kw_only=True)
class NonUtf8Reply(MessageReply):
    """A message whose encoded body has ``0xff 0xfe`` where its text has :attr:`MARK`."""

    MARK: ClassVar[str] = "@@not-utf-8@@"

    def deliver(self, ex: Exchange, message: dict[str, Any], *, stream: bool) -> None:
        mark, bad = self.MARK.encode(), b"\xff\xfe"
        if stream:
            chunks = [encode_event(event).replace(mark, bad) for event in sse_events(message)]
            ex.send_chunks(200, merge_headers(ex.event_headers(), self.headers), chunks)
        else:
            body = dumps(message).encode().replace(mark, bad)
            ex.send(200, merge_headers([("content-type", JSON_CONTENT_TYPE)], self.headers), body)


@dataclass(frozen=True, kw_only=True)
class ErrorReply(Reply):
    """An API error: ``{"type": "error", "error": {...}, "request_id": ...}`` with its status."""

    status: int
    error_type: str
    message: str
    retry_after: str | None = None

    def respond(self, ex: Exchange) -> None:
        ex.send_error(self.status, self.error_type, self.message, self.headers, retry_after=self.retry_after)


@dataclass(frozen=True, kw_only=True)
class ResetReply(Reply):
    """No answer at all: the connection is reset."""

    def respond(self, ex: Exchange) -> None:
        ex.reset()


@dataclass(frozen=True, kw_only=True)
class DelayReply(Reply):
    """Sleep, then answer with ``then`` (which may be any reply, another delay included)."""

    seconds: float
    then: Reply

    def respond(self, ex: Exchange) -> None:
        ex.sleep(self.seconds)
        self.then.respond(ex)


@dataclass(frozen=True, kw_only=True)
class HangReply(Reply):
    """No answer, ever: the request is read and the connection held open."""

    def respond(self, ex: Exchange) -> None:
        ex.hang()


@dataclass(frozen=True, kw_only=True)
class MalformedJsonReply(Reply):
    """A JSON content type with a truncated JSON body."""

    status: int = 200

    def respond(self, ex: Exchange) -> None:
        ex.send(self.status, merge_headers([("content-type", JSON_CONTENT_TYPE)], self.headers), _MALFORMED_BODY)


@dataclass(frozen=True, kw_only=True)
class RawReply(Reply):
    """Status, headers and body exactly as given (the framing aside)."""

    status: int
    body: bytes
    chunks: tuple[bytes, ...] | None = None

    def respond(self, ex: Exchange) -> None:
        if self.chunks is None:
            ex.send(self.status, self.headers, self.body)
        else:
            ex.send_chunks(self.status, self.headers, self.chunks)


def _specialise(base: MessageReply, kind: type[_M], **extra: Any) -> _M:
    """Turn a plain message reply into one of its delivery variants, keeping every message field."""
    values = {f.name: getattr(base, f.name) for f in fields(base)}
    return kind(**values, **extra)
