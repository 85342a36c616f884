"""Shared helpers of the reliability suite: run a scenario without and with the instrumentation and compare what the
application saw; read what one call exported.

(Named `rel_support`, not `conftest`: the suite's fixtures come from tests/conftest.py, whose module is `conftest`.)
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor

import anthropic_otel
from anthropic_otel import streams
from anthropic_otel.testing import FakeAnthropic, Reply
from conftest import EXPORTER, MODEL, USER, Driver

PRICED = "claude-haiku-4-5"
"""A model in the shipped price table, so that costs are really computed."""


def snapshot(value: Any) -> Any:
    """What the application saw, as plain data: models dumped, lists of events dumped one by one."""
    if isinstance(value, (list, tuple)):
        return [snapshot(item) for item in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return (type(value).__name__, dump())
    return value


@dataclass
class Outcome:
    """A scenario's return value (as plain data), or its exception's type and message, and the events it read."""

    value: Any = None
    error: tuple[type, str] | None = None
    items: list[Any] = field(default_factory=list)


def outcome_of(run: Callable[[], Any], items: list[Any]) -> Outcome:
    try:
        return Outcome(value=snapshot(run()), items=snapshot(items))
    except Exception as err:
        return Outcome(error=(type(err), str(err)), items=snapshot(items))


class Scenario:
    """One call written once for both clients: `make(client, items)` returns the value (or, async, a coroutine);
    it appends each stream item it reads to `items`."""

    def __init__(self, body: dict[str, Any], *, stream: bool = False, options: dict[str, Any] | None = None):
        self.body = {"model": MODEL, "max_tokens": 100, "messages": USER, **body}
        self.stream = stream
        self.options = options or {}

    def run(self, driver: Driver) -> Outcome:
        items: list[Any] = []
        body = {**self.body, "stream": True} if self.stream else self.body

        def sync(client: Any) -> Any:
            result = client.messages.create(**body)
            if not self.stream:
                return result
            for event in result:
                items.append(event)
            return "read"

        async def async_(client: Any) -> Any:
            result = await client.messages.create(**body)
            if not self.stream:
                return result
            async for event in result:
                items.append(event)
            return "read"

        return outcome_of(lambda: driver.run(sync if driver.mode == "sync" else async_, **self.options), items)


def bare_then_instrumented(
    driver: Driver, fake: FakeAnthropic, replies: list[Reply], scenario: Scenario, feature: str
) -> tuple[Outcome, Outcome]:
    """Runs `scenario` with the instrumentation off (uninstrument), then on again (instrument) under
    `attribution(feature=feature)`, each against a freshly cleared fake scripted with `replies`; returns both
    outcomes. The exporter keeps only the second run's.

    A feature of its own gives the call metric series of their own: a delta reader's first point of a new series is
    its cumulative value, exact, where later deltas are differences of two floats."""
    anthropic_otel.uninstrument()
    try:
        fake.clear()
        fake.enqueue(*replies)
        bare = scenario.run(driver)
        bare_requests = len(fake.requests)
    finally:
        anthropic_otel.instrument()
    gc.collect()
    streams.end_dropped()  # the calls of the streams it collected unread
    EXPORTER.clear()
    fake.clear()
    fake.enqueue(*replies)
    with anthropic_otel.attribution(feature=feature):
        instrumented = scenario.run(driver)
    assert len(fake.requests) == bare_requests, "the instrumentation changed how many requests were sent"
    return bare, instrumented


def span_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The OpenTelemetry SDK's warnings about spans (ended twice, written after their end) captured so far."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("opentelemetry") and "span" in record.getMessage().lower()
    ]


def run_async(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


class SpanCounter(SpanProcessor):  # type: ignore[misc]
    """Counts the call spans started and ended in this process, whatever their scope: an open span shows as
    started > ended, one ended twice never reaches `on_end` twice (the SDK refuses), so ended counts ends."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = 0
        self.ended = 0

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if span.name == SPAN_NAME:
            with self.lock:
                self.started += 1

    def on_end(self, span: Any) -> None:
        if span.name == SPAN_NAME:
            with self.lock:
                self.ended += 1

    def open(self) -> int:
        gc.collect()
        streams.end_dropped()  # the calls of the streams it collected unread
        with self.lock:
            return self.started - self.ended


SPAN_NAME = "anthropic.messages.create"
COUNTER = SpanCounter()
trace.get_tracer_provider().add_span_processor(COUNTER)  # type: ignore[attr-defined]
