"""The span sink: exactly one CLIENT span per API call, on every SDK generation.

- anthropic 1.14 and newer start their own span (`anthropic.messages.create`, scope `com.anthropic.sdk.python`).
  The plugin then starts none: it holds back the SDK's `end()` of that span (`hold`) until the call's record is
  written into it, because for a plain call the SDK ends its span before the response reaches the application.
- Older SDKs, and clients with native tracing off: the plugin starts the span itself, with the same name, kind and
  attribute names, so one query serves every version.

`CallSpan` owns everything about a call's span: it starts one or adopts the SDK's, records the first request
and the retry events, and ends it from the call's record (`write`, the span sink). Nothing else touches span
state. The attributes are listed in two functions, `start_attributes` (the request) and `end_attributes` (the
record).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import wrapt
from opentelemetry import context, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from . import extract, sdk_compat
from . import names as n
from .cost import Cost, Unpriced

if TYPE_CHECKING:
    from .record import Attempt, CallRecord

log = logging.getLogger(__name__)

OK = Status(StatusCode.OK)
ERROR = Status(StatusCode.ERROR)


def start_attributes(
    request: extract.RequestFields,
    provider: str,
    server_address: str | None,
    server_port: int | None,
    attribution: Mapping[str, str],
) -> dict[str, AttributeValue]:
    """What the span starts with (so that a sampler sees it), read off the request, and the call's attribution.

    Here and in the other attribute builders, a value the call lacks is left out by an `if` per name: four times
    cheaper than filtering the `None`s out of a dict literal, and these run on every call."""
    values: dict[str, AttributeValue] = {n.OPERATION: "chat", n.PROVIDER: provider}
    if request.model is not None:
        values[n.REQUEST_MODEL] = request.model
    if request.max_tokens is not None:
        values[n.REQUEST_MAX_TOKENS] = request.max_tokens
    if request.temperature is not None:
        values[n.REQUEST_TEMPERATURE] = request.temperature
    if request.top_p is not None:
        values[n.REQUEST_TOP_P] = request.top_p
    if request.top_k is not None:
        values[n.REQUEST_TOP_K] = request.top_k
    if request.stop_sequences is not None:
        values[n.REQUEST_STOP_SEQUENCES] = request.stop_sequences
    if request.stream:
        values[n.REQUEST_STREAM] = True
    if server_address is not None:
        values[n.SERVER_ADDRESS] = server_address
    if server_port is not None:
        values[n.SERVER_PORT] = server_port
    values[n.HTTP_METHOD] = "POST"
    values[n.HTTP_ROUTE] = "/v1/messages"
    values.update(attribution)
    return values


def usage_attributes(record: CallRecord) -> dict[str, AttributeValue]:
    """The response's usage and what it cost: the part of the span that the log record repeats. Built once per
    record (after `Telemetry.finish` priced it) and shared: callers copy it rather than change it."""
    if record.usage_attributes is not None:
        return record.usage_attributes
    response = record.response
    usage = response.usage
    values: dict[str, AttributeValue] = {}
    if record.request_id is not None:
        values[n.REQUEST_ID] = record.request_id
    if record.request.model is not None:
        values[n.REQUEST_MODEL] = record.request.model
    if response.model is not None:
        values[n.RESPONSE_MODEL] = response.model
    if response.id is not None:
        values[n.RESPONSE_ID] = response.id
    if usage.total_input is not None:
        values[n.INPUT_TOKENS] = usage.total_input
    if usage.output is not None:
        values[n.OUTPUT_TOKENS] = usage.output
    if usage.cache_read is not None:
        values[n.CACHE_READ_TOKENS] = usage.cache_read
    if usage.cache_write is not None:
        values[n.CACHE_WRITE_TOKENS] = usage.cache_write
    if usage.thinking is not None:
        values[n.REASONING_TOKENS] = usage.thinking
    if usage.web_search is not None:
        values[n.WEB_SEARCH_REQUESTS] = usage.web_search
    if usage.web_fetch is not None:
        values[n.WEB_FETCH_REQUESTS] = usage.web_fetch
    if response.speed is not None:
        values[n.SPEED] = response.speed
    if response.inference_geo is not None:
        values[n.INFERENCE_GEO] = response.inference_geo
    if response.stop_reason is not None:
        values[n.STOP_REASON] = response.stop_reason
    cost = record.cost
    if isinstance(cost, Cost):
        values[n.COST_USD] = cost.total
        if cost.savings_pico:
            values[n.CACHE_SAVINGS_USD] = cost.savings
        if cost.batch_savings_pico:
            values[n.BATCH_SAVINGS_USD] = cost.batch_savings
        if cost.note is not None:
            values[n.COST_NOTE] = cost.note
    elif isinstance(cost, Unpriced):
        values[n.UNPRICED] = cost.reason
    record.usage_attributes = values
    return values


def end_attributes(record: CallRecord, content: bool = True) -> dict[str, AttributeValue]:
    """What the call's record gives its span when the call ends (its content too, unless `content` is off)."""
    response = record.response
    usage = response.usage
    values = dict(usage_attributes(record))
    values.pop(n.REQUEST_MODEL, None)  # the span has it from its start
    if (finish_reasons := extract.finish_reasons(response.stop_reason)) is not None:
        values[n.FINISH_REASONS] = finish_reasons
    if usage.cache_write_5m is not None:
        values[n.CACHE_WRITE_5M_TOKENS] = usage.cache_write_5m
    if usage.cache_write_1h is not None:
        values[n.CACHE_WRITE_1H_TOKENS] = usage.cache_write_1h
    if response.service_tier is not None:
        values[n.SERVICE_TIER] = response.service_tier
    if record.status_code is not None:
        values[n.STATUS_CODE] = record.status_code
    if resend_count := record.resend_count:
        values[n.RESEND_COUNT] = resend_count
    if record.time_to_first_chunk is not None:
        values[n.TIME_TO_FIRST_CHUNK] = record.time_to_first_chunk
    if content and record.content:
        values.update(record.content)
    return values


