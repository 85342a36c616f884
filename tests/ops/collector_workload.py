"""Telemetry for the Collector tests, made for real and sent over OTLP, in a process of its own.

tests/conftest.py installs global in-memory providers at import; this script runs in a subprocess so that it has
its own: the OpenTelemetry SDK with OTLP exporters, the resource of a deployed service, and either

* `calls`: the plugin (`anthropic_otel.instrument()`) on the real anthropic SDK calling `FakeAnthropic`: a retried
  429, a failed call, a stream, priced and unpriced models, cache reads, other stop reasons, a token anomaly and
  batch results; or
* `traces`: many synthetic traces of several spans each, some failed, one slow, exported in small batches (for the
  agent/gateway fleet).

It prints one JSON object: the trace IDs it made, by kind.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

SONNET = "claude-sonnet-4-5"
UNPRICED = "claude-fake-model"
USER = [{"role": "user", "content": "Tell me a joke about OpenTelemetry"}]


def span_exporter(protocol: str, endpoint: str) -> Any:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint, insecure=True)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPSpanExporter

    return HTTPSpanExporter(endpoint=f"{endpoint}/v1/traces")


def metric_exporter(protocol: str, endpoint: str) -> Any:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(endpoint=endpoint, insecure=True)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HTTPMetricExporter

    return HTTPMetricExporter(endpoint=f"{endpoint}/v1/metrics")


def calls(tracer_provider: TracerProvider, meter_provider: MeterProvider) -> dict[str, Any]:
    import anthropic

    import anthropic_otel
    from anthropic_otel.testing import FakeAnthropic, Reply

    recorded = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(recorded))
    # Global providers, as in production (anthropic 1.14+ starts its own call span from the global one).
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    anthropic_otel.instrument(anomaly_warmup=3, anomaly_factor=2.0)
    names: list[str] = []
    with FakeAnthropic() as fake:
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="sk-test", max_retries=2)
        body = {"max_tokens": 100, "messages": USER}

        def call(name: str, *replies: Reply, model: str = SONNET, **extra: Any) -> Any:
            fake.enqueue(*replies)
            names.append(name)
            return client.messages.create(model=model, **body, **extra)

        call("retried", Reply.rate_limited(retry_after=0.01), Reply.message("after a retry"))
        with contextlib.suppress(anthropic.BadRequestError):
            call("failed", Reply.error(400, "invalid_request_error"))
        names.append("stream")
        fake.enqueue(Reply.message("a streamed answer of a few words"))
        for _ in client.messages.create(model=SONNET, stream=True, **body):
            pass
        call("cached", Reply.message("cached", input_tokens=100, cache_read_input_tokens=5000))
        call("unpriced", Reply.message("no price"), model=UNPRICED)
        call("max_tokens", Reply.message("cut", stop_reason="max_tokens"))
        for _ in range(3):
            call("warmup", Reply.message("small", input_tokens=10))
        call("anomaly", Reply.message("large", input_tokens=1000))
        fake.default = Reply.message("batched", input_tokens=1000, output_tokens=500)
        batch = client.messages.batches.create(
            requests=[{"custom_id": f"r{n}", "params": {"model": SONNET, **body}} for n in range(2)]  # type: ignore[misc]
        )
        results = [result.result.type for result in client.messages.batches.results(batch.id)]
        assert results == ["succeeded", "succeeded"], results

    # A measurement made inside a span: the SDK attaches that span as an exemplar (trace_based filter), which
    # shows that the Collector carries exemplars through to the exposition.
    with tracer_provider.get_tracer("anthropic_otel.tests.ops").start_as_current_span("ops.exemplar.probe") as probe:
        meter_provider.get_meter("anthropic_otel.tests.ops").create_histogram("ops.probe.duration", unit="s").record(
            0.5
        )
    # No metric flush here: main() shuts the provider down, which exports once. A second export would carry the
    # same cumulative points without exemplars (the SDK's reservoirs start afresh after each collection), and the
    # prometheus exporter exposes the latest point only.
    tracer_provider.force_flush()
    spans = [span for span in recorded.get_finished_spans() if span.name == "anthropic.messages.create"]
    assert len(spans) == len(names), (len(spans), names)
    by_name: dict[str, list[str]] = {}
    for name, span in zip(names, sorted(spans, key=lambda span: span.start_time or 0), strict=True):
        by_name.setdefault(name, []).append(format(span.context.trace_id, "032x"))
    return {"calls": by_name, "probe": format(probe.get_span_context().trace_id, "032x")}


def traces(tracer_provider: TracerProvider, count: int, spans_per_trace: int, slow_ms: int) -> dict[str, Any]:
    """`count` traces of `spans_per_trace` spans; every fifth failed (its last child); one slow trace on top."""
    tracer = tracer_provider.get_tracer("anthropic_otel.tests.fleet")
    kinds: dict[str, list[str]] = {"ok": [], "error": [], "slow": []}
    now = time.time_ns()
    for n in range(count):
        failed = n % 5 == 0
        root = tracer.start_span("fleet.request", start_time=now)
        context = trace.set_span_in_context(root)
        for child in range(spans_per_trace - 1):
            span = tracer.start_span(f"fleet.step.{child}", context=context, start_time=now)
            if failed and child == spans_per_trace - 2:
                span.set_status(Status(StatusCode.ERROR, "failed step"))
            span.end(end_time=now + 1_000_000)
        root.end(end_time=now + 2_000_000)
        kinds["error" if failed else "ok"].append(format(root.get_span_context().trace_id, "032x"))
    root = tracer.start_span("fleet.slow", start_time=now)
    slow = tracer.start_span("fleet.slow.step", context=trace.set_span_in_context(root), start_time=now)
    slow.end(end_time=now + (slow_ms + 500) * 1_000_000)
    root.end(end_time=now + (slow_ms + 1000) * 1_000_000)
    kinds["slow"].append(format(root.get_span_context().trace_id, "032x"))
    tracer_provider.force_flush()
    return {"traces": kinds, "spans_per_trace": spans_per_trace}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["calls", "traces"])
    parser.add_argument("--protocol", choices=["grpc", "http"], default="grpc")
    parser.add_argument("--traces-endpoint", required=True, help="host:port (gRPC) or http://host:port (HTTP)")
    parser.add_argument("--metrics-endpoint", help="the same forms; defaults to --traces-endpoint")
    parser.add_argument("--metrics-protocol", choices=["grpc", "http"], help="defaults to --protocol")
    parser.add_argument("--service-name", required=True)
    parser.add_argument("--environment", required=True)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--spans-per-trace", type=int, default=4)
    parser.add_argument("--slow-ms", type=int, default=1000)
    args = parser.parse_args()

    resource = Resource.create(
        {
            "service.name": args.service_name,
            "deployment.environment.name": args.environment,
            "service.version": "1.2.3",
            "host.name": "ops-test-host",
        }
    )
    spans_out = span_exporter(args.protocol, args.traces_endpoint)
    metrics_out = metric_exporter(args.metrics_protocol or args.protocol, args.metrics_endpoint or args.traces_endpoint)
    tracer_provider = TracerProvider(resource=resource)
    # Small batches, so that the spans of one trace travel in several exports.
    tracer_provider.add_span_processor(BatchSpanProcessor(spans_out, max_export_batch_size=7, schedule_delay_millis=50))
    reader = PeriodicExportingMetricReader(metrics_out, export_interval_millis=60_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    try:
        if args.mode == "calls":
            result = calls(tracer_provider, meter_provider)
        else:
            result = traces(tracer_provider, args.count, args.spans_per_trace, args.slow_ms)
    finally:
        meter_provider.shutdown()
        tracer_provider.shutdown()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
