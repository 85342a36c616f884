"""The end-to-end test's workload: a service that calls the Anthropic API in a loop, instrumented for real.

Run as a subprocess (tests/conftest.py installs in-memory providers at import, this process needs its own): the
OpenTelemetry SDK configured from the environment as a deployed service would be (`OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_METRIC_EXPORT_INTERVAL`), the plugin through
`anthropic_otel.instrument()`, and the real anthropic SDK calling `FakeAnthropic` on loopback.

Two profiles, repeated in cycles for `--seconds` or until `--stop-file` appears:

* `broken`, 21 calls a cycle on claude-sonnet-4-5 unless said otherwise:
  - one call meets a burst of three 529s: with max_retries=2 the SDK gives up, the call fails (`overloaded_error`);
  - one 429 with `retry-after: 0.01`, then success;
  - two calls (about 10%) get one 500 each and succeed on the SDK's retry: the masked-error case;
  - two calls stop at max_tokens; one is streamed; one reads and writes the prompt cache
    (2000 input tokens in all, as the others);
  - feature `search`: three calls of 500 input tokens and one long-input outlier of 20000 (after the warm-up of
    `ANOMALY_WARMUP` search calls every outlier is more than `ANOMALY_FACTOR` times the running average);
  - one call on `claude-next-9`, a model the price table does not know;
  - the rest plain calls of 2000 input and 300 output tokens; about 0.25 USD a cycle in all;
  and once, at the start, a Message Batch of two requests (the batch-savings series).
* `healthy`: two calls a second on claude-haiku-4-5, feature `faq`, 30 input and 8 output tokens, all answered
  at once: about 0.00014 USD a second.

It writes one JSON object to `--summary`: what it did, counted by the workload itself (calls, failed calls,
retried attempts by status, stop reasons, outliers judged after the warm-up, unpriced calls), so the test can
compare Prometheus' counters with it exactly, and the trace IDs of its calls.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anthropic
from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import anthropic_otel
from anthropic_otel import attribution
from anthropic_otel.testing import FakeAnthropic, Reply

SONNET = "claude-sonnet-4-5"
HAIKU = "claude-haiku-4-5"
UNPRICED = "claude-next-9"
ANOMALY_FACTOR = 2.0
ANOMALY_WARMUP = 5
USER = [{"role": "user", "content": "Summarise the incident report"}]


class Broken:
    """One cycle of the broken service's calls; counts what it asked for."""

    def __init__(self, fake: FakeAnthropic, client: anthropic.Anthropic, done: Counter[str]) -> None:
        self.fake, self.client, self.done = fake, client, done
        self.search_calls = 0

    def call(self, *replies: Reply, model: str = SONNET, feature: str = "chat", stream: bool = False) -> None:
        self.fake.enqueue(*replies)
        self.done["calls"] += 1
        with attribution(feature=feature):
            if stream:
                for _ in self.client.messages.create(model=model, max_tokens=1024, messages=USER, stream=True):
                    pass
            else:
                self.client.messages.create(model=model, max_tokens=1024, messages=USER)

    def plain(self, **extra: Any) -> Reply:
        return Reply.message("an answer", input_tokens=2000, output_tokens=300, **extra)

    def batch(self) -> None:
        self.fake.default = Reply.message("batched", input_tokens=2000, output_tokens=300)
        batch = self.client.messages.batches.create(
            requests=[
                {"custom_id": f"r{n}", "params": {"model": SONNET, "max_tokens": 1024, "messages": USER}}  # type: ignore[misc]
                for n in range(2)
            ]
        )
        results = [result.result.type for result in self.client.messages.batches.results(batch.id)]
        assert results == ["succeeded", "succeeded"], results
        self.fake.default = self.plain()

    def cycle(self) -> None:
        done = self.done
        try:
            self.call(Reply.overloaded(), Reply.overloaded(), Reply.overloaded())
        except anthropic.APIStatusError as error:
            assert error.status_code == 529, error
            done["failed:overloaded_error"] += 1
        done["retried:529"] += 2
        done["attempts:not_retried"] += 1
        self.call(Reply.rate_limited(retry_after=0.01), self.plain())
        done["retried:429"] += 1
        for _ in range(2):
            self.call(Reply.error(500, "api_error"), self.plain())
            done["retried:500"] += 1
        for _ in range(2):
            self.call(Reply.message("cut off", input_tokens=2000, output_tokens=1024, stop_reason="max_tokens"))
            done["stop:max_tokens"] += 1
        self.call(self.plain(), stream=True)
        # The same 2000 input tokens, most of them from the cache (the anomaly detector counts cached input too).
        cached = {"cache_read_input_tokens": 1200, "cache_creation_input_tokens": 300}
        self.call(Reply.message("cached", input_tokens=500, output_tokens=300, **cached))
        for _ in range(8):
            self.call(self.plain())
        for tokens in (500, 500, 500, 20000):
            self.call(Reply.message("found", input_tokens=tokens, output_tokens=100), feature="search")
            if tokens == 20000 and self.search_calls >= ANOMALY_WARMUP:
                done["outliers_after_warmup"] += 1
            self.search_calls += 1
        self.call(Reply.message("who prices me?", input_tokens=2000, output_tokens=300), model=UNPRICED)
        done["unpriced"] += 1
        # Every call but the failed one answered with one attempt of its own that was not retried.
        done["stop:end_turn"] += 21 - 1 - 2
        done["attempts:not_retried"] += 21 - 1