MISSING = object()


def not_held(span: Span, attributes: dict[str, AttributeValue]) -> dict[str, AttributeValue]:
    """`attributes` without those the SDK's `span` already holds with the same value: each attribute set costs
    the OpenTelemetry SDK a validation, a lock and a copy, and the SDK's span has most of the call's own."""
    held = sdk_compat.span_attributes(span)
    if not held:
        return attributes
    return {
        name: value
        for name, value in attributes.items()
        if held.get(name, MISSING) != (tuple(value) if isinstance(value, list) else value)
    }


class NativeSpan(wrapt.ObjectProxy):  # type: ignore[misc]
    """The SDK's call span, whose `end()` waits for the call's record, held by a proxy: for a span whose class
    `hold` cannot swap. The same states as `held_classes`.

    The SDK ends its span inside the call; the plugin writes the record into it first and then ends it with the
    time the SDK asked for. If the record is already written, the SDK's `end()` goes straight through. Once the SDK
    has ended it, the span tells the SDK it no longer records, so the SDK never ends it twice; and what the SDK
    still writes into it after it really ended is dropped.
    """

    def __init__(self, span: Span) -> None:
        super().__init__(span)
        self._self_end_time: int | None = None
        self._self_record_written = False
        self._self_ended = False

    def is_recording(self) -> bool:
        return self._self_end_time is None and self.__wrapped__.is_recording()

    def end(self, end_time: int | None = None) -> None:
        if self._self_end_time is not None:
            return
        self._self_end_time = end_time or time.time_ns()
        if self._self_record_written:
            self._self_end()

    def record_written(self) -> None:
        """The call's record is in the span: end it now if the SDK already asked to."""
        self._self_record_written = True
        if self._self_end_time is not None:
            self._self_end()

    def _self_end(self) -> None:
        self._self_ended = True
        self.__wrapped__.end(end_time=self._self_end_time)

    def get_span_context(self) -> Any:
        # Spelled out, like the methods below: a name the proxy's class lacks reaches the span only after an
        # AttributeError, and the SDK and the propagators ask for the context on every call.
        return self.__wrapped__.get_span_context()

    def set_attribute(self, key: str, value: Any) -> None:
        if not self._self_ended:
            self.__wrapped__.set_attribute(key, value)

    def set_attributes(self, attributes: Any) -> None:
        if not self._self_ended:
            self.__wrapped__.set_attributes(attributes)

    def add_event(self, *args: Any, **kwargs: Any) -> None:
        if not self._self_ended:
            self.__wrapped__.add_event(*args, **kwargs)

    def set_status(self, *args: Any, **kwargs: Any) -> None:
        if not self._self_ended:
            self.__wrapped__.set_status(*args, **kwargs)

    def record_exception(self, *args: Any, **kwargs: Any) -> None:
        if not self._self_ended:
            self.__wrapped__.record_exception(*args, **kwargs)


