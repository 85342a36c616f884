"""One API call while it runs (`Call`).

The hooks feed a `Call` what they see: each HTTP attempt, each retry, the response or each stream event, the error.
When the call ends, however it ends, `finish` runs exactly once: it freezes a `CallRecord` (record.py) and hands
it to `Telemetry.finish`, which prices it and fans it out to the span, the metrics and the log record. Every
method is guarded: a fault in the telemetry is logged at debug level and never reaches the application.
"""

from __future__ import annotations

import contextvars
import logging
import time
from typing import TYPE_CHECKING, Any

from . import content, extract, sdk_compat
from .record import Attempt, CallRecord
from .spans import CallSpan, start_attributes

if TYPE_CHECKING:
    from .telemetry import Telemetry

log = logging.getLogger(__name__)

CURRENT: contextvars.ContextVar[Call | None] = contextvars.ContextVar("anthropic_otel_call", default=None)
"""The call the SDK is running in this thread or task, from its request until it returns to the application."""


NOTHING: frozenset[str] = frozenset()
PASSING = frozenset({"content_block_start", "content_block_stop", "ping"})
"""Stream events that say nothing the record keeps unless content is recorded (`StreamState` ignores them)."""
PASSING_AFTER_CHUNK = PASSING | {"content_block_delta"}
"""The same, once the first content delta has come (most events of a stream are content deltas)."""


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
        "content_policy",
        "last_headers",
        "provider",
        "request",
        "request_id",
        "response",
        "response_content",
        "server_address",
        "server_port",
        "skipping",
        "span",
        "stream_state",
        "streamed_content",
        "telemetry",
        "ttfc",
    )

    def __init__(
        self,
        telemetry: Telemetry,
        client: Any,
        options: Any,
        *,
        stream: bool,
        content_policy: content.Policy,
    ) -> None:
        self.telemetry = telemetry
        self.span = CallSpan(telemetry.tracer, expected=sdk_compat.native_span_expected(client))
        self.provider = sdk_compat.provider_name(client)
        self.server_address, self.server_port = sdk_compat.server_of(client)
        body = getattr(options, "json_data", None)
        self.attribution = telemetry.attribution()
        self.request = extract.request_fields(body, stream=stream)
        self.content_policy = content_policy
        self.capture_content = content_policy.mode != "none" or sdk_compat.records_content(client)
        self.content: dict[str, str] = (
            content.input_attributes(body, content_policy.max_chars) if self.capture_content else {}
        )
        self.response = extract.NO_RESPONSE
        self.response_content: object = None
        self.attempts: list[Attempt] = []
        self.last_headers: Any = None
        self.request_id: str | None = None
        self.ttfc: float | None = None
        self.stream_state: extract.StreamState | None = None
        self.skipping = NOTHING
        """The types of the stream events that can no longer change the record: the stream's reader
        (`streams.observed`) skips them without a call, as it reads each event."""
        self.streamed_content: content.StreamedContent | None = None
        self.collecting = True
        """Whether HTTP attempts belong to this call: until it returns to the application."""
        self._once = [True]
        if not self.span.expected:
            self.span.start(self.start_attributes())

    @property
    def finished(self) -> bool:
        """Whether `finish` has run (or is running): nothing more can change the call's telemetry. Takes no lock."""
        return not self._once

    def start_attributes(self) -> dict[str, Any]:
        return start_attributes(self.request, self.provider, self.server_address, self.server_port, self.attribution)

    # --- the span, where the SDK starts its own -------------------------------------------------------------

    def sdk_span_started(self, span: Any) -> Any:
        """The SDK started its call span: returns the span it should use. Never raises."""
        try:
            return self.span.sdk_started(span, self.start_attributes)
        except Exception:
            log.debug("Could not adopt the SDK's span", exc_info=True)
            return span

    def before_attempt(self) -> None:
        """An HTTP attempt is about to be sent. Never raises."""
        try:
            self.span.before_attempt(self.start_attributes, first=not self.attempts)
        except Exception:
            log.debug("Could not start the span of an API call", exc_info=True)

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
                self.span.first_request(response.request)
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
            self.span.retry(len(self.attempts), self.attempts[-1])
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
            fields = extract.fields_of(result)
            if fields is not None and (fields.get("usage") is not None or fields.get("type") == "message"):
                self.response = extract.message_fields_of(fields)
                self.response_content = fields.get("content")
                self.request_id = sdk_compat.request_id(result)
        except Exception:
            log.debug("Could not read the response of a call", exc_info=True)
        self.finish()

    def stream_event(self, event: object, kind: object) -> None:
        """The application read `event` (its `type`: `kind`) from the call's stream; the reader skips the events
        of a type in `skipping`. Never raises."""
        try:
            state = self.stream_state
            if state is None:
                state = self.stream_state = extract.StreamState()
                if self.capture_content:
                    self.streamed_content = content.StreamedContent()
                else:
                    self.skipping = PASSING
            had_chunk = state.first_chunk
            if not isinstance(kind, str):
                kind = extract.as_str(extract.get(event, "type"))  # decoded JSON
            state.apply(event, kind)
            if state.first_chunk and not had_chunk:
                self.ttfc = (time.time_ns() - self.span.start_ns) / 1e9
                if self.streamed_content is None:
                    self.skipping = PASSING_AFTER_CHUNK
            self.response = state.fields
            if self.streamed_content is not None:
                self.streamed_content.apply(event, kind)
            if kind == "message_stop":
                self.finish()
        except Exception:
            log.debug("Could not record a stream event", exc_info=True)

    def stream_ended(self, how: str, error: BaseException | None = None, *, end_ns: int | None = None) -> None:
        """The stream was read to its end (`read`), closed or dropped (`closed`, at `end_ns` when it was collected
        unread and is ended later), or failed. Never raises."""
        if error is not None:
            self.fail(error)
            return
        if how == "read" and self.stream_state is not None and not self.stream_state.stopped:
            # The server cut the stream short without an error: the application sees none, the span does, and so
            # does the attempt that carried the stream, as for a stream that fails with an error.
            try:
                self.final_attempt_failed("api_error")
            except Exception:
                log.debug("Could not record the error of a call", exc_info=True)
            self.finish(error_type="api_error")
            return
        self.finish(end_ns=end_ns)

    def fail(self, error: BaseException) -> None:
        """The call raised `error`. Cancellation (`BaseException` that is no `Exception`) is no error. Never raises."""
        error_type = None
        try:
            if isinstance(error, Exception):
                error_type = sdk_compat.error_type(error)
            if error_type is not None:
                self.final_attempt_failed(error_type)
        except Exception:
            log.debug("Could not record the error of a call", exc_info=True)
        self.finish(error_type=error_type)

    def final_attempt_failed(self, error_type: str) -> None:
        """The final attempt, answered, turned out to fail with `error_type`: its body was read to raise the
        error, or its stream broke or was cut short. (Connection errors and timeouts named their own attempt.)"""
        if self.attempts and self.attempts[-1].status_code is not None:
            last = self.attempts[-1]
            self.attempts[-1] = Attempt(last.status_code, error_type, last.retried, last.delay)

    def end_at_exit(self) -> None:
        """The process exits with the call's stream still open: ends the call and the SDK's span of it."""
        self.stream_ended("closed")
        self.span.end_at_exit()

    # --- the end --------------------------------------------------------------------------------------------

    def finish(self, *, error_type: str | None = None, end_ns: int | None = None) -> None:
        """Freezes the record, ended at `end_ns` (now by default), and hands it to the telemetry, the first time
        only. Never raises."""
        if not self._once:  # A stream ends its call at `message_stop`, and again when it is read out and closed.
            return
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
                self.content.update(
                    content.output_attributes(output, self.response.stop_reason, self.content_policy.max_chars)
                )
                self.content = self.content_policy.redact(self.content)
            last = self.attempts[-1] if self.attempts else None
            record = CallRecord(
                provider=self.provider,
                server_address=self.server_address,
                server_port=self.server_port,
                request=self.request,
                response=self.response,
                attempts=tuple(self.attempts),
                start_ns=self.span.start_ns,
                end_ns=end_ns or time.time_ns(),
                request_id=self.request_id or extract.header(self.last_headers, "request-id"),
                status_code=last.status_code if last else None,
                time_to_first_chunk=self.ttfc,
                error_type=error_type,
                content=self.content,
                attribution=self.attribution,
                headers=self.last_headers,
                span=self.span,
            )
        except Exception:
            log.debug("Could not make the record of a call", exc_info=True)
            self.span.abandon()
            return
        self.telemetry.finish(record)
