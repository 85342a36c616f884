"""What anthropic-otel costs per call, side by side with the bare SDK.

The real SDK runs against an in-process transport (`httpx.MockTransport` / `httpx2.MockTransport` passed as
`http_client`), so there is no network noise, with response bodies and headers shaped like the API's. A real
OpenTelemetry SDK pipeline is installed (BatchSpanProcessor, a periodic metric reader, a batch log processor)
whose exporters drop what they get but count it, so a dropped span shows.

Configurations, measured in one process, each round in a rotated order:
- `bare`: the SDK uninstrumented, its native tracing off;
- `native`: the SDK's own tracing only (anthropic 1.14+);
- `otel`: anthropic-otel fully on (span, all metrics, cost, log record), native tracing off;
- `native+otel`: anthropic-otel on top of the SDK's own span (1.14+);
- with `--breakdown`, `otel, no-op SDK` (the plugin's own logic: anthropic-otel on the API's no-op providers)
  and `floor` (no plugin: `floor.py` emits the plugin's telemetry verbatim with no logic, which is what any
  instrumentation pays the OpenTelemetry SDK for that telemetry).

Workloads: sync `create`, async `create`, a `stream=True` call read to the end (50 events, and 6 events for the
cost per event), and `messages.stream()`. Every call is timed on its own; the report gives median and p90 per
configuration and the added cost as microseconds and as a ratio of the bare call. The added cost is paired by
round (see `summarise`), so that the machine's slow drifts cancel out. A memory run then makes 100,000 calls and
reports the growth of the process, and the threads and tasks alive before and after. `instructions.py` counts
the same configurations in instructions, which this machine's clock cannot measure to better than ten points.

    .venv/bin/python benchmarks/overhead.py             # the full run (`make bench` runs it on two SDKs)
    .venv/bin/python benchmarks/overhead.py --smoke     # the guard in `make test`: fails above +100%
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import anthropic._base_client as base
from exporters import Counted, DropLogs, DropMetrics, DropSpans
from floor import Captured, Floor, capture, describe  # benchmarks/, the script's own folder
from opentelemetry import _logs, metrics, trace
from opentelemetry._logs import NoOpLoggerProvider
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NoOpTracerProvider

import anthropic_otel
from anthropic_otel import sdk_compat
from anthropic_otel.testing.fake_api import Reply, encode_sse, render_message, sse_events

HTTP: Any = getattr(base, "httpx2", None) or base.httpx
NATIVE = sdk_compat.has_native_spans()
MODEL = "claude-haiku-4-5-20251001"
ANSWER = (
    "OpenTelemetry gives you three signals. Traces follow one request across services, metrics count and "
    "measure what happens over time, and logs keep the details of single events. For an LLM client, the span "
    "of each call carries the model, the token counts and the stop reason; the metrics add them up by model "
    "and feature so you can see spend and latency trends; and the log record keeps the request id, so that a "
    "support ticket can be matched to the exact call. Sampling keeps trace volume down, while metrics stay "
    "complete, because they are aggregated in the process before export."
)
# Rendered by the fake API's own renderer, so the benchmark parses exactly what the tests' server sends.
MESSAGE = render_message(
    Reply.message(ANSWER, input_tokens=412, output_tokens=121, cache_read_input_tokens=2048),
    msg_id="msg_01XFDUDYJgAACzvnptvVoYEL",
    model=MODEL,
    new_id=lambda prefix: f"{prefix}_01",
)
HEADERS = {
    # The header set of a recorded API response (../shared/fixtures/recorded-anthropic), with today's limits.
    "date": "Tue, 24 Nov 2026 20:00:00 GMT",
    "request-id": "req_011CVbench0000000000000",
    "anthropic-organization-id": "00000000-0000-0000-0000-000000000000",
    "anthropic-ratelimit-requests-limit": "4000",
    "anthropic-ratelimit-requests-remaining": "3999",
    "anthropic-ratelimit-requests-reset": "2026-11-24T20:00:01Z",
    "anthropic-ratelimit-input-tokens-limit": "400000",
    "anthropic-ratelimit-input-tokens-remaining": "397000",
    "anthropic-ratelimit-input-tokens-reset": "2026-11-24T20:00:01Z",
    "anthropic-ratelimit-output-tokens-limit": "80000",
    "anthropic-ratelimit-output-tokens-remaining": "79800",
    "anthropic-ratelimit-output-tokens-reset": "2026-11-24T20:00:01Z",
    "anthropic-ratelimit-tokens-limit": "480000",
    "anthropic-ratelimit-tokens-remaining": "476800",
    "anthropic-ratelimit-tokens-reset": "2026-11-24T20:00:01Z",
    "via": "1.1 google",
    "cf-cache-status": "DYNAMIC",
    "server": "cloudflare",
    "cf-ray": "8e0000000000000-SJC",
    "x-robots-tag": "none",
}


def sse(events: int) -> bytes:
    """A streamed Message of exactly `events` events (no ping), the text spread evenly over its content deltas."""
    return encode_sse(sse_events(MESSAGE, deltas=events - 5, ping=False))


JSON_BODY = json.dumps(MESSAGE).encode()
STREAMS = {50: sse(50), 6: sse(6)}


def handler(request: Any) -> Any:
    events = request.headers.get("x-bench-events")
    if events is None:
        return HTTP.Response(200, headers={**HEADERS, "content-type": "application/json"}, content=JSON_BODY)
    headers = {**HEADERS, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
    return HTTP.Response(200, headers=headers, content=STREAMS[int(events)])


def install_pipeline(export_interval_millis: int = 10_000) -> tuple[TracerProvider, MeterProvider, LoggerProvider]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans()))
    trace.set_tracer_provider(tracer_provider)
    meter_provider = MeterProvider(
        [PeriodicExportingMetricReader(DropMetrics(), export_interval_millis=export_interval_millis)]
    )
    metrics.set_meter_provider(meter_provider)
    log_provider = LoggerProvider()
    log_provider.add_log_record_processor(BatchLogRecordProcessor(DropLogs()))
    _logs.set_logger_provider(log_provider)
    return tracer_provider, meter_provider, log_provider


BODY = {"model": MODEL, "max_tokens": 1024, "messages": [{"role": "user", "content": "What is OpenTelemetry for?"}]}


@dataclass
class Clients:
    sync: Any
    async_: Any


def make_clients(native: bool) -> Clients:
    options: dict[str, Any] = {"open_telemetry": False} if NATIVE and not native else {}
    transport = HTTP.MockTransport(handler)
    return Clients(
        anthropic.Anthropic(api_key="sk-bench", http_client=HTTP.Client(transport=transport), **options),
        anthropic.AsyncAnthropic(api_key="sk-bench", http_client=HTTP.AsyncClient(transport=transport), **options),
    )


Workload = Callable[[Clients, int, list[int]], None]


def sync_create(clients: Clients, calls: int, samples: list[int]) -> None:
    create = clients.sync.messages.create
    for _ in range(calls):
        started = time.perf_counter_ns()
        create(**BODY)
        samples.append(time.perf_counter_ns() - started)


def stream_of(events: int) -> Workload:
    def streamed(clients: Clients, calls: int, samples: list[int]) -> None:
        create = clients.sync.messages.create
        headers = {"x-bench-events": str(events)}
        for _ in range(calls):
            started = time.perf_counter_ns()
            for _event in create(**BODY, stream=True, extra_headers=headers):
                pass
            samples.append(time.perf_counter_ns() - started)

    return streamed


def stream_helper(clients: Clients, calls: int, samples: list[int]) -> None:
    headers = {"x-bench-events": "50"}
    for _ in range(calls):
        started = time.perf_counter_ns()
        with clients.sync.messages.stream(**BODY, extra_headers=headers) as stream:
            for _event in stream:
                pass
        samples.append(time.perf_counter_ns() - started)


LOOP = asyncio.new_event_loop()


def async_create(clients: Clients, calls: int, samples: list[int]) -> None:
    async def run() -> None:
        create = clients.async_.messages.create
        for _ in range(calls):
            started = time.perf_counter_ns()
            await create(**BODY)
            samples.append(time.perf_counter_ns() - started)

    LOOP.run_until_complete(run())


WORKLOADS: dict[str, Workload] = {
    "create": sync_create,
    "async create": async_create,
    "stream, 50 events": stream_of(50),
    "stream, 6 events": stream_of(6),
    "messages.stream(), 50 events": stream_helper,
}
SMOKE_WORKLOADS = ("create", "stream, 50 events")
SMOKE_LIMIT = 1.0
"""The guard fails only above this added ratio: a gross regression, never the noise of a busy machine."""


BREAKDOWN = "otel, no-op SDK"
"""anthropic-otel on the OpenTelemetry API's no-op providers: the plugin's own logic, without the SDK's work of
making and queueing the span, the histogram points and the log record (`--breakdown`)."""


FLOOR = "floor"
"""No plugin, but a wrapper that emits the plugin's telemetry verbatim, with constant values and no logic (see
`floor.py`): what any instrumentation pays the OpenTelemetry SDK for this telemetry (`--breakdown`)."""
FLOOR_NO_SPAN = "floor, no span"
"""The floor without its span: the histogram points and the log record alone, about the least that anything
emitting them can add on top of the SDK's native span (counted by `instructions.py` only)."""
CAPTURED: list[Captured] = []
"""The telemetry the floor replays, captured from the plugin once per run."""


