"""The application of `app.py`, instrumented in code: the OpenTelemetry SDK configured the standard way, then
`anthropic_otel.instrument()`, then the application.

Telemetry goes to an OTLP/HTTP endpoint (a Collector, usually on http://localhost:4318) when
OTEL_EXPORTER_OTLP_ENDPOINT is set, else spans and log records are printed to the console. The usual OTEL_*
variables apply: OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS, ...
"""

from __future__ import annotations

import os
import sys

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

import anthropic_otel


def configure_opentelemetry() -> None:
    # Resource.create() reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES: name the service there.
    resource = Resource.create()
    tracer_provider = TracerProvider(resource=resource)
    logger_provider = LoggerProvider(resource=resource)
    readers = []
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    else:
        # Metrics (cost, tokens, attempts) need a backend to be worth reading; without one, only spans and logs.
        tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(ConsoleLogRecordExporter()))
    # The global providers: anthropic 1.14+ starts its own span from the global tracer provider, and the plugin
    # adds to it, so one span per call whatever the SDK version. The providers flush at exit by themselves.
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    _logs.set_logger_provider(logger_provider)


if __name__ == "__main__":
    configure_opentelemetry()
    # After the providers, before the first call; clients created earlier are instrumented too.
    anthropic_otel.instrument()

    import app  # the application itself is unchanged

    app.main(*sys.argv[1:2])