HELD_CLASSES: dict[type, tuple[type, type, type]] = {}
"""A span class -> its (held, end asked, ended) subclasses, made once per span class (see `hold`)."""


def held_classes(cls: type) -> tuple[type, type, type]:
    """The three states of a held span of class `cls`, each a subclass that overrides only what that state changes.

    - held: the SDK's `end()` waits for the call's record (and ends the span at once if the record is in);
    - end asked: the SDK asked for its end; the span tells it it no longer records, so that the SDK never ends it
      twice, and the plugin writes the record and then ends it with the time the SDK asked for;
    - ended: what is still written into it (a stream the process ended at exit, closed later by the garbage
      collector) is dropped, rather than logged by the OpenTelemetry SDK as "Setting attribute on ended span".
    """
    found = HELD_CLASSES.get(cls)
    if found is not None:
        return found
    end_span = cls.end

    def end_held(span: Any) -> None:
        span.__class__ = ended
        end_span(span, span._anthropic_otel_end_ns)

    class ended(cls):  # type: ignore[misc, valid-type]
        def is_recording(self) -> bool:
            return False

        def end(self, end_time: int | None = None) -> None:
            pass

        def record_written(self) -> None:
            pass

        def set_attribute(self, key: str, value: Any) -> None:
            pass

        def set_attributes(self, attributes: Any) -> None:
            pass

        def add_event(self, *args: Any, **kwargs: Any) -> None:
            pass

        def add_link(self, *args: Any, **kwargs: Any) -> None:
            pass

        def set_status(self, *args: Any, **kwargs: Any) -> None:
            pass

        def record_exception(self, *args: Any, **kwargs: Any) -> None:
            pass

        def update_name(self, name: str) -> None:
            pass

    class end_asked(cls):  # type: ignore[misc, valid-type]
        def is_recording(self) -> bool:
            return False

        def end(self, end_time: int | None = None) -> None:
            pass

        def record_written(self) -> None:
            end_held(self)

    class held(cls):  # type: ignore[misc, valid-type]
        def end(self, end_time: int | None = None) -> None:
            self._anthropic_otel_end_ns = end_time or time.time_ns()
            if self._anthropic_otel_written:
                end_held(self)
            else:
                self.__class__ = end_asked

        def record_written(self) -> None:
            """The call's record is in the span: the SDK's `end()` now goes straight through."""
            self._anthropic_otel_written = True

    for state in (held, end_asked, ended):  # the span's repr and type name stay the SDK's
        state.__name__ = state.__qualname__ = cls.__name__
    HELD_CLASSES[cls] = found = (held, end_asked, ended)
    return found


