"""Streams are observed in place, never wrapped: the application keeps the SDK's very own `Stream` object.

(A proxy would not do: on anthropic 0.x, `isinstance(x, Stream)` is true only for the exact class.)

Every SDK generation makes a stream's events with `Stream.__stream__` (or `AsyncStream.__stream__`) over the HTTP
response. The plugin maps that response to its call (`watch`), wraps `__stream__` so that each event passes the call
on its way out, and `close` so that closing ends the call. This also covers stream helpers that build a second
`Stream` over the same response (0.x), and raw responses parsed into a stream later. A response dropped unread
ends its call when it is collected. The call itself makes sure it ends only once.
"""

from __future__ import annotations

import atexit
import logging
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

from . import sdk_compat
from .call import CURRENT, Call

log = logging.getLogger(__name__)

WATCHED: dict[int, tuple[weakref.ref[Any], Call]] = {}
"""id(HTTP response) -> (a weak reference to the response, the call whose events it carries).

A plain dict with one weak reference per response, whose callback ends the call when the response is collected
unread: a `WeakKeyDictionary` plus a `weakref.finalize` did the same at ten times the cost, on every stream. The
dict holds the references, so their callbacks run even when the response dies in a reference cycle."""


def watch(response: Any, call: Call) -> None:
    """Routes the events of `response` to `call`, and ends `call` when the response is collected. Never raises."""
    key = id(response)

    def collected(ref: weakref.ref[Any]) -> None:
        entry = WATCHED.get(key)
        if entry is not None and entry[0] is ref:
            WATCHED.pop(key, None)
            entry[1].stream_ended("closed")

    try:
        WATCHED[key] = (weakref.ref(response, collected), call)
        if not _AT_EXIT:
            # Registered at the first stream, not at import: exit hooks run last-registered first, and this one
            # must end the open calls before the tracer provider's own hook shuts the exporters down.
            _AT_EXIT.append(atexit.register(_end_watched))
    except Exception:
        log.debug("Could not watch the stream of an API call", exc_info=True)
        call.finish()


def watched(response: Any) -> Call | None:
    """The call whose events `response` carries, if it is watched."""
    entry = WATCHED.get(id(response))
    return entry[1] if entry is not None and entry[0]() is response else None


_AT_EXIT: list[object] = []


def _end_watched() -> None:
    """At exit, ends the calls of streams still open, so that their spans are exported with the rest. The SDK's
    own span of such a stream would never end either (it ends when the stream does): it is ended here too."""
    for _, call in list(WATCHED.values()):
        call.end_at_exit()


def call_of(stream: Any) -> Call | None:
    """The call of `stream`: by its response, or the call running now (a stream made inside the request, as 0.x
    makes its events there, before the response is watched)."""
    try:
        call = watched(stream.response)
    except Exception:
        return None
    if call is None and (current := CURRENT.get()) is not None and current.collecting:
        return current
    return call


def observed(events: Iterator[Any], call: Call) -> Iterator[Any]:
    try:
        for event in events:
            call.stream_event(event)
            yield event
    except GeneratorExit:
        call.stream_ended("closed")
        raise
    except BaseException as err:
        call.stream_ended("failed", err)
        raise
    call.stream_ended("read")


async def observed_async(events: AsyncIterator[Any], call: Call) -> AsyncIterator[Any]:
    try:
        async for event in events:
            call.stream_event(event)
            yield event
    except GeneratorExit:
        call.stream_ended("closed")
        raise
    except BaseException as err:
        call.stream_ended("failed", err)
        raise
    call.stream_ended("read")


def stream_events(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Wrapper of `Stream.__stream__`."""
    events = wrapped(*args, **kwargs)
    call = call_of(instance)
    return events if call is None else observed(events, call)


def stream_events_async(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Wrapper of `AsyncStream.__stream__`."""
    events = wrapped(*args, **kwargs)
    call = call_of(instance)
    return events if call is None else observed_async(events, call)


def stream_close(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Wrapper of `Stream.close`."""
    try:
        return wrapped(*args, **kwargs)
    finally:
        if (call := call_of(instance)) is not None:
            call.stream_ended("closed")


async def stream_close_async(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Wrapper of `AsyncStream.close`."""
    try:
        return await wrapped(*args, **kwargs)
    finally:
        if (call := call_of(instance)) is not None:
            call.stream_ended("closed")


def response_close(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Wrapper of the HTTP library's `Response.close`: a raw, non-streamed response the application read itself
    (`with_streaming_response`) ends its call here, with the Message its body held."""
    try:
        return wrapped(*args, **kwargs)
    finally:
        raw_response_done(instance)


async def response_aclose(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Wrapper of the HTTP library's `Response.aclose`, as `response_close`."""
    try:
        return await wrapped(*args, **kwargs)
    finally:
        raw_response_done(instance)


def raw_response_done(response: Any) -> None:
    """Ends the call of a raw, non-streamed response once its body is readable. The HTTP library closes a body as
    soon as it has read it, before the content is set; the SDK closes it again when the application is done."""
    call = watched(response) if WATCHED else None
    if call is not None and not call.request.stream and sdk_compat.read_body(response) is not None:
        call.returned_body(response)