def healthy(fake: FakeAnthropic, client: anthropic.Anthropic, done: Counter[str]) -> None:
    fake.enqueue(Reply.message("an FAQ answer", input_tokens=30, output_tokens=8))
    with attribution(feature="faq"):
        client.messages.create(model=HAIKU, max_tokens=256, messages=USER)
    done["calls"] += 1
    done["stop:end_turn"] += 1
    done["attempts:not_retried"] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", choices=["broken", "healthy"])
    parser.add_argument("--seconds", type=float, required=True, help="how long to keep calling, at most")
    parser.add_argument("--stop-file", type=Path, help="stop after the cycle during which this file appears")
    parser.add_argument("--summary", required=True, help="where to write what was done, as JSON")
    args = parser.parse_args()

    # Resource, endpoint and export interval from the OTEL_* environment, as a deployed service has them.
    resource = Resource.create()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(), schedule_delay_millis=200))
    recorded = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(recorded))
    reader = PeriodicExportingMetricReader(OTLPMetricExporter())  # every OTEL_METRIC_EXPORT_INTERVAL ms
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    anthropic_otel.instrument(anomaly_factor=ANOMALY_FACTOR, anomaly_warmup=ANOMALY_WARMUP)

    done: Counter[str] = Counter()
    started = time.time()
    cycles = 0
    with FakeAnthropic() as fake:
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="sk-test", max_retries=2)
        broken = Broken(fake, client, done)
        if args.profile == "broken":
            broken.batch()
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline and not (args.stop_file and args.stop_file.exists()):
            if args.profile == "broken":
                broken.cycle()
            else:
                healthy(fake, client, done)
                time.sleep(0.5)
            cycles += 1
        assert not fake.errors, fake.format_errors()
    ended = time.time()
    meter_provider.shutdown()  # the last export: Prometheus' counters end at exactly these counts
    tracer_provider.shutdown()
    spans = [span for span in recorded.get_finished_spans() if span.name == "anthropic.messages.create"]
    summary = {
        "profile": args.profile,
        "service": resource.attributes["service.name"],
        "started": started,
        "ended": ended,
        "cycles": cycles,
        "counts": dict(done),
        "call_spans": len(spans),
        "trace_ids": sorted({format(span.context.trace_id, "032x") for span in spans}),
    }
    with open(args.summary, "w", encoding="utf-8") as out:
        json.dump(summary, out)


if __name__ == "__main__":
    main()
