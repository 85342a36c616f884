"""The floor: what emitting anthropic-otel's telemetry through the OpenTelemetry SDK costs, with no logic at all.

`capture()` runs one `create` and one stream through the real plugin, with in-memory exporters, and keeps what it
emitted: the span's attributes, every histogram point (instrument, value, attributes) and the log record. The
`Floor` then replays exactly that telemetry around every call: one wrapt wrapper on the SDK's `request`, which
starts a span, makes it current, calls the SDK, and then (at once, or at the end of a stream) sets the same
attributes, ends the span, records the same histogram points and emits the same log record, all with constant
values. No extraction, no pricing, no tally, no check of any kind.

That is a lower bound for any instrumentation that emits this telemetry through the Python SDK: the benchmark's
`floor` configuration measures it in the same run as the plugin (`overhead.py --breakdown`), so the targets can
be read against it. (The counters are left out: the plugin feeds them from an in-process tally, read only when
a metric reader collects, so they cost a call next to nothing on the SDK's side.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import wrapt
from opentelemetry import context, trace
from opentelemetry._logs import LoggerProvider, LogRecord, SeverityNumber
from opentelemetry.metrics import Histogram, MeterProvider
from opentelemetry.sdk._logs import LoggerProvider as SdkLoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

import anthropic_otel
from anthropic_otel import sdk_compat

OK = Status(StatusCode.OK)


@dataclass
class Shape:
    """The telemetry of one call: what the floor emits, verbatim."""

    span_name: str
    span_attributes: dict[str, Any]
    histograms: list[tuple[str, float, dict[str, Any]]]
    """(instrument name, value, attributes) of each point, in the order the plugin recorded them."""
    log_attributes: dict[str, Any]
    log_body: Any


@dataclass
class Captured:
    json: Shape
    stream: Shape
    buckets: dict[str, tuple[str, list[float]]]
    """Histogram name -> (unit, bucket boundaries), to create the same instruments."""


def capture(create: Callable[[], Any], stream: Callable[[], Any]) -> Captured:
    """What the plugin emits for one `create()` and for one `stream()` read to the end."""
    shapes = []
    buckets: dict[str, tuple[str, list[float]]] = {}
    for call in (create, stream):
        spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        reader = InMemoryMetricReader()
        logs = InMemoryLogRecordExporter()
        logger_provider = SdkLoggerProvider()
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
        anthropic_otel.instrument(
            tracer_provider=tracer_provider,
            meter_provider=SdkMeterProvider([reader]),
            logger_provider=logger_provider,
        )
        try:
            call()
        finally:
            anthropic_otel.uninstrument()
        (span,) = spans.get_finished_spans()
        (log,) = [data.log_record for data in logs.get_finished_logs()]
        points: list[tuple[str, float, dict[str, Any]]] = []
        data = reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else []:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    for point in metric.data.data_points:
                        if isinstance(point, HistogramDataPoint):
                            points.append((metric.name, point.sum, dict(point.attributes or {})))
                            buckets[metric.name] = (metric.unit or "", list(point.explicit_bounds))
        shape = Shape(span.name, dict(span.attributes or {}), points, dict(log.attributes or {}), log.body)
        if len(shape.span_attributes) < 10 or len(shape.histograms) < 3 or len(shape.log_attributes) < 10:
            raise RuntimeError(f"the plugin emitted less than a call's telemetry, the floor means nothing: {shape}")
        shapes.append(shape)
    return Captured(shapes[0], shapes[1], buckets)


def describe(captured: Captured) -> str:
    return "; ".join(
        f"{kind}: a span of {len(shape.span_attributes)} attributes, {len(shape.histograms)} histogram points, "
        f"a log record of {len(shape.log_attributes)} attributes"
        for kind, shape in (("create", captured.json), ("stream", captured.stream))
    )


class Floor:
    """Replays a `Captured` around every API call of the SDK. `install()` / `uninstall()`."""

    def __init__(
        self,
        captured: Captured,
        tracer_provider: Any = None,
        meter_provider: MeterProvider | None = None,
        logger_provider: LoggerProvider | None = None,
    ) -> None:
        from opentelemetry import _logs, metrics

        self.captured = captured
        self.tracer = trace.get_tracer("floor", tracer_provider=tracer_provider)
        meter = metrics.get_meter("floor", meter_provider=meter_provider)
        self.histograms: dict[str, Histogram] = {
            name: meter.create_histogram(name, unit=unit, explicit_bucket_boundaries_advisory=bounds)
            for name, (unit, bounds) in captured.buckets.items()
        }
        self.logger = _logs.get_logger("floor", logger_provider=logger_provider)
        self.installed: list[tuple[Any, str]] = []
        self.pending: dict[int, Any] = {}
        """id(HTTP response) -> the span of a stream not read to its end yet."""

    def emit(self, span: Any, shape: Shape) -> None:
        span.set_attributes(shape.span_attributes)
        span.set_status(OK)
        span.end()
        for name, value, attributes in shape.histograms:
            self.histograms[name].record(value, attributes)
        self.logger.emit(
            LogRecord(
                timestamp=time.time_ns(),
                context=trace.set_span_in_context(span),
                severity_number=SeverityNumber.INFO,
                severity_text="INFO",
                body=shape.log_body,
                event_name=shape.log_body,
                attributes=shape.log_attributes,
            )
        )

    def start(self, shape: Shape) -> tuple[Any, object]:
        span = self.tracer.start_span(shape.span_name, kind=SpanKind.CLIENT)
        return span, context.attach(trace.set_span_in_context(span))

    def finish(self, result: Any, span: Any, streamed: bool) -> Any:
        if not streamed:
            self.emit(span, self.captured.json)
            return result
        key = id(result.response)
        self.pending[key] = span
        result._iterator = self.events(result._iterator, key)
        return result

    def events(self, inner: Iterator[Any], key: int) -> Iterator[Any]:
        """The stream's events, then the call's telemetry, once, when they run out."""
        yield from inner
        span = self.pending.pop(key, None)
        if span is not None:
            self.emit(span, self.captured.stream)

    def second_stream(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """`Stream.__stream__`: anthropic 0.x's `messages.stream()` reads a second `Stream` it makes over the response
        of the one `request` returned, which is never read; the replay follows the response to it."""
        events = wrapped(*args, **kwargs)
        key = id(instance.response)
        return self.events(events, key) if key in self.pending else events

    def request(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        streamed = bool(kwargs.get("stream"))
        span, token = self.start(self.captured.stream if streamed else self.captured.json)
        try:
            result = wrapped(*args, **kwargs)
        finally:
            context.detach(token)
        return self.finish(result, span, streamed)

    async def request_async(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        streamed = bool(kwargs.get("stream"))
        span, token = self.start(self.captured.stream if streamed else self.captured.json)
        try:
            result = await wrapped(*args, **kwargs)
        finally:
            context.detach(token)
        if streamed:
            raise NotImplementedError("the floor replays async streams nowhere in the benchmark")
        return self.finish(result, span, streamed)

    def install(self) -> None:
        base = sdk_compat.base_client()
        for owner, wrapper in ((base.SyncAPIClient, self.request), (base.AsyncAPIClient, self.request_async)):
            wrapt.wrap_function_wrapper(owner, "request", wrapper)
            self.installed.append((owner, "request"))
        stream_class = sdk_compat.stream_classes()[0]
        wrapt.wrap_function_wrapper(stream_class, "__stream__", self.second_stream)
        self.installed.append((stream_class, "__stream__"))

    def uninstall(self) -> None:
        for owner, name in self.installed:
            setattr(owner, name, getattr(owner, name).__wrapped__)
        self.installed = []
