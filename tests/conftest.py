"""Shared test bed: a real tracer provider with an in-memory exporter, the plugin instrumented once for the
session, the fake Messages API on 127.0.0.1, and a driver that runs each scenario on the sync or the async client.

The tracer provider is the global one, as in production: on anthropic 1.14+ the SDK's own span comes from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, Sum
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import anthropic_otel
from anthropic_otel import sdk_compat, streams
from anthropic_otel.testing import FakeAnthropic

EXPORTER = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace.set_tracer_provider(_provider)
DELTA = AggregationTemporality.DELTA
READER = InMemoryMetricReader(
    preferred_temporality={
        kind: DELTA for kind in (Counter, Histogram, UpDownCounter, ObservableCounter, ObservableUpDownCounter)
    }
)
metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))
LOGS = InMemoryLogRecordExporter()
_log_provider = LoggerProvider()
_log_provider.add_log_record_processor(SimpleLogRecordProcessor(LOGS))
_logs.set_logger_provider(_log_provider)
anthropic_otel.instrument()

NATIVE = sdk_compat.has_native_spans()
"""Whether this SDK starts its own call span (1.14+)."""
CALL_SCOPE = sdk_compat.SDK_SCOPE if NATIVE else "anthropic_otel"
MODEL = "claude-fake-model"
USER = [{"role": "user", "content": "Tell me a joke about OpenTelemetry"}]


class Spans:
    def finished(self) -> list[ReadableSpan]:
        gc.collect()
        streams.end_dropped()  # the calls of the streams it collected unread
        return list(EXPORTER.get_finished_spans())

    def calls(self) -> list[ReadableSpan]:
        return [span for span in self.finished() if span.name == "anthropic.messages.create"]

    def one(self) -> ReadableSpan:
        calls = self.calls()
        assert len(calls) == 1, [(span.name, span.attributes) for span in calls]
        return calls[0]


class Metrics:
    """What the plugin measured since the fixture started: a delta reader, read once per `points` call."""

    def __init__(self) -> None:
        self.collected: dict[str, list[tuple[dict[str, Any], Any]]] = {}

    def collect(self) -> None:
        gc.collect()
        streams.end_dropped()  # the calls of the streams it collected unread
        data = READER.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                if scope_metrics.scope.name != "anthropic_otel":
                    continue
                for metric in scope_metrics.metrics:
                    is_sum = isinstance(metric.data, Sum)
                    for point in metric.data.data_points:
                        value = (point.count, point.sum) if hasattr(point, "count") else point.value
                        if is_sum and value == 0:
                            continue  # an observable sum reports every series it has, unchanged ones as a 0 delta
                        self.collected.setdefault(metric.name, []).append((dict(point.attributes or {}), value))

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        self.collect()
        return self.collected.get(name, [])

    def total(self, name: str, **match: Any) -> Any:
        """The sum of a counter's points whose attributes include `match` (dots spelled as `__`)."""
        wanted = {key.replace("__", "."): value for key, value in match.items()}
        return sum(
            value for attributes, value in self.points(name) if all(attributes.get(k) == v for k, v in wanted.items())
        )


@pytest.fixture
def measured() -> Metrics:
    READER.get_metrics_data()  # drop what earlier tests measured
    return Metrics()


@pytest.fixture
def spans() -> Iterator[Spans]:
    gc.collect()
    streams.end_dropped()  # the calls of the streams it collected unread
    EXPORTER.clear()
    LOGS.clear()
    yield Spans()


@pytest.fixture
def reinstrument() -> Iterator[Callable[..., None]]:
    """`reinstrument(**options)`: the plugin instrumented with `options` for this test only. The session's plain
    `anthropic_otel.instrument()` is back at teardown, also when the test (or `instrument` itself) failed."""
    used = False

    def apply(**options: Any) -> None:
        nonlocal used
        used = True
        anthropic_otel.uninstrument()
        anthropic_otel.instrument(**options)

    yield apply
    if used:
        anthropic_otel.uninstrument()
        anthropic_otel.instrument()


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeAnthropic) -> Iterator[FakeAnthropic]:
    fake_server.clear()
    yield fake_server
    assert not fake_server.errors, fake_server.format_errors()


