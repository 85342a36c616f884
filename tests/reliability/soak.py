"""The soak (`make soak`): a million calls through the real SDK and a real OpenTelemetry SDK pipeline, against an
in-process transport (MockTransport, as benchmarks/overhead.py), with memory, open spans and tally series read at
checkpoints. Everything must stay flat: RSS and Python allocations (tracemalloc), spans started minus ended, the
tally's series, the streams the plugin watches.

    .venv/bin/python tests/reliability/soak.py [--calls 1000000] [--checkpoints 10]

The mix per 10 calls: 5 `create`, 2 streams read to the end, 1 stream left after two events, 1 `messages.stream()`,
1 call that fails (429 without retries); attribution rotates over 8 features and 1,000 users. Exits 1 when a figure
grows (the limits are below).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sys
import threading
import time
import tracemalloc
from typing import Any

import anthropic
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import anthropic_otel
from anthropic_otel import metrics as plugin_metrics
from anthropic_otel import sdk_compat, streams
from anthropic_otel.testing.fake_api import Reply, encode_sse, render_message, sse_events

HTTP: Any = sdk_compat.http_module()
MODEL = "claude-haiku-4-5"
MESSAGE = render_message(
    Reply.message("one two three four five six seven eight", input_tokens=40, output_tokens=8),
    msg_id="msg_soak",
    model=MODEL,
    new_id=lambda prefix: f"{prefix}_01",
)
JSON_BODY = json.dumps(MESSAGE).encode()
SSE_BODY = encode_sse(sse_events(MESSAGE))
ERROR_BODY = json.dumps({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}).encode()
HEADERS = {
    "request-id": "req_soak",
    "anthropic-ratelimit-requests-limit": "4000",
    "anthropic-ratelimit-requests-remaining": "3999",
}

RSS_GROWTH_LIMIT_MIB = 32.0
LEFT_PER_CALL_LIMIT = 64.0
"""Bytes of Python allocations still alive after a traced window, per call of the window (caches filling up
show here as a few bytes; a record, span or event kept per call would be hundreds)."""
WINDOW = 2000
"""Calls traced by tracemalloc at each checkpoint (tracing every call would slow the soak twentyfold)."""


def handler(request: Any) -> Any:
    if request.headers.get("x-soak-fail"):
        return HTTP.Response(429, headers={**HEADERS, "content-type": "application/json"}, content=ERROR_BODY)
    if b'"stream":true' in request.content.replace(b" ", b""):
        return HTTP.Response(200, headers={**HEADERS, "content-type": "text/event-stream"}, content=SSE_BODY)
    return HTTP.Response(200, headers={**HEADERS, "content-type": "application/json"}, content=JSON_BODY)


class Counted:
    spans = 0
    logs = 0


class DropSpans(SpanExporter):  # type: ignore[misc]
    def export(self, spans: Any) -> Any:
        Counted.spans += len(spans)
        return SpanExportResult.SUCCESS


class DropMetrics(MetricExporter):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.exports = 0

    def export(self, metrics_data: Any, timeout_millis: float = 0, **kwargs: Any) -> Any:
        self.exports += 1
        return MetricExportResult.SUCCESS

    def shutdown(self, timeout_millis: float = 0, **kwargs: Any) -> None:
        pass

    def force_flush(self, timeout_millis: float = 0) -> bool:
        return True


class DropLogs(LogRecordExporter):  # type: ignore[misc]
    def export(self, batch: Any) -> Any:
        Counted.logs += len(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 0) -> bool:
        return True


class OpenSpans(SpanProcessor):  # type: ignore[misc]
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = self.ended = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        with self.lock:
            self.started += 1

    def on_end(self, span: Any) -> None:
        with self.lock:
            self.ended += 1


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def tally_series() -> int:
    return sum(len(sums) for tally in plugin_metrics.TALLIES.values() for sums in tally.sums.values())


def one_call(client: Any, index: int) -> None:
    body = {"model": MODEL, "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}
    kind = index % 10
    with anthropic_otel.attribution(feature=f"feature-{index % 8}", user_id=f"user-{index % 1000}"):
        if kind < 5:
            client.messages.create(**body)
        elif kind < 7:
            for _ in client.messages.create(**body, stream=True):
                pass
        elif kind == 7:
            stream = client.messages.create(**body, stream=True)
            for position, _ in enumerate(stream):
                if position == 1:
                    break
            stream.close()
        elif kind == 8:
            with client.messages.stream(**body) as helper:
                helper.get_final_message()
        else:
            with contextlib.suppress(anthropic.RateLimitError):
                client.messages.create(**body, extra_headers={"x-soak-fail": "1"})


def flush() -> None:
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    _logs.get_logger_provider().force_flush()  # type: ignore[attr-defined]
    gc.collect()
    streams.end_dropped()  # the calls of the streams it collected unread


def checkpoint(
    client: Any, done: int, window: int, *, base_rss: float, open_spans: OpenSpans, started: float
) -> dict[str, Any]:
    """Runs the checkpoint's last `window` calls under tracemalloc, and reads every figure. The batch processors are
    flushed on both sides of the window: spans and log records queued for export are not leaks."""
    flush()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for index in range(done - window, done):
        one_call(client, index)
    flush()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "calls": done,
        "rss_mib": round(rss_mib() - base_rss, 2),
        "left_per_call": round((after - before) / window, 2),
        "open_spans": open_spans.started - open_spans.ended,
        "series": tally_series(),
        "watched": len(streams.WATCHED),
        "rate": round(done / (time.perf_counter() - started)),
    }


def print_rows(rows: list[dict[str, Any]]) -> None:
    row = rows[-1]
    print(
        f"{row['calls']:>10,}  {row['rss_mib']:+9.2f}  {row['left_per_call']:>11.2f}  {row['open_spans']:>10}  "
        f"{row['series']:>6}  {row['watched']:>7}  {row['rate']:>7}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--checkpoints", type=int, default=10)
    args = parser.parse_args(argv)

    open_spans = OpenSpans()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(open_spans)
    tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans(), max_queue_size=8192))
    trace.set_tracer_provider(tracer_provider)
    metric_exporter = DropMetrics()
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=5000)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(DropLogs(), max_queue_size=8192))
    _logs.set_logger_provider(logger_provider)
    anthropic_otel.instrument()

    client = anthropic.Anthropic(
        api_key="k",
        base_url="http://api.test",
        max_retries=0,
        http_client=HTTP.Client(transport=HTTP.MockTransport(handler)),
    )
    warmup = min(20_000, max(args.calls // 20, 100))
    for index in range(warmup):  # every series, shape and cache exists after this
        one_call(client, index)
    gc.collect()
    streams.end_dropped()  # the calls of the streams it collected unread
    base_rss, base_series = rss_mib(), tally_series()
    step = max(args.calls // args.checkpoints, 1)
    window = min(WINDOW, step)
    started = time.perf_counter()
    rows = []
    print(f"anthropic {anthropic.__version__}, Python {sys.version.split()[0]}: {args.calls:,} calls", flush=True)
    print("     calls    RSS MiB  left B/call  open spans  series  watched  calls/s", flush=True)
    for done in range(step, args.calls + 1, step):
        for index in range(done - step, done - window):
            one_call(client, index)
        rows.append(checkpoint(client, done, window, base_rss=base_rss, open_spans=open_spans, started=started))
        print_rows(rows)
    tracer_provider.force_flush()
    logger_provider.force_flush()
    final = rows[-1]
    # Spans per call: one call span each (the SDK's own or the plugin's) and nothing else.
    failures = []
    if final["open_spans"] != 0:
        failures.append(f"{final['open_spans']} spans left open")
    if final["series"] != base_series:
        failures.append(f"tally series grew from {base_series} to {final['series']}")
    if final["watched"] != 0:
        failures.append(f"{final['watched']} streams still watched")
    if final["rss_mib"] > RSS_GROWTH_LIMIT_MIB:
        failures.append(f"RSS grew {final['rss_mib']} MiB (limit {RSS_GROWTH_LIMIT_MIB})")
    worst = max(row["left_per_call"] for row in rows)
    if worst > LEFT_PER_CALL_LIMIT:
        failures.append(f"{worst} bytes of Python allocations left per call (limit {LEFT_PER_CALL_LIMIT})")
    print(
        f"spans exported {Counted.spans:,}, log records {Counted.logs:,}, metric exports {metric_exporter.exports}",
        flush=True,
    )
    print("FAILED: " + "; ".join(failures) if failures else "flat: OK", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