def hold(span: Span) -> Any:
    """The SDK's call `span`, whose `end()` now waits for the call's record: the same object, its class swapped for
    a subclass of its own that overrides `end()` (`held_classes`). Every other call the SDK makes on it (about 25 a
    call: its attributes one by one, its context, its status) is the span's own; through a proxy each would cost
    about 0.3 us more. A span whose class cannot be swapped (another library's proxy, a class without `__dict__`)
    is held by a `NativeSpan` proxy instead."""
    if not isinstance(span, wrapt.ObjectProxy):
        try:
            held, _, _ = held_classes(type(span))
            span._anthropic_otel_end_ns = None  # type: ignore[attr-defined]
            span._anthropic_otel_written = False  # type: ignore[attr-defined]
            span.__class__ = held
            return span
        except (TypeError, AttributeError):
            pass
    return NativeSpan(span)


class CallSpan:
    """The span of one call, the plugin's own or the SDK's, from its start to its end. Every method is guarded:
    it never raises."""

    __slots__ = ("_context", "expected", "native", "offered", "span", "start_ns", "tracer", "url")

    def __init__(self, tracer: Tracer, *, expected: bool) -> None:
        self.tracer = tracer
        self.start_ns = time.time_ns()
        """The call's clock: the span's start, also the origin of its duration and time to first chunk."""
        self.span: Span | None = None
        self.native: Any = None
        """The SDK's span, held (`hold`), when the call adopted it."""
        self.expected = expected
        """Whether the SDK is expected to start a span of its own for this call."""
        self.offered = False
        """Whether the SDK's `start_api_call_span` ran for this call (whatever it returned)."""
        self.url: dict[str, AttributeValue] | None = None
        """The URL of the first request, written with the record: one `set_attributes` for both."""
        self._context: Any = None

    def start(self, attributes: dict[str, AttributeValue]) -> None:
        """Starts the plugin's own span (when the SDK will start none), dated from the start of the call."""
        try:
            self.span = self.tracer.start_span(
                n.SPAN_NAME, kind=SpanKind.CLIENT, attributes=attributes, start_time=self.start_ns
            )
        except Exception:
            log.debug("Could not start the span of an API call", exc_info=True)

    def before_attempt(self, attributes: Callable[[], dict[str, AttributeValue]], first: bool) -> None:
        """Starts the plugin's span after all if the SDK was expected to start one and did not (an endpoint that
        its version does not trace)."""
        if self.span is None and self.expected and not self.offered and first:
            self.start(attributes())

    def sdk_started(self, span: Span | None, attributes: Callable[[], dict[str, AttributeValue]]) -> Any:
        """The SDK started `span` for this call: returns the span the SDK should use as its call span.

        That is the SDK's own span, adopted. When the SDK made none that records (no global tracer provider, while
        the plugin was given one), the plugin's own span takes its place, so that there is still exactly one."""
        if self.span is not None:
            return span
        self.offered = True
        try:
            if span is None or not span.is_recording():
                self.start(attributes())
                if self.span is None or not self.span.is_recording():
                    self.span = None
                    return span
                if span is not None:
                    span.end()  # The SDK's unrecorded span: nothing is exported for it.
                span = self.span
            self.native = hold(span)
            self.span = span
            # One clock for the span, the duration and the time to first chunk: the span's.
            start = sdk_compat.span_start_ns(span)
            if start is not None:
                self.start_ns = start
            return self.native
        except Exception:
            log.debug("Could not adopt the SDK's span", exc_info=True)
            return span

    def first_request(self, request: Any) -> None:
        """Keeps the URL of the call's first request for the plugin's own span (the SDK's has its own)."""
        if self.span is None or self.native is not None:
            return
        try:
            url = request.url
            self.url = {
                n.URL_SCHEME: url.scheme,
                n.URL_PATH: url.path,
                n.URL_FULL: f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}",
            }
        except Exception:
            log.debug("Could not record the URL of an API call", exc_info=True)

    def retry(self, resend_count: int, attempt: Attempt) -> None:
        """Adds the `anthropic.retry` event: the SDK is about to send the request for the `resend_count`th time."""
        if self.span is None:
            return
        attributes: dict[str, AttributeValue] = {n.RESEND_COUNT: resend_count}
        if attempt.status_code is not None:
            attributes[n.STATUS_CODE] = attempt.status_code
        if attempt.error_type is not None:
            attributes[n.ERROR_TYPE] = attempt.error_type
        if attempt.delay is not None:
            attributes[n.RETRY_DELAY] = attempt.delay
        try:
            self.span.add_event(n.RETRY_EVENT, attributes)
        except Exception:
            log.debug("Could not add a retry event", exc_info=True)

    def make_current(self) -> object:
        """Makes the plugin's own span current while the SDK runs the call (so that spans the SDK's HTTP library
        starts are its children); returns the token for `release`, or `None` when there is nothing to make current.
        Not `trace.use_span`: a generator-based context manager costs several microseconds per call."""
        if self.span is None or self.native is not None:
            return None
        try:
            return context.attach(self.context())
        except Exception:
            log.debug("Could not make the span of an API call current", exc_info=True)
            return None

    @staticmethod
    def release(token: object) -> None:
        if token is not None:
            context.detach(token)  # type: ignore[arg-type]

    def end_at_exit(self) -> None:
        """Ends the SDK's span of a stream still open at exit: the SDK ends it only when the stream ends."""
        try:
            if self.native is not None:
                self.native.end()
        except Exception:
            log.debug("Could not end the SDK's span of a stream open at exit", exc_info=True)

    def write(self, record: CallRecord, content: bool = True) -> None:
        """Writes `record` into the span and ends it (or lets the SDK end it)."""
        span = self.span
        native = self.native
        try:
            if span is not None:
                attributes = end_attributes(record, content)
                if native is None and record.error_type is not None:
                    attributes[n.ERROR_TYPE] = record.error_type
                if self.url is not None:
                    attributes.update(self.url)
                if native is not None:
                    # The SDK's span has most of the call's attributes, request and response, but not all: those it
                    # lacks are written with the record, in one set (nothing reads a span before it ends).
                    request = start_attributes(
                        record.request, record.provider, record.server_address, record.server_port, record.attribution
                    )
                    attributes = not_held(span, {**request, **attributes})
                span.set_attributes(attributes)
                if (anomaly := record.anomaly) is not None:
                    span.add_event(
                        n.ANOMALY_EVENT,
                        {
                            n.ANOMALY_TOKENS: anomaly.tokens,
                            n.ANOMALY_AVERAGE: anomaly.average,
                            n.ANOMALY_FACTOR: anomaly.factor,
                        },
                    )
                if native is None:
                    # The SDK owns the status of its own span; the plugin's span follows the same rules.
                    span.set_status(ERROR if record.error_type is not None else OK)
                    span.end(end_time=record.end_ns)
        except Exception:
            log.debug("Could not write the record of a call into its span", exc_info=True)
        finally:
            if native is not None:
                try:
                    native.record_written()
                except Exception:
                    log.debug("Could not end the SDK's span", exc_info=True)

    def abandon(self) -> None:
        """Ends the span without a record (making the record failed), so that no span is left open."""
        try:
            if self.native is not None:
                self.native.record_written()
            elif self.span is not None:
                if self.url is not None:
                    self.span.set_attributes(self.url)
                self.span.end()
        except Exception:
            log.debug("Could not end the span of an API call", exc_info=True)

    def context(self) -> Any:
        """The OpenTelemetry context of the span, for the duration's exemplar and the log record tied to it (made
        once, for them and for `make_current`); `None` without a span."""
        if self._context is None and self.span is not None:
            self._context = trace.set_span_in_context(self.span)
        return self._context

    def span_context(self) -> Any:
        return self.span.get_span_context() if self.span is not None else None


def write(record: CallRecord, content: bool = True) -> None:
    """The span sink: the record of a traced call ends its span (with its content, if recorded, unless `content`
    is off: content recorded for the log record only)."""
    if record.span is not None:
        record.span.write(record, content)
