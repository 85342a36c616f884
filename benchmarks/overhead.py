"""First cut of the overhead benchmark (issue 4): sync `messages.create` and a 50-event stream, bare SDK versus
anthropic-otel fully on, against an in-process transport, alternating configurations every round.

Run: `.venv/bin/python benchmarks/overhead.py` (prints medians and ratios; it asserts nothing).
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import anthropic
import anthropic._base_client as base
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import anthropic_otel

HTTP: Any = getattr(base, "httpx2", None) or base.httpx
MODEL = "claude-sonnet-4-5-20250929"
MESSAGE = {
    "id": "msg_bench",
    "type": "message",
    "role": "assistant",
    "model": MODEL,
    "content": [{"type": "text", "text": "Hello! How can I help you today?"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 120,
        "output_tokens": 9,
        "cache_read_input_tokens": 2048,
        "cache_creation_input_tokens": 0,
    },
}


def sse() -> bytes:
    events = [("message_start", {"type": "message_start", "message": {**MESSAGE, "content": [], "stop_reason": None}})]
    events.append(
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
    )
    for n in range(46):
        delta = {"type": "text_delta", "text": f"word{n} "}
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 46}},
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)


JSON_BODY = json.dumps(MESSAGE).encode()
SSE_BODY = sse()
HEADERS = {"request-id": "req_bench", "anthropic-ratelimit-requests-remaining": "3999"}


def handler(request: Any) -> Any:
    if b'"stream":true' in request.content or b'"stream": true' in request.content:
        return HTTP.Response(200, headers={**HEADERS, "content-type": "text/event-stream"}, content=SSE_BODY)
    return HTTP.Response(200, headers={**HEADERS, "content-type": "application/json"}, content=JSON_BODY)


class DropSpans(SpanExporter):  # type: ignore[misc]
    def export(self, spans: Any) -> Any:
        return SpanExportResult.SUCCESS


class DropMetrics(MetricExporter):  # type: ignore[misc]
    def export(self, metrics_data: Any, timeout_millis: float = 0, **kwargs: Any) -> Any:
        return MetricExportResult.SUCCESS

    def shutdown(self, timeout_millis: float = 0, **kwargs: Any) -> None:
        pass

    def force_flush(self, timeout_millis: float = 0) -> bool:
        return True


class DropLogs(LogRecordExporter):  # type: ignore[misc]
    def export(self, batch: Any) -> Any:
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 0) -> bool:
        return True


def main(rounds: int = 30, calls: int = 200) -> None:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans()))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider([PeriodicExportingMetricReader(DropMetrics(), 60_000)]))
    log_provider = LoggerProvider()
    log_provider.add_log_record_processor(BatchLogRecordProcessor(DropLogs()))
    _logs.set_logger_provider(log_provider)

    options: dict[str, Any] = {"open_telemetry": False} if anthropic_otel.sdk_compat.has_native_spans() else {}
    client = anthropic.Anthropic(api_key="k", http_client=HTTP.Client(transport=HTTP.MockTransport(handler)), **options)
    body = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}

    def plain() -> None:
        client.messages.create(**body)

    def streamed() -> None:
        for _ in client.messages.create(**body, stream=True):
            pass

    results: dict[tuple[str, str], list[float]] = {}
    for round_number in range(rounds):
        order = ["bare", "otel"] if round_number % 2 == 0 else ["otel", "bare"]
        for config in order:
            if config == "otel":
                anthropic_otel.instrument()
            else:
                anthropic_otel.uninstrument()
            for name, work in (("create", plain), ("stream (50 events)", streamed)):
                started = time.perf_counter()
                for _ in range(calls):
                    work()
                results.setdefault((name, config), []).append((time.perf_counter() - started) / calls * 1e6)
    print(f"anthropic {anthropic.__version__}, {rounds} rounds x {calls} calls, median us per call")
    for name in ("create", "stream (50 events)"):
        bare = statistics.median(results[(name, "bare")])
        otel = statistics.median(results[(name, "otel")])
        print(
            f"  {name:20} bare {bare:8.1f}  otel {otel:8.1f}  added {otel - bare:7.1f} us  ratio {otel / bare - 1:+.1%}"
        )


if __name__ == "__main__":
    main()
