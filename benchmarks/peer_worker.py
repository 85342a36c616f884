"""One venv's side of `peers.py`: the benchmark's workloads under one Anthropic instrumentation, in one process.

`peers.py` starts one of these per venv, each with the same SDK, OpenTelemetry SDK and Python, and one
instrumentation: anthropic-otel, the OpenTelemetry GenAI Anthropic instrumentation, or OpenLLMetry's. This file
imports none of them but the one it is told to measure, so a venv needs only the SDK, the OpenTelemetry SDK and its
instrumentation. The responses (bodies and headers) are rendered once by `peers.py` and read from a file, so every
venv parses the same bytes as `overhead.py` does. The workloads and the pipeline are those of `overhead.py`: the
real SDK on an in-process transport, a BatchSpanProcessor, a periodic metric reader and a batch log processor whose
exporters drop what they get but count it.

Configurations: `bare` and `native` (the SDK's own tracing on, anthropic 1.14+) uninstrumented; `peer` and
`native+peer` with the instrumentation on. Modes:

    python peer_worker.py --peer NAME --bodies FILE serve        # JSON lines on stdin/stdout, for peers.py
    python peer_worker.py --peer NAME --bodies FILE census       # what one call of each workload emits
    python peer_worker.py --peer NAME --bodies FILE count WORKLOAD CONFIG LOW HIGH   # under callgrind
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import anthropic
import anthropic._base_client as base
from exporters import Counted, DropLogs, DropMetrics, DropSpans  # benchmarks/, the script's own folder
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

HTTP: Any = getattr(base, "httpx2", None) or base.httpx
NATIVE = hasattr(base, "start_api_call_span")
"""anthropic 1.14+ can start its own call span (what `anthropic_otel.sdk_compat.has_native_spans` checks)."""
CONFIGS = ("bare", "native", "peer", "native+peer") if NATIVE else ("bare", "peer")

PEERS: dict[str, tuple[str, str]] = {
    "anthropic-otel": ("anthropic-otel", "its defaults: span, every metric, cost, a log record per call"),
    "otel-genai": (
        "opentelemetry-instrumentation-genai-anthropic",
        "its defaults: span, duration and token histograms; content capture off (its default)",
    ),
    "openllmetry": (
        "opentelemetry-instrumentation-anthropic",
        "its defaults with TRACELOOP_TRACE_CONTENT=false: span and metrics (TRACELOOP_METRICS_ENABLED defaults on)",
    ),
}
"""Name -> (the distribution measured, how it is configured)."""
ENVIRONMENT = {"openllmetry": {"TRACELOOP_TRACE_CONTENT": "false"}}
"""What each instrumentation's docs say to set for no content capture (OpenLLMetry records prompts and completions
unless told not to); `peers.py` starts each worker with it."""


@dataclass
class Bodies:
    json_body: bytes
    streams: dict[int, bytes]
    headers: dict[str, str]
    request: dict[str, Any]


def load_bodies(path: str) -> Bodies:
    with open(path) as source:
        raw = json.load(source)
    return Bodies(
        base64.b64decode(raw["json"]),
        {int(events): base64.b64decode(body) for events, body in raw["streams"].items()},
        raw["headers"],
        raw["request"],
    )


HOUR_MS = 3_600_000


def install_pipeline(timers: bool = True) -> None:
    """`overhead.py`'s pipeline, as the global providers, which every instrumentation here uses by default.

    Without `timers`, the processors' and the reader's timed exports are an hour apart. Under callgrind a counted
    phase lasts seconds of a slowed-down clock, and an export or a metric collection (with its observable
    callbacks) landing in one phase and not the other moved a per-call count by several percent from one run to the
    next; without them, what is counted is the work each call does on its own thread."""
    delay = {} if timers else {"schedule_delay_millis": HOUR_MS}
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans(), **delay))
    trace.set_tracer_provider(tracer_provider)
    interval = 10_000 if timers else HOUR_MS
    meter_provider = MeterProvider([PeriodicExportingMetricReader(DropMetrics(), export_interval_millis=interval)])
    metrics.set_meter_provider(meter_provider)
    log_provider = LoggerProvider()
    log_provider.add_log_record_processor(BatchLogRecordProcessor(DropLogs(), **delay))
    _logs.set_logger_provider(log_provider)


@dataclass
class Census:
    """In-memory exporters as the global providers, to see what one call emits."""

    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    logs: InMemoryLogRecordExporter


def install_census() -> Census:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(tracer_provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider([reader]))
    logs = InMemoryLogRecordExporter()
    log_provider = LoggerProvider()
    log_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    _logs.set_logger_provider(log_provider)
    return Census(spans, reader, logs)


class Instrumentation:
    """The one instrumentation of this venv: `on()` and `off()`, each idempotent."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.active = False
        self.instrumentor: Any = None
        if peer == "otel-genai":
            from opentelemetry.instrumentation.genai.anthropic import AnthropicInstrumentor

            self.instrumentor = AnthropicInstrumentor()
        elif peer == "openllmetry":
            from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor  # type: ignore[import-not-found]

            self.instrumentor = AnthropicInstrumentor()
        elif peer != "anthropic-otel":
            raise SystemExit(f"unknown instrumentation {peer!r}; one of {', '.join(PEERS)}")

    def on(self) -> None:
        if self.active:
            return
        if self.peer == "anthropic-otel":
            import anthropic_otel

            anthropic_otel.instrument()
        else:
            self.instrumentor.instrument()
        self.active = True

    def off(self) -> None:
        if not self.active:
            return
        if self.peer == "anthropic-otel":
            import anthropic_otel

            anthropic_otel.uninstrument()
        else:
            self.instrumentor.uninstrument()
        self.active = False