OPENLLMETRY = "openllmetry"
"""OpenLLMetry's `opentelemetry-instrumentation-anthropic`, when it is installed (it is no dependency of ours), in
its default configuration, native tracing off: the comparison the issue asks about."""


def openllmetry() -> Any:
    try:
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor  # type: ignore[import-not-found]
    except ImportError:
        return None
    return AnthropicInstrumentor()


def configurations(breakdown: bool = False) -> list[str]:
    configs = ["bare", "native", "otel", "native+otel"] if NATIVE else ["bare", "otel"]
    if breakdown:
        configs += [BREAKDOWN, FLOOR]
    if openllmetry() is not None:
        configs.append(OPENLLMETRY)
    return configs


def instrument(config: str) -> Callable[[], None]:
    """Instruments for `config`; returns what undoes it."""
    if config == OPENLLMETRY:
        other = openllmetry()
        other.instrument()
        return other.uninstrument  # type: ignore[no-any-return]
    if config in (FLOOR, FLOOR_NO_SPAN):
        floor = Floor(CAPTURED[0], tracer_provider=NoOpTracerProvider() if config == FLOOR_NO_SPAN else None)
        floor.install()
        return floor.uninstall
    if config == BREAKDOWN:
        anthropic_otel.instrument(
            tracer_provider=NoOpTracerProvider(),
            meter_provider=NoOpMeterProvider(),
            logger_provider=NoOpLoggerProvider(),
        )
    else:
        anthropic_otel.instrument()
    return anthropic_otel.uninstrument


