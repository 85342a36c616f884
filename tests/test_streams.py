"""Streams: the span ends exactly once however the stream ends, and usage is never invented or double-counted."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.metrics import AlignedHistogramBucketExemplarReservoir, MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import View
from opentelemetry.trace import StatusCode

from anthropic_otel.testing import FakeAnthropic, Reply
from conftest import LOGS, MODEL, NATIVE, USER, Driver, Spans


def test_stream_read_to_the_end(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(
        Reply.message("one two three four five six seven", id="msg_s", input_tokens=40, cache_read_input_tokens=8)
    )
    events = driver.stream_events()
    assert [event.type for event in events][-1] == "message_stop"
    span = spans.one()
    assert span.status.status_code is StatusCode.OK
    attributes = span.attributes or {}
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.response.id"] == "msg_s"
    assert attributes["gen_ai.usage.input_tokens"] == 48
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 8
    assert attributes["gen_ai.usage.output_tokens"] == 7  # from message_delta, not message_start's placeholder 1
    assert attributes["anthropic.message.stop_reason"] == "end_turn"
    assert attributes["gen_ai.response.finish_reasons"] == ("end_turn",)
    ttfc = attributes["gen_ai.response.time_to_first_chunk"]
    assert 0 < ttfc <= (span.end_time - span.start_time) / 1e9


@pytest.mark.parametrize("close", [False, True])
def test_stream_left_early_ends_without_an_output_count(
    driver: Driver, fake: FakeAnthropic, spans: Spans, close: bool
) -> None:
    fake.enqueue(Reply.message("one two three four five six seven eight nine", id="msg_early", input_tokens=9))
    events = driver.stream_events(stop_after=3, close=close)
    assert len(events) == 3
    span = spans.one()  # ended when closed, or when the dropped stream was collected
    attributes = span.attributes or {}
    assert span.status.status_code is not StatusCode.ERROR  # leaving early is the application's choice, no error
    assert attributes["gen_ai.response.id"] == "msg_early"
    assert attributes["gen_ai.usage.input_tokens"] == 9
    assert "gen_ai.usage.output_tokens" not in attributes
    assert "anthropic.message.stop_reason" not in attributes


def test_stream_cut_short_by_the_server_is_an_error_on_the_span_only(
    driver: Driver, fake: FakeAnthropic, spans: Spans
) -> None:
    fake.enqueue(Reply.truncated_stream(4, id="msg_cut"))
    events = driver.stream_events()
    assert len(events) == 3  # message_start, content_block_start, one delta (the ping is not an event)
    span = spans.one()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "api_error"
    assert "gen_ai.usage.output_tokens" not in span.attributes


def test_stream_broken_connection(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(Reply.truncated_stream(4, abrupt=True))
    with pytest.raises(Exception) as raised:
        driver.stream_events()
    assert type(raised.value).__name__ == "RemoteProtocolError"  # the SDK's own exception, untouched
    span = spans.one()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "connection_error"


def test_error_event_inside_a_200_stream(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(Reply.stream_error(3, "overloaded_error"))
    with pytest.raises(anthropic.APIStatusError):
        driver.stream_events()
    span = spans.one()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "overloaded_error"


@pytest.mark.parametrize("read", ["text_stream", "until_done"])
def test_stream_helper(driver: Driver, fake: FakeAnthropic, spans: Spans, read: str) -> None:
    fake.enqueue(Reply.message("alpha beta gamma delta", id="msg_helper", input_tokens=11))

    async def scenario(client: Any) -> tuple[str, Any]:
        async with driver.entered(client.messages.stream(model=MODEL, max_tokens=64, messages=USER)) as stream:
            if read == "text_stream":
                text = "".join([chunk async for chunk in driver.each(stream.text_stream)])
                final = await driver.settle(stream.get_final_message())
            else:
                await driver.settle(stream.until_done())
                final = await driver.settle(stream.get_final_message())
                text = "".join(block.text for block in final.content)
        return text, final

    text, final = driver.run(scenario)
    assert text == "alpha beta gamma delta"
    assert final.id == "msg_helper"
    assert final.usage.output_tokens == 4
    span = spans.one()
    assert span.attributes["gen_ai.response.id"] == "msg_helper"
    assert span.attributes["gen_ai.usage.output_tokens"] == 4
    assert span.attributes["gen_ai.usage.input_tokens"] == 11
    assert span.status.status_code is StatusCode.OK


def test_stream_is_still_the_sdks_stream(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    async def scenario(client: Any) -> None:
        stream = await driver.settle(client.messages.create(model=MODEL, max_tokens=64, messages=USER, stream=True))
        async with driver.entered(stream):
            assert isinstance(stream, driver.pick(anthropic.Stream, anthropic.AsyncStream))
            assert stream.response.status_code == 200
            first = await driver.first(stream)
            assert first.type == "message_start"

    driver.run(scenario)
    assert len(spans.calls()) == 1


OPEN_AT_EXIT = """
import anthropic
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
import anthropic_otel
from anthropic_otel.testing import FakeAnthropic