@dataclass
class Clients:
    sync: Any
    async_: Any


def make_clients(bodies: Bodies, native: bool) -> Clients:
    def handler(request: Any) -> Any:
        events = request.headers.get("x-bench-events")
        if events is None:
            headers = {**bodies.headers, "content-type": "application/json"}
            return HTTP.Response(200, headers=headers, content=bodies.json_body)
        headers = {**bodies.headers, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
        return HTTP.Response(200, headers=headers, content=bodies.streams[int(events)])

    options: dict[str, Any] = {"open_telemetry": False} if NATIVE and not native else {}
    transport = HTTP.MockTransport(handler)
    return Clients(
        anthropic.Anthropic(api_key="sk-bench", http_client=HTTP.Client(transport=transport), **options),
        anthropic.AsyncAnthropic(api_key="sk-bench", http_client=HTTP.AsyncClient(transport=transport), **options),
    )


Workload = Callable[[Clients, dict[str, Any], int, list[int]], None]


def sync_create(clients: Clients, body: dict[str, Any], calls: int, samples: list[int]) -> None:
    create = clients.sync.messages.create
    for _ in range(calls):
        started = time.perf_counter_ns()
        create(**body)
        samples.append(time.perf_counter_ns() - started)


def stream_of(events: int) -> Workload:
    def streamed(clients: Clients, body: dict[str, Any], calls: int, samples: list[int]) -> None:
        create = clients.sync.messages.create
        headers = {"x-bench-events": str(events)}
        for _ in range(calls):
            started = time.perf_counter_ns()
            for _event in create(**body, stream=True, extra_headers=headers):
                pass
            samples.append(time.perf_counter_ns() - started)

    return streamed


def stream_helper(clients: Clients, body: dict[str, Any], calls: int, samples: list[int]) -> None:
    headers = {"x-bench-events": "50"}
    for _ in range(calls):
        started = time.perf_counter_ns()
        with clients.sync.messages.stream(**body, extra_headers=headers) as stream:
            for _event in stream:
                pass
        samples.append(time.perf_counter_ns() - started)


LOOP = asyncio.new_event_loop()


def async_create(clients: Clients, body: dict[str, Any], calls: int, samples: list[int]) -> None:
    async def run() -> None:
        create = clients.async_.messages.create
        for _ in range(calls):
            started = time.perf_counter_ns()
            await create(**body)
            samples.append(time.perf_counter_ns() - started)

    LOOP.run_until_complete(run())


WORKLOADS: dict[str, Workload] = {
    "create": sync_create,
    "async create": async_create,
    "stream, 50 events": stream_of(50),
    "stream, 6 events": stream_of(6),
    "messages.stream(), 50 events": stream_helper,
}
"""The workloads of `overhead.py`, by the same names."""


class Worker:
    def __init__(self, peer: str, bodies: Bodies) -> None:
        self.bodies = bodies
        self.instrumentation = Instrumentation(peer)
        self.clients = {False: make_clients(bodies, native=False), True: make_clients(bodies, native=True)}

    def run(self, workload: str, config: str, calls: int, samples: list[int]) -> None:
        if config not in CONFIGS:
            raise SystemExit(f"unknown configuration {config!r} on anthropic {anthropic.__version__}")
        if config in ("peer", "native+peer"):
            self.instrumentation.on()
        else:
            self.instrumentation.off()
        WORKLOADS[workload](self.clients["native" in config], self.bodies.request, calls, samples)


def versions(peer: str) -> dict[str, str]:
    names = ["anthropic", "opentelemetry-api", "opentelemetry-sdk", PEERS[peer][0]]
    if peer == "otel-genai":
        names.append("opentelemetry-util-genai")
    found = {name: metadata.version(name) for name in names}
    found["python"] = sys.version.split()[0]
    return found


def serve(worker: Worker, peer: str) -> None:
    """JSON lines: {"workload", "config", "calls"} -> {"samples"}; {"op": "versions"}; EOF ends it."""
    install_pipeline()
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing an instrumentation prints can break the protocol
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("op") == "versions":
            reply: dict[str, Any] = {"versions": versions(peer), "configs": list(CONFIGS)}
        elif request.get("op") == "spans":
            trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
            _logs.get_logger_provider().force_flush()  # type: ignore[attr-defined]
            reply = {"spans": Counted.spans, "logs": Counted.logs}
        else:
            gc.collect()
            samples: list[int] = []
            worker.run(request["workload"], request["config"], request["calls"], samples)
            reply = {"samples": samples}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def census(worker: Worker) -> dict[str, Any]:
    """Per configuration and workload, what one call emits: spans (name, attributes, events), histogram
    measurements and counter series by instrument, and log records (event name, attributes)."""
    sink = install_census()
    found: dict[str, Any] = {}
    for config in CONFIGS:
        for workload in WORKLOADS:
            worker.run(workload, config, 1, [])  # the first call settles every instrument and attribute set
            sink.spans.clear()
            sink.logs.clear()
            before = measurements(sink.reader)
            worker.run(workload, config, 1, [])
            after = measurements(sink.reader)
            spans = [
                {"name": span.name, "attributes": len(span.attributes or {}), "events": len(span.events)}
                for span in sink.spans.get_finished_spans()
            ]
            logs = [
                {
                    "event": data.log_record.event_name or str(data.log_record.body)[:60],
                    "attributes": len(data.log_record.attributes or {}),
                }
                for data in sink.logs.get_finished_logs()
            ]
            added = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
            found[f"{workload} | {config}"] = {"spans": spans, "metric_points": added, "logs": logs}
    worker.instrumentation.off()
    return found


def measurements(reader: InMemoryMetricReader) -> dict[str, float]:
    """Histogram name -> measurements recorded so far (the sum of its points' counts); any other instrument -> the
    sum of its points' values, which moves when a call adds to it (its points do not say how many adds made it)."""
    counts: dict[str, int] = {}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else []:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points = metric.data.data_points
                if points and isinstance(points[0], HistogramDataPoint):
                    counts[f"{metric.name} (histogram)"] = sum(point.count for point in points)
                else:
                    counts[f"{metric.name} (sum)"] = sum(getattr(point, "value", 0) for point in points)
    return counts


def callgrind(switch: str) -> None:
    subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], capture_output=True, check=False)


