"""Where one run's telemetry goes: real OpenTelemetry SDK providers with in-process readers, and OTLP on request.

Each run (before, after) gets its own tracer, meter and logger providers, so its figures are its own: the report
reads the `InMemoryMetricReader` and the `InMemorySpanExporter`, never the demo's own counts. `scrape()` collects
the metric reader the way Prometheus scrapes an exporter, and keeps the points with the simulated time, so the
bundled alerts can be evaluated over the run afterwards.

With `--otlp URL`, or the standard `OTEL_EXPORTER_OTLP_*` variables, spans, metrics and logs are also exported
over OTLP/HTTP, from the same providers: what the report shows is what went out.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import anthropic_otel
from anthropic_otel.instrumentor import AnthropicInstrumentor

from .. import sdk_compat

SERVICE_NAME = "anthropic-otel-demo"
OTLP_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
)
EXPORT_INTERVAL_MS = 5000

Attributes = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Histogram:
    count: int
    sum: float
    bounds: tuple[float, ...]
    buckets: tuple[int, ...]


@dataclass(frozen=True)
class Point:
    """One series of one instrument, as collected: a number, or a histogram."""

    name: str
    attributes: Attributes
    value: float | Histogram

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.attributes).get(key, default)


@dataclass
class Sample:
    """Every point of one collection, at `at` seconds into the simulated day."""

    at: int
    points: list[Point]


def points_of(data: Any) -> list[Point]:
    """The points of a `MetricsData` (the plugin's instruments only)."""
    found: list[Point] = []
    if data is None:
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            if scope.scope.name != "anthropic_otel":
                continue
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    attributes = tuple(sorted(dict(point.attributes or {}).items()))
                    if isinstance(point, HistogramDataPoint):
                        value: float | Histogram = Histogram(
                            point.count, point.sum, tuple(point.explicit_bounds), tuple(point.bucket_counts)
                        )
                    else:
                        value = point.value
                    found.append(Point(metric.name, attributes, value))
    return found


def exporting(otlp: str | None, environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return bool(otlp) or any(environ.get(name, "").strip() for name in OTLP_VARIABLES)


@dataclass
class Pipeline:
    """The providers of one run, and what its in-process readers collected."""

    run: str
    otlp: str | None = None
    anomaly_warmup: int = 10
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME})
        self.export = exporting(self.otlp)
        self.span_exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.span_exporter))
        self.reader = InMemoryMetricReader()
        readers: list[Any] = [self.reader]
        self.logger_provider: LoggerProvider | None = None
        if self.export:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

            base = self.otlp.rstrip("/") if self.otlp else None
            endpoint: dict[str, dict[str, str]] = {
                kind: ({"endpoint": f"{base}/v1/{kind}"} if base else {}) for kind in ("traces", "metrics", "logs")
            }
            self.tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(**endpoint["traces"])))
            readers.append(
                PeriodicExportingMetricReader(
                    OTLPMetricExporter(**endpoint["metrics"]), export_interval_millis=EXPORT_INTERVAL_MS
                )
            )
            self.logger_provider = LoggerProvider(resource=resource)
            self.logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(**endpoint["logs"])))
        self.meter_provider = MeterProvider(resource=resource, metric_readers=readers)

    def instrument(self) -> None:
        """Instruments the SDK into this run's providers (`app.run` on every metric, to tell the runs apart)."""
        if AnthropicInstrumentor().is_instrumented_by_opentelemetry:
            anthropic_otel.uninstrument()
        anthropic_otel.instrument(
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            logger_provider=self.logger_provider,
            logs=self.logger_provider is not None,
            metric_attributes=("run",),
            anomaly_warmup=self.anomaly_warmup,
        )

    def client_options(self) -> dict[str, Any]:
        """What a client needs so that the SDK's own call span (anthropic 1.14+) records into this run's provider."""
        return {"open_telemetry": {"tracer_provider": self.tracer_provider}} if sdk_compat.has_native_spans() else {}

    def scrape(self, at: int) -> Sample:
        sample = Sample(at, points_of(self.reader.get_metrics_data()))
        self.samples.append(sample)
        return sample

    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self.span_exporter.get_finished_spans())

    def close(self) -> None:
        """Stops instrumenting and flushes and shuts the exporters down (the OTLP ones send what they hold)."""
        if AnthropicInstrumentor().is_instrumented_by_opentelemetry:
            anthropic_otel.uninstrument()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        if self.logger_provider is not None:
            self.logger_provider.shutdown()