def measure(
    rounds: int, calls: int, workloads: tuple[str, ...], configs: list[str]
) -> dict[tuple[str, str], list[list[int]]]:
    """Per-call nanoseconds by (workload, configuration), one list per round. Each round runs every configuration
    once, in an order rotated by one from the round before, so that no configuration always runs first or right
    after another."""
    clients = {False: make_clients(native=False), True: make_clients(native=True)}
    samples: dict[tuple[str, str], list[list[int]]] = {}
    instrumented = ""
    undo: Callable[[], None] | None = None
    for number in range(rounds + 1):  # round 0 warms everything up and is not kept
        shift = number % len(configs)
        for config in configs[shift:] + configs[:shift]:
            wanted = "" if config in ("bare", "native") else "sdk" if config in ("otel", "native+otel") else config
            if instrumented != wanted:
                if undo is not None:
                    undo()
                undo = instrument(config) if wanted else None
                instrumented = wanted
            for name in workloads:
                gc.collect()
                kept: list[int] = []
                WORKLOADS[name](clients["native" in config], calls, kept)
                if number:
                    samples.setdefault((name, config), []).append(kept)
    if undo is not None:
        undo()
    return samples


def capture_shapes() -> Captured:
    clients = make_clients(native=False)

    def stream() -> None:
        for _event in clients.sync.messages.create(**BODY, stream=True, extra_headers={"x-bench-events": "50"}):
            pass

    return capture(lambda: clients.sync.messages.create(**BODY), stream)


def p90(values: list[int]) -> float:
    return statistics.quantiles(values, n=10)[-1]


@dataclass
class Row:
    workload: str
    config: str
    median_us: float
    p90_us: float
    mean_us: float
    added_us: float | None
    added_ratio: float | None


REFERENCES = {
    "otel": "bare",
    "native+otel": "native",
    BREAKDOWN: "bare",
    FLOOR: "bare",
    FLOOR_NO_SPAN: "bare",
    OPENLLMETRY: "bare",
}
"""What each configuration is compared with: `native+otel` with `native` (what the plugin adds on top of the SDK's
own span), everything else with `bare`."""