def count(worker: Worker, workload: str, config: str, low: int, high: int) -> None:
    """Under `valgrind --tool=callgrind --instr-atstart=no`: warms up, then counts `low` calls, dumps, and counts
    `high` calls; `peers.py` reads both dumps and takes the difference, which the cost of switching cancels from."""
    install_pipeline(timers=False)
    worker.run(workload, config, 20, [])
    for calls in (low, high):
        gc.collect()
        callgrind("on")
        worker.run(workload, config, calls, [])
        callgrind("off")
        subprocess.run(["callgrind_control", "-d", str(os.getpid())], capture_output=True, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", required=True, choices=list(PEERS))
    parser.add_argument("--bodies", required=True, help="the responses, as peers.py writes them")
    parser.add_argument("mode", choices=["serve", "census", "count"])
    parser.add_argument("arguments", nargs="*")
    args = parser.parse_args(argv)
    worker = Worker(args.peer, load_bodies(args.bodies))
    if args.mode == "serve":
        serve(worker, args.peer)
    elif args.mode == "census":
        print(json.dumps({"versions": versions(args.peer), "census": census(worker)}))
    else:
        workload, config, low, high = args.arguments
        count(worker, workload, config, int(low), int(high))
    return 0


if __name__ == "__main__":
    sys.exit(main())