class Printed(SpanExporter):
    def export(self, spans):
        for span in spans:
            print("exported", span.name, span.attributes.get("gen_ai.response.id"), flush=True)
        return SpanExportResult.SUCCESS

provider = TracerProvider()  # registers its own exit hook, which shuts the exporter down
provider.add_span_processor(BatchSpanProcessor(Printed()))
trace.set_tracer_provider(provider)
anthropic_otel.instrument()
api = FakeAnthropic().__enter__()
client = anthropic.Anthropic(base_url=api.base_url, api_key="k", max_retries=0)
USER = [{"role": "user", "content": "hi"}]
stream = client.messages.create(model="claude-fake-model", max_tokens=5, stream=True, messages=USER)
first = next(iter(stream))
print("read", first.type, flush=True)
# The application exits with the stream still open and referenced.
"""


def test_a_stream_still_open_at_exit_is_ended_and_exported(tmp_path: Path) -> None:
    """Also the SDK's own span (1.14+), which ends only when its stream does."""
    app = tmp_path / "app.py"
    app.write_text(OPEN_AT_EXIT)
    result = subprocess.run([sys.executable, str(app)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["read message_start", "exported anthropic.messages.create msg_fake_000001"]


def test_a_stream_collected_inside_the_metrics_sdk_ends_its_call_without_a_hang(
    fake: FakeAnthropic, spans: Spans, reinstrument: Any
) -> None:
    """The garbage collector runs wherever an allocation triggers it: here, inside the OpenTelemetry SDK while it
    holds the duration histogram's lock to make the series of a new model. A dropped stream collected there ends its
    call on the plugin's own thread once the lock is free, instead of recording into the same histogram on the spot
    (which takes the same lock: the application would hang)."""
    armed: list[bool] = []

    def reservoir(aggregation_type: type) -> Any:
        if armed:  # called with the instrument's lock held
            armed.clear()
            gc.collect()
        return AlignedHistogramBucketExemplarReservoir

    reader = InMemoryMetricReader()
    view = View(instrument_name="gen_ai.client.operation.duration", exemplar_reservoir_factory=reservoir)
    reinstrument(meter_provider=MeterProvider(metric_readers=[reader], views=[view]))
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0)
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 100, "messages": USER}
    fake.enqueue(
        Reply.message("a first call", id="msg_first"),
        Reply.message("dropped unread", id="msg_dropped"),
        Reply.message("then a call", id="msg_next"),
    )
    client.messages.create(**body)  # the histogram is set up: the next model's series is made under its own lock
    gc.disable()  # the stream is collected where the test says, not before
    try:
        stream = client.messages.create(stream=True, **{**body, "model": "claude-fake-dropped"})
        assert next(iter(stream)).type == "message_start"
        box: list[Any] = [stream]
        box.append(box)  # only the cycle collector frees it
        del stream, box
        armed.append(True)
        done: list[tuple[str, int]] = []
        caller = threading.Thread(
            target=lambda: done.append(
                (client.messages.create(**{**body, "model": "claude-fake-next"}).id, time.time_ns())
            ),
            daemon=True,
        )
        caller.start()
        caller.join(timeout=30)
    finally:
        gc.enable()
    assert not caller.is_alive(), "the call hung: the dropped stream's call recorded inside the SDK's lock"
    assert [id for id, _ in done] == ["msg_next"] and not armed
    by_id = {(span.attributes or {})["gen_ai.response.id"]: span for span in spans.calls()}
    assert set(by_id) == {"msg_first", "msg_dropped", "msg_next"}
    dropped = by_id["msg_dropped"]
    assert dropped.status.status_code is not StatusCode.ERROR
    # Ended when it was collected: as the second call's telemetry was written, before that call returned. (The
    # SDK's own span, 1.14+, ends when the SDK says: when it finalizes the response's body.)
    ended = {
        (log.attributes or {})["gen_ai.response.id"]: log.timestamp
        for log in (data.log_record for data in LOGS.get_finished_logs())
        if log.event_name == "anthropic.call"
    }
    assert ended["msg_next"] < ended["msg_dropped"] < done[0][1]
    if not NATIVE:
        assert dropped.end_time == ended["msg_dropped"]
    data = reader.get_metrics_data()
    counts = [
        point.count
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "gen_ai.client.operation.duration"
        for point in metric.data.data_points
    ]
    assert sum(counts) == 3


