"""Streams are observed in place, never wrapped: the application keeps the SDK's very own `Stream` object.

(A proxy would not do: on anthropic 0.x, `isinstance(x, Stream)` is true only for the exact class.)

Every SDK generation makes a stream's events with `Stream.__stream__` (or `AsyncStream.__stream__`) over the HTTP
response. The plugin maps that response to its call (`watch`), wraps `__stream__` so that each event passes the call
on its way out, and `close` so that closing ends the call. This also covers stream helpers that build a second
`Stream` over the same response (0.x), and raw responses parsed into a stream later. A response dropped unread
ends its call when it is collected. The call itself makes sure it ends only once.

A dropped stream is collected wherever the garbage collector happens to run: possibly inside the OpenTelemetry
SDK, holding one of its locks (an instrument's, while it records a point), on any thread. Ending the call there
would take the same lock again and hang the application. So the collection of the response, or of the generator
of its events, only queues the call with the time it ended (`end_later`), and one thread of the plugin's own ends
it (`_Ender`): one per process, started with the first stream, never one per call.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
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
        # Runs inside the garbage collector: nothing here may take a lock (see the module's docstring).
        entry = WATCHED.get(key)
        if entry is not None and entry[0] is ref:
            WATCHED.pop(key, None)
            end_later(entry[1])

    try:
        ENDER.ensure_started()
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


DROPPED: queue.SimpleQueue[tuple[Call, int]] = queue.SimpleQueue()
"""The calls of streams left unread (collected, or their generator finalized), with the time each was left, for
`ENDER` to end. (A
`SimpleQueue`: its `put` is safe in a weakref callback, as the standard library documents.) Taken from only
under `ENDER.busy`, so that whoever holds it with the queue empty knows every call queued before has ended."""


class _Ender:
    """The one thread that ends the calls of dropped streams, off the stack the garbage collector ran on."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.starting = threading.Lock()
        self.busy = threading.Lock()
        """Held while the calls in `DROPPED` are being ended."""
        self.wake: queue.SimpleQueue[None] = queue.SimpleQueue()
        """One item per call queued: the thread waits on this, never on `DROPPED` (see there)."""

    def ensure_started(self) -> None:
        """Starts the thread, the first time. Never raises: without it (a process shutting down cannot start
        threads), dropped streams end their calls at exit."""
        if self.thread is not None:
            return
        try:
            with self.starting:
                if self.thread is None:
                    thread = threading.Thread(target=self.run, name="anthropic-otel-dropped-streams", daemon=True)
                    thread.start()
                    self.thread = thread
        except Exception:
            log.debug("Could not start the thread that ends the calls of dropped streams", exc_info=True)

    def run(self) -> None:
        while True:
            self.wake.get()
            end_dropped()

    def forget(self) -> None:
        """In a forked child: the thread did not come along, the next stream starts another. Its locks and the
        queue it waited on are made anew: the parent's may be held or waited on by a thread the child lacks."""
        self.thread = None
        self.starting = threading.Lock()
        self.busy = threading.Lock()
        self.wake = queue.SimpleQueue()


ENDER = _Ender()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=ENDER.forget)


def end_later(call: Call) -> None:
    """Has the plugin's thread end `call`, as ended now, unless it has ended already (most streams are read to
    their end: collecting them must not wake the thread). Takes no lock: safe inside the garbage collector."""
    if call.finished:
        return
    DROPPED.put((call, time.time_ns()))
    ENDER.wake.put(None)


def _end(call: Call, left_ns: int) -> None:
    try:
        call.stream_ended("closed", end_ns=left_ns)
    except Exception:
        log.debug("Could not end the call of a dropped stream", exc_info=True)


def end_dropped() -> None:
    """Ends the calls of the streams left unread so far (`end_later`), on this thread; when it returns, they have all
    ended, here or on the plugin's thread. (At exit, and for whoever must see their spans at once: a test, say.)"""
    with ENDER.busy:
        while True:
            try:
                item = DROPPED.get_nowait()
            except queue.Empty:
                return
            _end(*item)


_AT_EXIT: list[object] = []


def _end_watched() -> None:
    """At exit, ends the calls of streams dropped or still open, so that their spans are exported with the rest.
    The SDK's own span of an open stream would never end either (it ends when the stream does): it is ended here
    too."""
    end_dropped()
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
            try:
                if (kind := event.type) not in call.skipping:
                    call.stream_event(event, kind)
            except Exception:  # an event without a hashable `type` attribute: decoded JSON, say
                call.stream_event(event, None)
            yield event
    except GeneratorExit:
        # Left unread: closed by the application (`close`, or the end of a `with` block, end the call on their
        # own), or finalized when the generator is collected, wherever that happens (see the module's docstring).
        end_later(call)
        raise
    except BaseException as err:
        call.stream_ended("failed", err)
        raise
    call.stream_ended("read")


async def observed_async(events: AsyncIterator[Any], call: Call) -> AsyncIterator[Any]:
    try:
        async for event in events:
            try:
                if (kind := event.type) not in call.skipping:
                    call.stream_event(event, kind)
            except Exception:  # an event without a hashable `type` attribute: decoded JSON, say
                call.stream_event(event, None)
            yield event
    except GeneratorExit:
        # Left unread: closed by the application (`close`, or the end of a `with` block, end the call on their
        # own), or finalized when the generator is collected, wherever that happens (see the module's docstring).
        end_later(call)
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