def summarise(
    samples: dict[tuple[str, str], list[list[int]]], workloads: tuple[str, ...], configs: list[str]
) -> list[Row]:
    """One row per (workload, configuration): median, p90 and mean over every call, and the added cost.

    `added` is paired by round: the median over rounds of (this configuration's median in the round minus its
    reference's median in the same round). The configurations of one round run within seconds of each other, so
    a machine that gets slower or faster for a minute moves both sides of each difference alike. The ratio is
    `added` over the bare median."""
    rows = []
    for name in workloads:
        bare = statistics.median(pooled(samples[(name, "bare")])) / 1000
        for config in configs:
            values = pooled(samples[(name, config)])
            reference = REFERENCES.get(config)
            added = None
            if reference is not None:
                pairs = zip(samples[(name, config)], samples[(name, reference)], strict=True)
                added = statistics.median(statistics.median(mine) - statistics.median(theirs) for mine, theirs in pairs)
                added /= 1000
            rows.append(
                Row(
                    name,
                    config,
                    statistics.median(values) / 1000,
                    p90(values) / 1000,
                    statistics.fmean(values) / 1000,
                    added,
                    added / bare if added is not None else None,
                )
            )
    return rows


def pooled(rounds: list[list[int]]) -> list[int]:
    return [value for values in rounds for value in values]