DROPPED_IN_A_FORKED_CHILD = """
import gc, os, threading
import anthropic
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
import anthropic_otel
from anthropic_otel.testing import FakeAnthropic

exported = threading.Event()

class Noted(SpanExporter):
    def export(self, spans):
        for span in spans:
            if span.attributes.get("gen_ai.response.id") == "msg_fake_000002":
                print("ended", span.attributes["gen_ai.response.id"], flush=True)
                exported.set()
        return SpanExportResult.SUCCESS

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(Noted()))
trace.set_tracer_provider(provider)
anthropic_otel.instrument()
api = FakeAnthropic().__enter__()
USER = [{"role": "user", "content": "hi"}]
def dropped():
    client = anthropic.Anthropic(base_url=api.base_url, api_key="k", max_retries=0)
    stream = client.messages.create(model="claude-fake-model", max_tokens=5, stream=True, messages=USER)
    next(iter(stream))  # then dropped, unread

parent = anthropic.Anthropic(base_url=api.base_url, api_key="k", max_retries=0)
list(parent.messages.create(model="claude-fake-model", max_tokens=5, stream=True, messages=USER))
pid = os.fork()
if pid == 0:
    dropped()
    gc.collect()  # older SDKs drop a stream in a reference cycle
    print("child waited", exported.wait(10), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_stream_dropped_in_a_forked_child_ends_its_call_there(tmp_path: Path) -> None:
    """The thread that ends the calls of dropped streams does not survive a fork: the child starts its own."""
    app = tmp_path / "app.py"
    app.write_text(DROPPED_IN_A_FORKED_CHILD)
    result = subprocess.run([sys.executable, str(app)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ended msg_fake_000002",
        "child waited True",
    ]


def test_only_a_stream_left_unread_hands_its_call_to_the_plugins_thread(
    fake: FakeAnthropic, spans: Spans, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream read to its end has ended its call: collecting it queues nothing (which would wake the plugin's
    thread for every stream); one dropped after its first event is queued (by its response's collection, and on
    older SDKs by its events' generator too: the call ends once)."""
    import queue

    from anthropic_otel import streams

    queued: list[Any] = []

    class Recorded(queue.SimpleQueue):  # type: ignore[type-arg]
        def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
            queued.append(item[0])
            super().put(item)

    streams.end_dropped()  # what earlier tests left is ended before the queue is swapped
    monkeypatch.setattr(streams, "DROPPED", Recorded())
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0)
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 100, "messages": USER, "stream": True}
    fake.enqueue(Reply.message("read to the end", id="msg_read"), Reply.message("left unread", id="msg_left"))
    read = client.messages.create(**body)
    assert [event.type for event in read][-1] == "message_stop"
    del read
    gc.collect()
    assert queued == []
    left = client.messages.create(**body)
    assert next(iter(left)).type == "message_start"
    del left
    gc.collect()
    assert queued and all(call is queued[0] for call in queued)
    assert sorted((span.attributes or {})["gen_ai.response.id"] for span in spans.calls()) == ["msg_left", "msg_read"]
