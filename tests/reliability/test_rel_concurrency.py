"""Under load: 64 threads and 1,000 asyncio tasks mixing calls, streams read to the end, streams abandoned, each with
its own attribution; and `instrument()` / `uninstrument()` toggled while calls run. Every span ends, no attribution
leaks from one thread or task to another, and metric totals are exactly the sum over the calls."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import pytest
from rel_support import COUNTER, PRICED, span_warnings

import anthropic_otel
from anthropic_otel import sdk_compat, streams
from anthropic_otel.cost import PICO, Cost, price
from anthropic_otel.extract import Usage
from anthropic_otel.prices import default_table
from anthropic_otel.testing import FakeAnthropic, Reply
from conftest import LOGS, USER, Metrics, Spans

HTTP: Any = sdk_compat.http_module()
INPUT, CACHE_READ, OUTPUT = 13, 100, 6
TEXT = "one two three four five six"  # six words: six output tokens, two content deltas
KINDS = ("create", "stream", "abandoned", "helper")
"""What each call is: `messages.create`, a stream read to its end, a stream left after two events and dropped,
`messages.stream()` read to its final message."""


def kind_of(tag: int) -> str:
    return KINDS[tag % len(KINDS)]


def attribution_of(tag: int) -> dict[str, str]:
    """Five features per test (tags of a test share their ten-thousands), so that each test's metric series are
    new: a delta reader's first point of a series is its exact cumulative value."""
    return {"app.feature": f"feature-{tag // 10_000}-{tag % 5}", "user.id": f"user-{tag}"}


def run_sync(client: Any, tag: int) -> str:
    """One call, tagged by its stop sequence `tag-<tag>`, under its own attribution."""
    body = {"model": PRICED, "max_tokens": 50, "stop_sequences": [f"tag-{tag}"], "messages": USER}
    with anthropic_otel.attribution(feature=attribution_of(tag)["app.feature"], user_id=f"user-{tag}"):
        kind = kind_of(tag)
        if kind == "create":
            return str(client.messages.create(**body).content[0].text)
        if kind == "stream":
            return "".join(
                event.delta.text
                for event in client.messages.create(**body, stream=True)
                if event.type == "content_block_delta"
            )
        if kind == "abandoned":
            stream = client.messages.create(**body, stream=True)
            for index, _ in enumerate(stream):
                if index == 1:
                    break
            # Closed, as the tasks close theirs: a dropped stream holds its pooled connection until the garbage
            # collector frees it, and 64 threads ran an older SDK's pool dry (with or without the plugin).
            stream.close()
            return "abandoned"
        with client.messages.stream(**body) as helper:
            return str(helper.get_final_message().content[0].text)


async def run_async(client: Any, tag: int) -> str:
    body = {"model": PRICED, "max_tokens": 50, "stop_sequences": [f"tag-{tag}"], "messages": USER}
    with anthropic_otel.attribution(feature=attribution_of(tag)["app.feature"], user_id=f"user-{tag}"):
        await asyncio.sleep(0)  # let the other tasks interleave inside the attribution
        kind = kind_of(tag)
        if kind == "create":
            return str((await client.messages.create(**body)).content[0].text)
        if kind == "stream":
            texts = []
            async for event in await client.messages.create(**body, stream=True):
                if event.type == "content_block_delta":
                    texts.append(event.delta.text)
                await asyncio.sleep(0)
            return "".join(texts)
        if kind == "abandoned":
            stream = await client.messages.create(**body, stream=True)
            index = 0
            async for _ in stream:
                if index == 1:
                    break
                index += 1
            # Closed, not dropped: an async stream dropped unclosed holds its pooled connection until the garbage
            # collector finds it, and with 1,000 tasks on 16 connections the pool runs dry (with or without the
            # plugin, on 0.x). Threads drop theirs.
            await stream.close()
            return "abandoned"
        async with client.messages.stream(**body) as helper:
            return str((await helper.get_final_message()).content[0].text)


def tag_of(attributes: dict[str, Any]) -> int:
    (sequence,) = attributes["gen_ai.request.stop_sequences"]
    return int(str(sequence).removeprefix("tag-"))


def pooled_async_client() -> Any:
    """At most 16 connections: the tasks wait for the pool, not for the fake's accept backlog (64), and a loaded
    machine gets a generous timeout."""
    limits = HTTP.Limits(max_connections=16, max_keepalive_connections=16)
    return HTTP.AsyncClient(limits=limits, timeout=HTTP.Timeout(60.0))


def expected_text(tag: int) -> str:
    return "abandoned" if kind_of(tag) == "abandoned" else TEXT


def check_spans_and_logs(spans: Spans, tags: list[int]) -> None:
    calls = spans.calls()
    assert len(calls) == len(tags)
    seen = []
    for span in calls:
        attributes = dict(span.attributes or {})
        tag = tag_of(attributes)
        seen.append(tag)
        # The attribution of this call and no other: a leak between threads or tasks shows here.
        assert {key: attributes.get(key) for key in ("app.feature", "user.id")} == attribution_of(tag)
        assert attributes["gen_ai.usage.input_tokens"] == INPUT + CACHE_READ
        assert attributes.get("gen_ai.usage.output_tokens") == (None if kind_of(tag) == "abandoned" else OUTPUT)
    assert sorted(seen) == sorted(tags)
    records = [data.log_record for data in LOGS.get_finished_logs()]
    assert len(records) == len(tags)
    for record in records:
        attributes = dict(record.attributes or {})
        tag = int(str(attributes["user.id"]).removeprefix("user-"))
        assert attributes["app.feature"] == attribution_of(tag)["app.feature"]