class Driver:
    """Runs one scenario on a sync or an async client, so that each test is written once for both.

    A scenario is `scenario(client)`. It may return a value, or an awaitable for the async client; or it may be
    an `async def` written once for both clients, with `settle`, `entered` and `each` where the two differ (it then
    runs in an event loop on the sync client too)."""

    def __init__(self, mode: str, base_url: str) -> None:
        self.mode = mode
        self.base_url = base_url

    def client_class(self, name: str = "Anthropic") -> Any:
        """The SDK's client class `name` ("Anthropic", "AnthropicVertex", "AnthropicBedrock") for this mode."""
        return getattr(anthropic, name if self.mode == "sync" else f"Async{name}")

    def client(self, client_class: str = "Anthropic", **options: Any) -> Any:
        """A client of the fake API, without retries unless asked; the platform clients take their own credentials."""
        defaults: dict[str, Any] = {"base_url": self.base_url, "max_retries": 0}
        if client_class == "Anthropic":
            defaults["api_key"] = "sk-test-secret"
        return self.client_class(client_class)(**{**defaults, **options})

    def run(self, scenario: Callable[[Any], Any], **options: Any) -> Any:
        """`scenario(client)` for a client made with `options` (see `client`); its result, awaited if need be."""
        if self.mode == "sync":
            result = scenario(self.client(**options))
            return asyncio.run(result) if asyncio.iscoroutine(result) else result

        async def main() -> Any:
            client = self.client(**options)
            result = scenario(client)
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run(main())

    def pick(self, sync: Any, async_: Any) -> Any:
        """`sync` for the sync client, `async_` for the async one."""
        return sync if self.mode == "sync" else async_

    @staticmethod
    async def settle(value: Any) -> Any:
        """`value`, awaited if it is awaitable: what a call of either client gives in the end."""
        return await value if inspect.isawaitable(value) else value

    @contextlib.asynccontextmanager
    async def entered(self, manager: Any) -> AsyncIterator[Any]:
        """`with manager` for the sync client, `async with manager` for the async one."""
        if self.mode == "sync":
            with manager as value:
                yield value
        else:
            async with manager as value:
                yield value

    async def each(self, iterable: Iterable[Any]) -> AsyncIterator[Any]:
        """The items of a sync or an async iterable (read it to the end: a `break` leaves the inner one open)."""
        if self.mode == "sync":
            for item in iterable:
                yield item
        else:
            async for item in iterable:  # type: ignore[attr-defined]
                yield item

    async def first(self, iterable: Any) -> Any:
        """The next item of a sync or an async iterable (which is left open)."""
        if self.mode == "sync":
            return next(iter(iterable))
        return await iterable.__aiter__().__anext__()

    def create(self, client_options: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        body = {"model": MODEL, "max_tokens": 100, "messages": USER, **kwargs}
        return self.run(lambda client: client.messages.create(**body), **(client_options or {}))

    def stream_events(
        self,
        client_options: dict[str, Any] | None = None,
        *,
        stop_after: int | None = None,
        close: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Reads a `stream=True` call: all of it, or `stop_after` events and then breaks (and closes if asked)."""
        body = {"model": MODEL, "max_tokens": 100, "messages": USER, "stream": True, **kwargs}

        def sync(client: Any) -> list[Any]:
            events = []
            stream = client.messages.create(**body)
            for event in stream:
                events.append(event)
                if stop_after is not None and len(events) >= stop_after:
                    break
            if close:
                stream.close()
            return events

        async def async_(client: Any) -> list[Any]:
            events = []
            stream = await client.messages.create(**body)
            async for event in stream:
                events.append(event)
                if stop_after is not None and len(events) >= stop_after:
                    break
            if close:
                await stream.close()
            return events

        return self.run(sync if self.mode == "sync" else async_, **(client_options or {}))


@pytest.fixture(params=["sync", "async"])
def driver(request: pytest.FixtureRequest, fake: FakeAnthropic) -> Driver:
    return Driver(request.param, fake.base_url)
