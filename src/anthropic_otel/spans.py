"""The span sink: exactly one CLIENT span per API call, on every SDK generation.

- anthropic 1.14 and newer start their own span (`anthropic.messages.create`, scope `com.anthropic.sdk.python`).
  The plugin then starts none: it wraps the SDK's span in a `NativeSpan` that holds back the SDK's `end()` until the
  call's record is written into it, because for a plain call the SDK ends its span before the response reaches
  the application.
- Older SDKs, and clients with native tracing off: the plugin starts the span itself, with the same name, kind and
  attribute names, so one query serves every version.

The attributes are listed in two functions, `start_attributes` (the request) and `end_attributes` (the record).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import wrapt
from opentelemetry import context, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from . import extract
from .anomalies import AnomalyDetector
from .cost import PriceTable, default_table

if TYPE_CHECKING:
    from .call import Attempt, Call, CallRecord

log = logging.getLogger(__name__)

SPAN_NAME = "anthropic.messages.create"
RETRY_EVENT = "anthropic.retry"
ANOMALY_EVENT = "anthropic.token_anomaly"
OK = Status(StatusCode.OK)
ERROR = Status(StatusCode.ERROR)


def start_attributes(call: Call) -> dict[str, AttributeValue]:
    """What the span starts with (so that a sampler sees it), read off the request, and the call's attribution."""
    request = call.request
    values: dict[str, AttributeValue | None] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": call.provider,
        "gen_ai.request.model": request.model,
        "gen_ai.request.max_tokens": request.max_tokens,
        "gen_ai.request.temperature": request.temperature,
        "gen_ai.request.top_p": request.top_p,
        "gen_ai.request.top_k": request.top_k,
        "gen_ai.request.stop_sequences": request.stop_sequences,
        "gen_ai.request.stream": True if request.stream else None,
        "server.address": call.server_address,
        "server.port": call.server_port,
        "http.request.method": "POST",
        "http.route": "/v1/messages",
        **call.attribution,
    }
    return {name: value for name, value in values.items() if value is not None}


def end_attributes(record: CallRecord) -> dict[str, AttributeValue]:
    """What the call's record gives its span when the call ends."""
    response = record.response
    usage = response.usage
    values: dict[str, AttributeValue | None] = {
        "gen_ai.response.id": response.id,
        "gen_ai.response.model": response.model,
        "gen_ai.response.finish_reasons": extract.finish_reasons(response.stop_reason),
        "anthropic.message.stop_reason": response.stop_reason,
        "gen_ai.usage.input_tokens": usage.total_input,
        "gen_ai.usage.output_tokens": usage.output,
        "gen_ai.usage.cache_read.input_tokens": usage.cache_read,
        "gen_ai.usage.cache_write.input_tokens": usage.cache_write,
        "anthropic.usage.cache_creation.ephemeral_5m_input_tokens": usage.cache_write_5m,
        "anthropic.usage.cache_creation.ephemeral_1h_input_tokens": usage.cache_write_1h,
        "anthropic.response.service_tier": response.service_tier,
        "anthropic.request.id": record.request_id,
        "http.response.status_code": record.status_code,
        "http.request.resend_count": record.resend_count or None,
        "gen_ai.response.time_to_first_chunk": record.time_to_first_chunk,
        "anthropic.cost.usd": record.cost.total if record.cost is not None else None,
        **record.content,
    }
    return {name: value for name, value in values.items() if value is not None}


class NativeSpan(wrapt.ObjectProxy):  # type: ignore[misc]
    """The SDK's call span, whose `end()` waits for the call's record.

    The SDK ends its span inside the call; the plugin writes the record into it first and then ends it with the
    time the SDK asked for. If the record is already written, the SDK's `end()` goes straight through. Once the SDK
    has ended it, the span tells the SDK it no longer records, so the SDK never ends it twice.
    """

    def __init__(self, span: Span) -> None:
        super().__init__(span)
        self._self_end_time: int | None = None
        self._self_record_written = False

    def is_recording(self) -> bool:
        return self._self_end_time is None and self.__wrapped__.is_recording()

    def end(self, end_time: int | None = None) -> None:
        if self._self_end_time is not None:
            return
        self._self_end_time = end_time or time.time_ns()
        if self._self_record_written:
            self.__wrapped__.end(end_time=self._self_end_time)

    def record_written(self) -> None:
        """The call's record is in the span: end it now if the SDK already asked to."""
        self._self_record_written = True
        if self._self_end_time is not None:
            self.__wrapped__.end(end_time=self._self_end_time)