def check_totals(measured: Metrics, tags: list[int]) -> None:
    """Tokens and cost per (feature, token type): exactly the sum of what each call cost, in pico-dollars."""
    table = default_table()
    tokens: Counter[tuple[str, str]] = Counter()
    pico: Counter[tuple[str, str]] = Counter()
    now = time.time_ns()
    for tag in tags:
        feature = attribution_of(tag)["app.feature"]
        output = None if kind_of(tag) == "abandoned" else OUTPUT
        usage = Usage(input=INPUT, output=output, cache_read=CACHE_READ, cache_write=0, cache_write_5m=0)
        cost = price(table, PRICED, usage, when_ns=now)
        assert isinstance(cost, Cost)
        for kind, amount in cost.pico.items():
            pico[(feature, kind)] += amount
        tokens[(feature, "input")] += INPUT
        tokens[(feature, "cache_read")] += CACHE_READ
        if output is not None:
            tokens[(feature, "output")] += output
    measured_tokens = Counter(
        {
            (attrs["app.feature"], attrs["anthropic.token.type"]): value
            for attrs, value in measured.points("anthropic.client.tokens")
        }
    )
    assert +measured_tokens == +tokens
    measured_cost = {
        (attrs["app.feature"], attrs["anthropic.token.type"]): value
        for attrs, value in measured.points("anthropic.client.cost")
    }
    assert measured_cost == {key: amount / PICO for key, amount in pico.items() if amount}
    assert measured.total("anthropic.client.attempts") == len(tags)
    durations = measured.points("gen_ai.client.operation.duration")
    assert sum(value[0] for _, value in durations) == len(tags)
    assert all("error.type" not in attrs for attrs, _ in durations)


@pytest.fixture
def answering(fake: FakeAnthropic) -> FakeAnthropic:
    fake.default = Reply.message(TEXT, input_tokens=INPUT, cache_read_input_tokens=CACHE_READ)
    return fake


def test_64_threads(
    answering: FakeAnthropic, spans: Spans, measured: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    open_before = COUNTER.open()
    client = anthropic.Anthropic(base_url=answering.base_url, api_key="k", max_retries=0)
    tags = list(range(64 * 8))
    barrier = threading.Barrier(64)

    def worker(thread: int) -> list[str]:
        barrier.wait()
        return [run_sync(client, tag) for tag in tags[thread::64]]

    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(worker, range(64)))
    for thread, texts in enumerate(results):
        assert texts == [expected_text(tag) for tag in tags[thread::64]]
    assert COUNTER.open() == open_before
    assert not streams.WATCHED
    check_spans_and_logs(spans, tags)
    check_totals(measured, tags)
    assert span_warnings(caplog) == []


def test_1000_tasks(
    answering: FakeAnthropic, spans: Spans, measured: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    open_before = COUNTER.open()
    tags = list(range(10_000, 11_000))

    async def main() -> list[str]:
        client = anthropic.AsyncAnthropic(
            base_url=answering.base_url, api_key="k", max_retries=0, http_client=pooled_async_client()
        )
        try:
            return list(await asyncio.gather(*(run_async(client, tag) for tag in tags)))
        finally:
            await client.close()

    assert asyncio.run(main()) == [expected_text(tag) for tag in tags]
    assert COUNTER.open() == open_before
    assert not streams.WATCHED
    check_spans_and_logs(spans, tags)
    check_totals(measured, tags)
    assert span_warnings(caplog) == []


def test_instrument_and_uninstrument_under_load(
    answering: FakeAnthropic, spans: Spans, caplog: pytest.LogCaptureFixture
) -> None:
    """Toggled every few milliseconds while 16 threads and 200 tasks call: the application's results are those
    of the SDK, every span that started ends, and each one the plugin recorded has its own call's attribution."""
    open_before = COUNTER.open()
    client = anthropic.Anthropic(base_url=answering.base_url, api_key="k", max_retries=0)
    stop = threading.Event()
    toggles = 0

    def toggle() -> None:
        nonlocal toggles
        while not stop.is_set():
            anthropic_otel.uninstrument()
            time.sleep(0.003)
            anthropic_otel.instrument()
            time.sleep(0.003)
            toggles += 1

    async def tasks() -> list[str]:
        async_client = anthropic.AsyncAnthropic(
            base_url=answering.base_url, api_key="k", max_retries=0, http_client=pooled_async_client()
        )
        try:
            return list(await asyncio.gather(*(run_async(async_client, tag) for tag in range(20_000, 20_200))))
        finally:
            await async_client.close()

    toggler = threading.Thread(target=toggle)
    toggler.start()
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            threaded = pool.map(lambda thread: [run_sync(client, tag) for tag in range(thread, 320, 16)], range(16))
            in_tasks = tasks_result = asyncio.run(tasks())
            threaded_results = list(threaded)
    finally:
        stop.set()
        toggler.join()
        anthropic_otel.uninstrument()
        anthropic_otel.instrument()
    assert toggles > 3
    for thread, texts in enumerate(threaded_results):
        assert texts == [expected_text(tag) for tag in range(thread, 320, 16)]
    assert in_tasks == tasks_result == [expected_text(tag) for tag in range(20_000, 20_200)]
    assert COUNTER.open() == open_before
    assert not streams.WATCHED
    recorded = 0
    for span in spans.calls():
        attributes = dict(span.attributes or {})
        if "app.feature" not in attributes and "user.id" not in attributes:
            continue  # started while uninstrumented (the SDK's own span, 1.14+)
        recorded += 1
        tag = tag_of(attributes)
        assert {key: attributes.get(key) for key in ("app.feature", "user.id")} == attribution_of(tag)
    assert 0 < recorded <= 520
    assert span_warnings(caplog) == []
