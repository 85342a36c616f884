"""Exact costs through the real SDK and the fake API: what the API reports, on the span, the log record and the
metrics, for every billing dimension (calls and streams, sync and async)."""

from __future__ import annotations

from typing import Any

import pytest

from anthropic_otel import attribution
from anthropic_otel.testing import FakeAnthropic, Reply
from conftest import LOGS, Driver, Metrics, Spans


def call_log() -> dict[str, Any]:
    (record,) = [data.log_record for data in LOGS.get_finished_logs() if data.log_record.event_name == "anthropic.call"]
    return dict(record.attributes or {})


@pytest.mark.parametrize("stream", [False, True])
def test_fast_mode_with_us_only_residency(
    driver: Driver, fake: FakeAnthropic, spans: Spans, measured: Metrics, stream: bool
) -> None:
    fake.enqueue(
        Reply.message(model="claude-opus-5-5", input_tokens=1000, output_tokens=1000, speed="fast", inference_geo="us")
    )
    if stream:
        driver.stream_events(model="claude-opus-5-5")
    else:
        driver.create(model="claude-opus-5-5")
    span = spans.one()
    assert span.attributes["anthropic.cost.usd"] == 0.0528  # ($8 + $40) x 1.1, per million
    assert (span.attributes["anthropic.usage.speed"], span.attributes["anthropic.usage.inference_geo"]) == (
        "fast",
        "us",
    )
    assert call_log()["anthropic.cost_usd"] == 0.0528
    assert round(measured.total("anthropic.client.cost"), 9) == 0.0528  # two series summed here, in floats


def test_server_tools_and_thinking(driver: Driver, fake: FakeAnthropic, spans: Spans, measured: Metrics) -> None:
    fake.enqueue(
        Reply.message(
            model="claude-sonnet-5-5",
            input_tokens=1000,
            output_tokens=100,
            web_search_requests=3,
            web_fetch_requests=2,
            thinking_tokens=40,
        )
    )
    driver.create(model="claude-sonnet-5-5")
    span = spans.one()
    assert span.attributes["anthropic.cost.usd"] == 0.033  # 0.002 + 0.001 + 3 searches at $0.01
    assert span.attributes["gen_ai.usage.reasoning.output_tokens"] == 40
    assert span.attributes["gen_ai.usage.output_tokens"] == 100  # thinking is part of it, never priced twice
    assert span.attributes["anthropic.usage.server_tool_use.web_search_requests"] == 3
    assert measured.total("anthropic.client.cost", anthropic__token__type="web_search") == 0.03
    assert measured.total("anthropic.client.server_tool.requests", anthropic__server_tool="web_search") == 3
    assert measured.total("anthropic.client.server_tool.requests", anthropic__server_tool="web_fetch") == 2
    assert call_log()["gen_ai.usage.reasoning.output_tokens"] == 40


@pytest.mark.parametrize(("input_tokens", "cost"), [(100_000, 0.0105), (100_001, 0.0525005)])
def test_prompt_size_tier_boundary(
    driver: Driver, fake: FakeAnthropic, spans: Spans, input_tokens: int, cost: float
) -> None:
    fake.enqueue(Reply.message(model="claude-haiku-5-5", input_tokens=input_tokens, output_tokens=1000))
    driver.create(model="claude-haiku-5-5")
    assert spans.one().attributes["anthropic.cost.usd"] == cost


def test_unknown_model_is_counted_and_named(
    driver: Driver, fake: FakeAnthropic, spans: Spans, measured: Metrics
) -> None:
    fake.enqueue(Reply.message(model="claude-next-9", input_tokens=10, output_tokens=10))
    driver.create(model="claude-next-9")
    span = spans.one()
    assert "anthropic.cost.usd" not in span.attributes
    assert span.attributes["anthropic.cost.unpriced"] == "unknown_model"
    assert measured.total("anthropic.client.cost.unpriced", anthropic__unpriced__reason="unknown_model") == 1
    assert measured.points("anthropic.client.cost") == []


def test_batch_with_caching_and_its_savings(
    driver: Driver, fake: FakeAnthropic, spans: Spans, measured: Metrics
) -> None:
    message_id = f"msg_batch_cached_{driver.mode}"
    fake.default = Reply.message(
        model="claude-sonnet-4-6",
        id=message_id,
        input_tokens=1000,
        output_tokens=1000,
        cache_read_input_tokens=10_000,
        cache_creation_input_tokens=1000,
    )
    params = {"model": "claude-sonnet-4-6", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}

    async def scenario(client: Any) -> int:
        batch = await driver.settle(client.messages.batches.create(requests=[{"custom_id": "a", "params": params}]))
        results = await driver.settle(client.messages.batches.results(batch.id))
        return len([result async for result in driver.each(results)])

    with attribution(feature="nightly"):
        assert driver.run(scenario) == 1
    assert measured.total("anthropic.client.cost", anthropic__batch=True, app__feature="nightly") == 0.012375
    assert measured.total("anthropic.client.batch.savings", app__feature="nightly") == 0.012375
    assert measured.total("anthropic.client.cache.savings", app__feature="nightly") == 0.013125
    (record,) = [
        data.log_record for data in LOGS.get_finished_logs() if data.log_record.event_name == "anthropic.batch_result"
    ]
    assert record.attributes["anthropic.cost.batch_savings.usd"] == 0.012375
    assert record.attributes["app.feature"] == "nightly"


def test_priority_tier_is_flagged(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(Reply.message(model="claude-sonnet-4-6", input_tokens=1000, output_tokens=0, service_tier="priority"))
    driver.create(model="claude-sonnet-4-6")
    span = spans.one()
    assert (span.attributes["anthropic.cost.usd"], span.attributes["anthropic.cost.note"]) == (
        0.003,
        "priority_tier_at_standard_rates",
    )
