"""One API call while it runs (`Call`) and the record it leaves when it ends (`CallRecord`).

The hooks feed a `Call` what they see: each HTTP attempt, each retry, the response or each stream event, the error.
When the call ends, however it ends, `finish` runs exactly once: it freezes a `CallRecord` and hands it to the sinks
(the span here; metrics and the log record build on the same record). Every method is guarded: a fault in the
telemetry is logged at debug level and never reaches the application.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import Span

from . import content, extract, sdk_compat, spans
from .anomalies import Anomaly
from .attribution import current as current_attribution
from .cost import Cost, cost_of

log = logging.getLogger(__name__)

CURRENT: contextvars.ContextVar[Call | None] = contextvars.ContextVar("anthropic_otel_call", default=None)
"""The call the SDK is running in this thread or task, from its request until it returns to the application."""


@dataclass(slots=True)
class Attempt:
    """One HTTP attempt of a call."""

    status_code: int | None
    error_type: str | None
    retried: bool = False
    delay: float | None = None


@dataclass(slots=True)
class CallRecord:
    """Everything known about a finished call: what every sink reads.

    Records are slotted dataclasses, read-only by convention rather than frozen: a frozen dataclass costs about
    four times as much to build, and a call builds several (this one, its request, response and usage fields).
    """

    provider: str
    server_address: str | None
    server_port: int | None
    request: extract.RequestFields
    response: extract.ResponseFields
    attempts: tuple[Attempt, ...]
    start_ns: int
    end_ns: int
    request_id: str | None = None
    status_code: int | None = None
    time_to_first_chunk: float | None = None
    error_type: str | None = None
    error: BaseException | None = None
    content: dict[str, str] = field(default_factory=dict)
    attribution: Mapping[str, str] = field(default_factory=dict)
    cost: Cost | None = None
    unpriced_model: str | None = None
    """The model of a call that used tokens but has no price."""
    anomaly: Anomaly | None = None
    headers: Any = None
    """The headers of the final response (the HTTP library's `Headers`), for the sinks that read more of them."""

    @property
    def resend_count(self) -> int:
        return max(len(self.attempts) - 1, 0)

    @property
    def duration(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


class Call:
    """The state of one API call, fed by the hooks, finished once. (Slotted: one is made per API call, and the hooks
    read and set its attributes throughout.)"""

    __slots__ = (
        "_once",
        "attempts",
        "attribution",
        "capture_content",
        "collecting",
        "content",
        "last_headers",
        "native",
        "native_expected",
        "native_offered",
        "provider",
        "record",
        "request",
        "request_id",
        "response",
        "response_content",
        "server_address",
        "server_port",
        "sink",
        "span",
        "start_ns",
        "stream_state",
        "streamed_content",
        "ttfc",
    )

    def __init__(
        self,
        telemetry: spans.SpanSink,
        client: Any,
        options: Any,
        *,
        stream: bool,
        capture_content: bool,
    ) -> None:
        self.start_ns = time.time_ns()
        self.sink = telemetry
        self.provider = sdk_compat.provider_name(client)
        self.server_address, self.server_port = sdk_compat.server_of(client)
        body = getattr(options, "json_data", None)
        self.attribution = current_attribution()
        self.request = extract.request_fields(body, stream=stream)
        self.capture_content = capture_content or bool(getattr(getattr(client, "_otel", None), "records_content", 0))
        self.content: dict[str, str] = content.input_attributes(body) if self.capture_content else {}
        self.response = extract.NO_RESPONSE
        self.response_content: object = None
        self.attempts: list[Attempt] = []
        self.last_headers: Any = None
        self.request_id: str | None = None
        self.ttfc: float | None = None
        self.stream_state: extract.StreamState | None = None
        self.streamed_content: content.StreamedContent | None = None
        self.span: Span | None = None
        self.native: spans.NativeSpan | None = None
        self.native_expected = False
        self.native_offered = False
        """Whether the SDK's `start_api_call_span` ran for this call (whatever it returned)."""
        self.collecting = True
        """Whether HTTP attempts belong to this call: until it returns to the application."""
        self._once = [True]
        self.record: CallRecord | None = None

    # --- attempts and retries -------------------------------------------------------------------------------

    def attempt_answered(self, response: Any) -> None:
        """An HTTP attempt got a response (of any status). Never raises."""
        try:
            status = int(response.status_code)
            error_type = None
            if status >= 400:
                error_type = sdk_compat.status_error_type(status, sdk_compat.read_body(response))
            self.attempts.append(Attempt(status, error_type))
            self.last_headers = response.headers
            if len(self.attempts) == 1:
                self.sink.first_attempt(self, response.request)
        except Exception:
            log.debug("Could not record an HTTP attempt", exc_info=True)

    def attempt_failed(self, error: BaseException) -> None:
        """An HTTP attempt raised (connection error, timeout). Never raises."""
        try:
            if isinstance(error, Exception):
                self.attempts.append(Attempt(None, sdk_compat.error_type(error)))
        except Exception:
            log.debug("Could not record a failed HTTP attempt", exc_info=True)

    def retrying(self, delay: object) -> None:
        """The SDK will send the request again after `delay` seconds. Never raises."""
        try:
            if not self.attempts:
                return
            seconds = extract.as_float(delay)
            last = self.attempts[-1]
            self.attempts[-1] = Attempt(last.status_code, last.error_type, retried=True, delay=seconds)
            self.sink.retry_event(self, len(self.attempts), self.attempts[-1])
        except Exception:
            log.debug("Could not record a retry", exc_info=True)

    # --- the response ---------------------------------------------------------------------------------------

    def returned_body(self, http_response: Any) -> None:
        """The call's raw HTTP response is done with: its body, if read, is the Message. Never raises; finishes."""
        try:
            fields = extract.json_message_fields(sdk_compat.read_body(http_response))
            if fields is not None:
                self.response = fields
        except Exception:
            log.debug("Could not read the raw response of a call", exc_info=True)
        self.finish()

    def returned(self, result: Any) -> None:
        """The SDK returned `result`, which is not a stream. Never raises; finishes the call."""
        try:
            raw_classes = sdk_compat.raw_response_classes()
            if raw_classes and isinstance(result, raw_classes):
                self.returned_body(result.http_response)
                return
            if extract.get(result, "usage") is not None or extract.get(result, "type") == "message":
                self.response = extract.message_fields(result)
                self.response_content = extract.get(result, "content")
                request_id = getattr(result, "_request_id", None)  # the SDK's own copy of the header
                if isinstance(request_id, str) and request_id:
                    self.request_id = request_id
        except Exception:
            log.debug("Could not read the response of a call", exc_info=True)
        self.finish()

    def stream_event(self, event: object) -> None:
        """The application read `event` from the call's stream. Never raises."""
        kind = getattr(event, "type", None)
        state = self.stream_state
        if kind == "content_block_delta" and state is not None and state.first_chunk and self.streamed_content is None:
            return  # Most events are content deltas, and after the first one they say nothing the record keeps.
        try:
            if state is None:
                state = self.stream_state = extract.StreamState()
                if self.capture_content:
                    self.streamed_content = content.StreamedContent()
            had_chunk = state.first_chunk
            kind = extract.as_str(extract.get(event, "type"))  # a model, or decoded JSON
            state.apply(event, kind)
            if state.first_chunk and not had_chunk:
                self.ttfc = (time.time_ns() - self.start_ns) / 1e9
            self.response = state.fields
            if self.streamed_content is not None:
                self.streamed_content.apply(event, kind)
            if kind == "message_stop":
                self.finish()
        except Exception:
            log.debug("Could not record a stream event", exc_info=True)

    def stream_ended(self, how: str, error: BaseException | None = None) -> None:
        """The stream was read to its end (`read`), closed or dropped (`closed`), or failed. Never raises."""
        if error is not None:
            self.fail(error)
            return
        if how == "read" and self.stream_state is not None and not self.stream_state.stopped:
            # The server cut the stream short without an error: the application sees none, the span does.
            self.finish(error_type="api_error")
            return
        self.finish()

    def fail(self, error: BaseException) -> None:
        """The call raised `error`. Cancellation (`BaseException` that is no `Exception`) is no error."""
        error_type = sdk_compat.error_type(error) if isinstance(error, Exception) else None
        if error_type is not None and self.attempts and self.attempts[-1].status_code is not None:
            # The final attempt's body was read to raise the error: its type is now certain.
            last = self.attempts[-1]
            self.attempts[-1] = Attempt(last.status_code, error_type, last.retried, last.delay)
        self.finish(error_type=error_type, error=error if isinstance(error, Exception) else None)

    # --- the end --------------------------------------------------------------------------------------------

    def price(self) -> tuple[Cost | None, str | None]:
        """The call's cost, or the model that has no price. A call that used no tokens costs nothing to record."""
        usage = self.response.usage
        if usage.input is None and usage.output is None:
            return None, None
        model = self.response.model or self.request.model
        price = self.sink.prices.find(model)
        if price is None:
            return None, model or "unknown"
        prices = self.sink.prices
        geo = prices.geo_multipliers.get(self.response.inference_geo or "", 1.0)
        tier = self.response.service_tier
        return cost_of(
            price, usage, service_tier=tier, batch_multiplier=prices.batch_multiplier, geo_multiplier=geo
        ), None

    def finish(self, *, error_type: str | None = None, error: BaseException | None = None) -> None:
        """Freezes the record and hands it to the sinks, the first time only. Never raises."""
        try:
            self._once.pop()  # Atomic: of two threads that finish at once, one gets IndexError.
        except IndexError:
            return
        self.collecting = False
        try:
            if self.capture_content:
                output = self.response_content
                if self.streamed_content is not None:
                    output = self.streamed_content.blocks
                self.content.update(content.output_attributes(output, self.response.stop_reason))
            last = self.attempts[-1] if self.attempts else None
            cost, unpriced = self.price()
            anomaly = self.sink.anomalies.observe(
                self.response.model or self.request.model,
                self.attribution.get("app.feature"),
                self.response.usage.total_input,
            )
            self.record = CallRecord(
                provider=self.provider,
                server_address=self.server_address,
                server_port=self.server_port,
                request=self.request,
                response=self.response,
                attempts=tuple(self.attempts),
                start_ns=self.start_ns,
                end_ns=time.time_ns(),
                request_id=self.request_id or extract.header(self.last_headers, "request-id"),
                status_code=last.status_code if last else None,
                time_to_first_chunk=self.ttfc,
                error_type=error_type,
                error=error,
                content=self.content,
                attribution=self.attribution,
                cost=cost,
                unpriced_model=unpriced,
                anomaly=anomaly,
                headers=self.last_headers,
            )
        except Exception:
            log.debug("Could not make the record of a call", exc_info=True)
            return
        self.sink.finish(self, self.record)
