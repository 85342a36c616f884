"""Metrics after scripted workloads: exact counts, exact costs, and the cardinality rule."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import anthropic_otel
from anthropic_otel import attribution, sdk_compat
from anthropic_otel.metrics import REMAINING, TOKENS, Tally
from anthropic_otel.testing import FakeAnthropic, Reply
from conftest import USER, Driver, Metrics, Spans

SONNET = "claude-sonnet-4-5-20250929"


def test_retries_masked_by_success_are_counted_per_attempt(
    driver: Driver, fake: FakeAnthropic, spans: Spans, measured: Metrics
) -> None:
    fake.enqueue(Reply.rate_limited(retry_after=0.01), Reply.overloaded(retry_after=0.01), Reply.message())
    with attribution(feature="search", user_id="user-42"):
        driver.create(client_options={"max_retries": 2})
    attempts = sorted(
        (
            attributes.get("http.response.status_code"),
            attributes.get("error.type"),
            attributes["anthropic.attempt.retried"],
            value,
        )
        for attributes, value in measured.points("anthropic.client.attempts")
    )
    assert attempts == [(200, None, False, 1), (429, "rate_limit_error", True, 1), (529, "overloaded_error", True, 1)]
    durations = measured.points("gen_ai.client.operation.duration")
    assert [(attributes.get("error.type"), value[0]) for attributes, value in durations] == [(None, 1)]
    span = spans.one()
    assert span.attributes["app.feature"] == "search"
    assert span.attributes["user.id"] == "user-42"


def test_every_metric_has_the_feature_and_no_user(driver: Driver, fake: FakeAnthropic, measured: Metrics) -> None:
    fake.enqueue(Reply.message(model=SONNET, cache_read_input_tokens=100))
    with attribution(feature="search", user_id="user-42", tenant="acme"):
        driver.create(model=SONNET)
    measured.collect()
    assert set(measured.collected) >= {
        "gen_ai.client.token.usage",
        "gen_ai.client.operation.duration",
        "anthropic.client.tokens",
        "anthropic.client.cost",
        "anthropic.client.cache.savings",
        "anthropic.client.attempts",
        "anthropic.client.stop_reasons",
    }
    for name, points in measured.collected.items():
        if name.startswith("anthropic.ratelimit."):
            continue  # a gauge: it reports the last value of every series it ever had, earlier tests' too
        for attributes, _ in points:
            assert attributes["app.feature"] == "search", name
            assert "user.id" not in attributes and "app.tenant" not in attributes, name
            assert attributes["gen_ai.request.model"] == SONNET, name


def test_exact_cost_and_cache_savings(driver: Driver, fake: FakeAnthropic, measured: Metrics) -> None:
    fake.enqueue(
        Reply.message(
            "one two three four five",
            model=SONNET,
            input_tokens=1000,
            output_tokens=500,
            cache_read_input_tokens=20000,
            cache_creation_input_tokens=5000,
            cache_creation_5m=3000,
            cache_creation_1h=2000,
        )
    )
    driver.create(model=SONNET)
    cost = {a["anthropic.token.type"]: round(v, 9) for a, v in measured.points("anthropic.client.cost")}
    assert cost == {
        "input": 0.003,
        "cache_read": 0.006,
        "cache_write_5m": 0.01125,
        "cache_write_1h": 0.012,
        "output": 0.0075,
    }
    tokens = {a["anthropic.token.type"]: v for a, v in measured.points("anthropic.client.tokens")}
    assert tokens == {"input": 1000, "cache_read": 20000, "cache_write_5m": 3000, "cache_write_1h": 2000, "output": 500}
    assert [round(v, 9) for _, v in measured.points("anthropic.client.cache.savings")] == [0.04575]
    usage = {a["gen_ai.token.type"]: v for a, v in measured.points("gen_ai.client.token.usage")}
    assert usage == {"input": (1, 26000), "output": (1, 500)}


def test_batch_tier_costs_half(driver: Driver, fake: FakeAnthropic, measured: Metrics) -> None:
    fake.enqueue(Reply.message(model=SONNET, input_tokens=1000, output_tokens=500, service_tier="batch"))
    driver.create(model=SONNET)
    assert round(measured.total("anthropic.client.cost"), 9) == 0.00525  # (0.003 + 0.0075) / 2


def test_unknown_model_costs_nothing_silently_never(
    driver: Driver, fake: FakeAnthropic, measured: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    fake.enqueue(Reply.message(model="claude-unreleased-9"), Reply.message(model="claude-unreleased-9"))
    driver.create(model="claude-unreleased-9")
    driver.create(model="claude-unreleased-9")
    assert measured.points("anthropic.client.cost") == []
    assert measured.total("anthropic.client.cost.unpriced") == 2
    warnings = [r.getMessage() for r in caplog.records if "claude-unreleased-9" in r.getMessage()]
    assert len(warnings) <= 1  # once per model, and at most once per process


def test_failed_call_duration_has_error_type_and_every_attempt_is_counted(
    driver: Driver, fake: FakeAnthropic, measured: Metrics
) -> None:
    fake.enqueue(*[Reply.overloaded(retry_after=0.01)] * 3)
    with pytest.raises(anthropic.APIStatusError):
        driver.create(client_options={"max_retries": 2})
    assert measured.total("anthropic.client.attempts", error__type="overloaded_error") == 3
    assert measured.total("anthropic.client.attempts", anthropic__attempt__retried=True) == 2
    durations = measured.points("gen_ai.client.operation.duration")
    assert [(a["error.type"], v[0]) for a, v in durations] == [("overloaded_error", 1)]
    assert measured.points("anthropic.client.cost") == []


def test_stream_metrics(driver: Driver, fake: FakeAnthropic, measured: Metrics) -> None:
    fake.enqueue(Reply.message("a b c d", model=SONNET, input_tokens=10, stop_reason="max_tokens"))
    driver.stream_events(model=SONNET)
    assert [v[0] for _, v in measured.points("gen_ai.client.operation.time_to_first_chunk")] == [1]
    assert measured.total("anthropic.client.stop_reasons", anthropic__message__stop_reason="max_tokens") == 1
    assert measured.total("anthropic.client.tokens", anthropic__token__type="output") == 4


def test_declared_keys_and_user_id_only_when_allowed(
    driver: Driver, measured: Metrics, reinstrument: Callable[..., None]
) -> None:
    reinstrument(metric_attributes="tenant", metrics_include_user_id=True)
    with attribution(feature="chat", user_id="u-7", tenant="acme", region="eu"):
        driver.create(model=SONNET)
    for attributes, _ in measured.points("anthropic.client.attempts"):
        assert (attributes["app.feature"], attributes["app.tenant"], attributes["user.id"]) == ("chat", "acme", "u-7")
        assert "app.region" not in attributes


def test_attribution_keeps_threads_and_tasks_apart(fake: FakeAnthropic, measured: Metrics, spans: Spans) -> None:
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0)

    @attribution(feature="threaded")
    def work(worker: int) -> None:
        with attribution(user_id=f"user-{worker}"):
            client.messages.create(model=SONNET, max_tokens=5, messages=USER)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, range(8)))

    @attribution(feature="tasks")
    async def task(worker: int) -> None:
        with attribution(user_id=f"task-user-{worker}"):
            async_client = anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="k", max_retries=0)
            await async_client.messages.create(model=SONNET, max_tokens=5, messages=USER)

    async def main() -> None:
        await asyncio.gather(*(task(worker) for worker in range(6)))

    asyncio.run(main())
    assert measured.total("anthropic.client.attempts", app__feature="threaded") == 8
    assert measured.total("anthropic.client.attempts", app__feature="tasks") == 6
    users = sorted(str(span.attributes["user.id"]) for span in spans.calls())
    assert users == sorted([f"user-{n}" for n in range(8)] + [f"task-user-{n}" for n in range(6)])


def test_baggage_attribution(driver: Driver, spans: Spans) -> None:
    from opentelemetry import baggage, context

    token = context.attach(baggage.set_baggage("user.id", "from-baggage", baggage.set_baggage("app.feature", "b")))
    try:
        with attribution(feature="explicit"):
            driver.create(model=SONNET)
    finally:
        context.detach(token)
    span = spans.one()
    assert (span.attributes["app.feature"], span.attributes["user.id"]) == ("explicit", "from-baggage")


def test_rate_limit_headroom_gauges(driver: Driver, fake: FakeAnthropic, measured: Metrics) -> None:
    fake.enqueue(Reply.message(model="claude-headroom-1"))
    with attribution(feature="headroom"):
        driver.create(model="claude-headroom-1")

    def gauge(name: str) -> dict[str, float]:
        points = measured.points(name)
        assert all("app.feature" not in a for a, _ in points), "the organisation's limits, not the feature's"
        return {
            a["anthropic.ratelimit.kind"]: v for a, v in points if a["gen_ai.response.model"] == "claude-headroom-1"
        }

    assert gauge("anthropic.ratelimit.headroom") == {
        "requests": 0.99975,  # 3,999 of 4,000 left
        "tokens": 0.9975,
        "input-tokens": 0.996875,
        "output-tokens": 0.9875,
    }
    assert gauge("anthropic.ratelimit.limit") == {
        "requests": 4000,
        "tokens": 400000,
        "input-tokens": 320000,
        "output-tokens": 80000,
    }
    assert gauge("anthropic.ratelimit.remaining")["tokens"] == 399000


def test_token_anomaly_event_and_counter(
    driver: Driver, fake: FakeAnthropic, measured: Metrics, spans: Spans, reinstrument: Callable[..., None]
) -> None:
    reinstrument(anomaly_factor=2, anomaly_warmup=3)

    async def scenario(client: Any) -> None:
        for tokens in (100, 100, 100, 201, 150):
            fake.enqueue(Reply.message(model=SONNET, input_tokens=tokens))
            await driver.settle(client.messages.create(model=SONNET, max_tokens=5, messages=USER))

    with attribution(feature="anomalies"):
        driver.run(scenario)
    assert measured.total("anthropic.client.token_anomalies", app__feature="anomalies") == 1
    events = [(span.attributes["gen_ai.usage.input_tokens"], list(span.events)) for span in spans.calls()]
    flagged = [(tokens, [e for e in found if e.name == "anthropic.token_anomaly"]) for tokens, found in events]
    assert [(tokens, len(found)) for tokens, found in flagged] == [(100, 0), (100, 0), (100, 0), (201, 1), (150, 0)]
    assert dict(flagged[3][1][0].attributes) == {
        "anthropic.tokens": 201,
        "anthropic.tokens.average": 100.0,
        "anthropic.tokens.factor": 2.0,
    }


def test_span_carries_the_cost(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(Reply.message(model=SONNET, input_tokens=1000, output_tokens=500))
    driver.create(model=SONNET)
    assert round(spans.one().attributes["anthropic.cost.usd"], 9) == 0.0105


def test_batch_results_are_metered_once_at_half_price(driver: Driver, fake: FakeAnthropic, measured: Metrics) -> None:
    # Its own message id per client: the plugin remembers the results it metered, across tests too.
    message_id = f"msg_batch_{driver.mode}"
    fake.default = Reply.message("one two three four", id=message_id, input_tokens=1000, output_tokens=500)
    params = {"model": SONNET, "max_tokens": 100, "messages": USER}
    requests = [{"custom_id": f"r{n}", "params": params} for n in range(3)]

    async def scenario(client: Any) -> tuple[list[str], list[Any]]:
        batch = await driver.settle(client.messages.batches.create(requests=requests))
        with attribution(feature="nightly"):
            results = await driver.settle(client.messages.batches.results(batch.id))
            first = [result.result.type async for result in driver.each(results)]
            results = await driver.settle(client.messages.batches.results(batch.id))
            again = [result async for result in driver.each(results)]  # read twice: counted once
        return first, again

    first, again = driver.run(scenario)
    assert first == ["succeeded"] * 3 and len(again) == 3
    # 3 x (1000 x $3 + 500 x $15) / 1e6 / 2
    assert round(measured.total("anthropic.client.cost", anthropic__batch=True, app__feature="nightly"), 9) == 0.01575
    assert measured.total("anthropic.client.tokens", anthropic__batch=True, anthropic__token__type="output") == 1500
    assert measured.total("anthropic.client.tokens", anthropic__batch=True, anthropic__token__type="input") == 3000


def sums_of(reader: InMemoryMetricReader, name: str) -> dict[tuple[tuple[str, object], ...], float]:
    data = reader.get_metrics_data()
    if data is None:
        return {}
    return {
        tuple(sorted(point.attributes.items())): point.value
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        if metric.name == name
        for point in metric.data.data_points
    }


def test_tally_sums_past_its_series_limit_into_one_overflow_series() -> None:
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("tally")
    tally = Tally(max_series=2)
    meter.create_observable_counter(TOKENS, callbacks=[tally.observer(TOKENS)])
    for model, amount in (("a", 1), ("b", 2), ("c", 3), ("d", 4), ("a", 10)):
        tally.add((("m", model),), [((TOKENS, (("t", "input"),)), amount)])
    assert sums_of(reader, TOKENS) == {
        (("m", "a"), ("t", "input")): 11,
        (("m", "b"), ("t", "input")): 2,
        (("otel.metric.overflow", True), ("t", "input")): 7,
    }


def test_headroom_is_read_from_the_latest_headers_until_the_ttl() -> None:
    headers = sdk_compat.http_module().Headers(
        {"anthropic-ratelimit-requests-remaining": "7", "anthropic-ratelimit-requests-limit": "9"}
    )
    newer = sdk_compat.http_module().Headers({"anthropic-ratelimit-requests-remaining": "6"})
    for ttl, expected in ((3600.0, {(("anthropic.ratelimit.kind", "requests"), ("m", "a")): 6}), (-1.0, {})):
        reader = InMemoryMetricReader()
        meter = MeterProvider(metric_readers=[reader]).get_meter("tally")
        tally = Tally(gauge_ttl=ttl)
        meter.create_observable_gauge(REMAINING, callbacks=[tally.observer(REMAINING)])
        tally.add((("m", "a"), ("f", "x")), [], headers, (("m", "a"),))
        tally.add((("m", "a"), ("f", "y")), [], newer, (("m", "a"),))
        assert sums_of(reader, REMAINING) == expected, ttl


def test_counters_stay_cumulative_across_instrument_calls_on_one_meter_provider(fake: FakeAnthropic) -> None:
    """An observable instrument is registered once per meter: a second `instrument()` must feed the same one."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0)
    anthropic_otel.uninstrument()
    try:
        for _ in range(2):
            anthropic_otel.instrument(meter_provider=provider)
            fake.enqueue(Reply.message(model=SONNET, input_tokens=40, output_tokens=3))
            client.messages.create(model=SONNET, max_tokens=5, messages=USER)
            anthropic_otel.uninstrument()
    finally:
        anthropic_otel.instrument()
    tokens = {dict(key)["anthropic.token.type"]: value for key, value in sums_of(reader, TOKENS).items()}
    assert tokens == {"input": 80, "output": 6, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0}