def per_event_us(rows: list[Row], config: str) -> float | None:
    """The plugin's cost per stream event: the difference in added cost between a 50-event and a 6-event stream,
    over the 44 events between them."""
    added = {row.workload: row.added_us for row in rows if row.config == config}
    long, short = added.get("stream, 50 events"), added.get("stream, 6 events")
    return None if long is None or short is None else (long - short) / 44


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_run(calls: int) -> dict[str, Any]:
    """`calls` instrumented calls (creates and streams, sync and async) in ten parts, after a warm-up part: the
    process's resident memory after each part, the threads and asyncio tasks alive before and after, and the
    spans the SDK pipeline exported (its BatchSpanProcessor drops spans when its queue of 2048 is full).

    The pipeline is flushed before every reading: in a tight loop the SDK's span and log queues fill up (about 2 MB
    when full), and how full they happen to be is the SDK's state, not memory the plugin keeps."""
    clients = make_clients(native=False)
    anthropic_otel.instrument()
    mix: list[Workload] = [sync_create, stream_of(6), async_create]
    per_workload = max(calls // 10 // len(mix), 1)
    samples: list[int] = []

    def part() -> None:
        for workload in mix:
            workload(clients, per_workload, samples)
            samples.clear()
        trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
        _logs.get_logger_provider().force_flush()  # type: ignore[attr-defined]
        gc.collect()

    part()
    threads_before = threading.active_count()
    spans_before = Counted.spans
    checkpoints = [rss_bytes()]
    for _ in range(10):
        part()
        checkpoints.append(rss_bytes())
    spans_exported = Counted.spans - spans_before
    # RSS also moves with the allocator's arenas; what Python objects the calls leave behind is exact. Two more
    # parts, traced (the first settles what tracing itself allocates): the bytes the second leaves, per call.
    tracemalloc.start()
    part()
    traced_before = tracemalloc.get_traced_memory()[0]
    part()
    retained = tracemalloc.get_traced_memory()[0] - traced_before
    tracemalloc.stop()
    tasks = len(asyncio.all_tasks(LOOP))
    anthropic_otel.uninstrument()
    return {
        "calls": per_workload * len(mix) * 10,
        "rss_mb": [round(value / 2**20, 1) for value in checkpoints],
        "growth_mb": round((checkpoints[-1] - checkpoints[0]) / 2**20, 2),
        "retained_bytes_per_call": round(retained / (per_workload * len(mix)), 2),
        "threads_before": threads_before,
        "threads_after": threading.active_count(),
        "tasks_left": tasks,
        "spans_exported": spans_exported,
    }


def report_memory(memory: dict[str, Any]) -> None:
    print(
        f"memory over {memory['calls']} instrumented calls after a warm-up: RSS {memory['rss_mb'][0]} -> "
        f"{memory['rss_mb'][-1]} MB ({memory['growth_mb']:+} MB); after each tenth {memory['rss_mb'][1:]}"
    )
    print(
        f"Python allocations left by {memory['calls'] // 10} more calls (tracemalloc): "
        f"{memory['retained_bytes_per_call']} bytes per call"
    )
    print(
        f"threads {memory['threads_before']} before, {memory['threads_after']} after; "
        f"asyncio tasks left: {memory['tasks_left']}; spans exported: {memory['spans_exported']}"
    )


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def report(rows: list[Row], rounds: int, calls: int) -> None:
    print(f"anthropic {anthropic.__version__} on {machine()}")
    print(f"{rounds} rounds x {calls} calls per workload and configuration; microseconds per call")
    print(f"{'workload':30} {'config':16} {'median':>9} {'p90':>9} {'mean':>9} {'added':>9} {'ratio':>8}")
    for row in rows:
        added = f"{row.added_us:+9.1f}" if row.added_us is not None else " " * 9
        ratio = f"{row.added_ratio:+8.1%}" if row.added_ratio is not None else ""
        times = f"{row.median_us:9.1f} {row.p90_us:9.1f} {row.mean_us:9.1f}"
        print(f"{row.workload:30} {row.config:16} {times} {added} {ratio}")
    for config in ("otel", "native+otel"):
        if (value := per_event_us(rows, config)) is not None:
            print(f"per stream event, {config}: {value:+.2f} us")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=200, help="calls per workload, configuration and round")
    parser.add_argument("--memory-calls", type=int, default=100_000, help="0 skips the memory run")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--breakdown", action="store_true", help=f"also measure {BREAKDOWN!r}: the plugin's logic without the SDK"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="the guard of `make test`: a few thousand calls, failing only if the plugin adds over 100%%",
    )
    parser.add_argument(
        "--memory-only", action="store_true", help="only the memory run (with --json: replaces its figures in the file)"
    )
    args = parser.parse_args(argv)
    install_pipeline()
    if args.memory_only:
        memory = memory_run(args.memory_calls)
        report_memory(memory)
        if args.json:  # replaces the memory run of an earlier full run's figures, keeping the rest
            figures: dict[str, Any] = {}
            if os.path.exists(args.json):
                with open(args.json) as earlier:
                    figures = json.load(earlier)
            with open(args.json, "w") as out:
                json.dump({**figures, "memory": memory}, out, indent=2)
        return 0
    workloads = SMOKE_WORKLOADS if args.smoke else tuple(WORKLOADS)
    rounds, calls = (6, 200) if args.smoke else (args.rounds, args.calls)
    spans_before = Counted.spans
    configs = configurations(args.breakdown)
    if FLOOR in configs:
        CAPTURED.append(capture_shapes())
        print(f"the floor replays, per call: {describe(CAPTURED[0])}")
    rows = summarise(measure(rounds, calls, workloads, configs), workloads, configs)
    report(rows, rounds, calls)
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    traced_configs = sum(config in ("native", "otel", "native+otel", FLOOR, OPENLLMETRY) for config in configs)
    traced_calls = (rounds + 1) * calls * len(workloads) * traced_configs
    print(f"spans exported: {Counted.spans - spans_before} of {traced_calls} calls traced")
    if args.smoke:
        worst = max(row.added_ratio for row in rows if row.added_ratio is not None)
        if worst > SMOKE_LIMIT:
            # A noisy neighbour can make one run look bad: only a second bad run in a row is a regression.
            print(f"anthropic-otel added {worst:.0%} to a bare call; measuring again")
            rows = summarise(measure(rounds, calls, workloads, configs), workloads, configs)
            report(rows, rounds, calls)
            worst = max(row.added_ratio for row in rows if row.added_ratio is not None)
        if worst > SMOKE_LIMIT:
            print(f"FAIL: anthropic-otel adds {worst:.0%} to a bare call (the guard allows {SMOKE_LIMIT:.0%})")
            return 1
        print(f"ok: at most {worst:+.0%} added (the guard fails above +{SMOKE_LIMIT:.0%})")
        return 0
    memory = memory_run(args.memory_calls) if args.memory_calls else None
    if memory is not None:
        report_memory(memory)
    if args.json:
        with open(args.json, "w") as out:
            figures = {
                "anthropic": anthropic.__version__,
                "machine": machine(),
                "date": time.strftime("%Y-%m-%d"),
                "rounds": rounds,
                "calls": calls,
                "rows": [vars(row) for row in rows],
                "per_event_us": {config: per_event_us(rows, config) for config in ("otel", "native+otel")},
                "memory": memory,
            }
            json.dump(figures, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
