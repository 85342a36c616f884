"""An application that exports its telemetry over OTLP/HTTP to a back end that is fine, refuses, hangs or is slow.

    python exporting_app.py BACKEND CALLS [OPTIONS_JSON]

BACKEND is `drop` (exporters that drop what they get: the baseline), `refuse` (a closed port), `hang` (a server that
accepts and never answers) or `slow` (answers 200 after a second). The real SDK calls an in-process transport
(MockTransport), the real OpenTelemetry SDK exports with its BatchSpanProcessor, PeriodicExportingMetricReader and
BatchLogRecordProcessor, timeouts from OTEL_EXPORTER_OTLP_TIMEOUT. It prints one JSON line, then exits normally: the
providers shut down at exit, as in any application, and the caller measures how long that takes.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, InMemoryLogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import anthropic_otel
from anthropic_otel import sdk_compat
from anthropic_otel.testing.fake_api import Reply, render_message

HTTP: Any = sdk_compat.http_module()
BODY = json.dumps(
    render_message(
        Reply.message("Hello there", input_tokens=12, output_tokens=2),
        msg_id="msg_export",
        model="claude-haiku-4-5",
        new_id=lambda prefix: f"{prefix}_01",
    )
).encode()
HELD: list[socket.socket] = []


def answer(request: Any) -> Any:
    return HTTP.Response(200, headers={"content-type": "application/json", "request-id": "req_1"}, content=BODY)


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def hanging() -> str:
    """Accepts every connection, reads nothing, answers nothing."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)

    def accept() -> None:
        while True:
            connection, _ = server.accept()
            HELD.append(connection)

    threading.Thread(target=accept, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}"


class Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        time.sleep(1.0)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def slow() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def pipeline(backend: str) -> None:
    if backend == "drop":
        span_exporter: Any = InMemorySpanExporter()
        reader: Any = InMemoryMetricReader()
        log_exporter: Any = InMemoryLogRecordExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = {"refuse": closed_port, "hang": hanging, "slow": slow}[backend]()
        span_exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces")
        reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{base}/v1/metrics"))
        log_exporter = OTLPLogExporter(endpoint=f"{base}/v1/logs")
    tracer_provider = TracerProvider()
    # Small batches and a short delay, so that exports really run (and block on the back end) during the calls.
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter, schedule_delay_millis=50))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter, schedule_delay_millis=50))
    _logs.set_logger_provider(logger_provider)


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    backend, calls = sys.argv[1], int(sys.argv[2])
    options = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    pipeline(backend)
    anthropic_otel.instrument(**options)
    client = anthropic.Anthropic(
        api_key="k",
        base_url="http://api.test",
        max_retries=0,
        http_client=HTTP.Client(transport=HTTP.MockTransport(answer)),
    )
    body = {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]}
    for _ in range(50):  # warm up
        client.messages.create(**body)
    rss_before = rss_kib()
    samples = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        client.messages.create(**body)
        samples.append(time.perf_counter_ns() - started)
    figures = {
        "median_us": statistics.median(samples) / 1000,
        "p90_us": sorted(samples)[int(len(samples) * 0.9)] / 1000,
        "rss_growth_kib": rss_kib() - rss_before,
        "timeout": os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT"),
        "done": time.time(),
    }
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