def test_only_the_duration_point_carries_an_exemplar_and_it_names_the_call_span(
    fake: FakeAnthropic, spans: Spans, reinstrument: Callable[..., None]
) -> None:
    """Inside an application's sampled span, the SDK's default exemplar filter would give every point an exemplar
    of that span; the duration point carries one of the call's own span (the latency panel links to it), the
    others none."""
    from opentelemetry import trace

    reader = InMemoryMetricReader()
    reinstrument(meter_provider=MeterProvider(metric_readers=[reader]))
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0)
    fake.enqueue(Reply.message("a b c", model=SONNET))
    with trace.get_tracer("app").start_as_current_span("handle request") as parent:
        for _ in client.messages.create(model=SONNET, max_tokens=10, messages=USER, stream=True):
            pass
    call = spans.one()
    assert call.parent is not None and call.parent.span_id == parent.get_span_context().span_id
    data = reader.get_metrics_data()
    exemplars = {
        metric.name: [
            (exemplar.trace_id, exemplar.span_id) for point in metric.data.data_points for exemplar in point.exemplars
        ]
        for resource_metrics in data.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        if metric.name.startswith("gen_ai.client.")
    }
    own = [(call.context.trace_id, call.context.span_id)]
    assert exemplars == {
        "gen_ai.client.token.usage": [],
        "gen_ai.client.operation.duration": own,
        "gen_ai.client.operation.time_to_first_chunk": [],
    }