class SpanSink:
    """Starts, fills and ends the call span. Every method is guarded: it never raises."""

    def __init__(
        self,
        tracer: Tracer,
        finishers: list[Callable[[CallRecord, Span | None], None]] | None = None,
        *,
        prices: PriceTable | None = None,
        anomalies: AnomalyDetector | None = None,
    ):
        self.tracer = tracer
        self.finishers = finishers or []
        self.prices = prices or default_table()
        """Read by the call when it ends, to price itself."""
        self.anomalies = anomalies or AnomalyDetector()
        """Further sinks (metrics, logs) that get the record and the span, after the span has it."""

    def start(self, call: Call) -> None:
        """Starts the plugin's own span for `call` (when the SDK will start none)."""
        try:
            call.span = self.tracer.start_span(
                SPAN_NAME, kind=SpanKind.CLIENT, attributes=start_attributes(call), start_time=call.start_ns
            )
        except Exception:
            log.debug("Could not start the span of an API call", exc_info=True)

    def adopt(self, call: Call, span: Span | None) -> Span | None:
        """The SDK started `span` for `call`: returns the `NativeSpan` the SDK should use in its place."""
        if span is None:
            return None
        try:
            call.native = NativeSpan(span)
            call.span = span
            # One clock for the span, the duration and the time to first chunk: the span's.
            start_time = getattr(span, "start_time", None)
            if isinstance(start_time, int):
                call.start_ns = start_time
            # The SDK's table lacks some request parameters; they belong on the span from the start.
            span.set_attributes(start_attributes(call))
            return call.native
        except Exception:
            log.debug("Could not adopt the SDK's span", exc_info=True)
            return span

    def first_attempt(self, call: Call, request: Any) -> None:
        """Records the URL of the call's first request on the plugin's own span."""
        if call.span is None or call.native is not None:
            return
        url = request.url
        call.span.set_attributes(
            {
                "url.scheme": url.scheme,
                "url.path": url.path,
                "url.full": f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}",
            }
        )

    def retry_event(self, call: Call, resend_count: int, attempt: Attempt) -> None:
        """Adds the `anthropic.retry` event: the SDK is about to send the request for the `resend_count`th time."""
        if call.span is None:
            return
        attributes: dict[str, AttributeValue] = {"http.request.resend_count": resend_count}
        if attempt.status_code is not None:
            attributes["http.response.status_code"] = attempt.status_code
        if attempt.error_type is not None:
            attributes["error.type"] = attempt.error_type
        if attempt.delay is not None:
            attributes["anthropic.retry.delay"] = attempt.delay
        try:
            call.span.add_event(RETRY_EVENT, attributes)
        except Exception:
            log.debug("Could not add a retry event", exc_info=True)

    def finish(self, call: Call, record: CallRecord) -> None:
        """Writes `record` into the span and ends it (or lets the SDK end it), then runs the other finishers."""
        span = call.span
        try:
            if span is not None:
                attributes = end_attributes(record)
                if call.native is None and record.error_type is not None:
                    attributes["error.type"] = record.error_type
                span.set_attributes(attributes)
                if (anomaly := record.anomaly) is not None:
                    span.add_event(
                        ANOMALY_EVENT,
                        {
                            "anthropic.tokens": anomaly.tokens,
                            "anthropic.tokens.average": anomaly.average,
                            "anthropic.tokens.factor": anomaly.factor,
                        },
                    )
                if call.native is None:
                    # The SDK owns the status of its own span; the plugin's span follows the same rules.
                    if record.error_type is not None:
                        span.set_status(ERROR)
                    else:
                        span.set_status(OK)
                    span.end(end_time=record.end_ns)
        except Exception:
            log.debug("Could not write the record of a call into its span", exc_info=True)
        finally:
            if call.native is not None:
                try:
                    call.native.record_written()
                except Exception:
                    log.debug("Could not end the SDK's span", exc_info=True)
        for finisher in self.finishers:
            try:
                finisher(record, span)
            except Exception:
                log.debug("A sink could not take the record of a call", exc_info=True)

    def use(self, call: Call) -> object:
        """Makes the plugin's own span current while the SDK runs the call (so that spans the SDK's HTTP library
        starts are its children); returns the token for `unuse`, or `None` when there is nothing to make current.
        Not `trace.use_span`: a generator-based context manager costs several microseconds per call."""
        if call.span is None or call.native is not None:
            return None
        try:
            return context.attach(trace.set_span_in_context(call.span))
        except Exception:
            log.debug("Could not make the span of an API call current", exc_info=True)
            return None

    @staticmethod
    def unuse(token: object) -> None:
        if token is not None:
            context.detach(token)  # type: ignore[arg-type]
