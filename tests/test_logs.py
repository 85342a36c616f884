"""One log record per call, tied to the call's span, and the optional JSON line."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import anthropic
import pytest

from anthropic_otel import attribution
from anthropic_otel.testing import FakeAnthropic, Reply
from conftest import LOGS, Driver, Spans

SONNET = "claude-sonnet-4-5-20250929"


def records() -> list:  # type: ignore[type-arg]
    return [data.log_record for data in LOGS.get_finished_logs() if data.log_record.event_name == "anthropic.call"]


def test_one_log_record_per_call_tied_to_its_span(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(
        Reply.rate_limited(retry_after=0.01),
        Reply.message(model=SONNET, id="msg_log", input_tokens=1000, output_tokens=500, cache_read_input_tokens=10),
    )
    before = time.time_ns()
    with attribution(feature="support", user_id="u-1"):
        driver.create(model=SONNET, client_options={"max_retries": 1})
    after = time.time_ns()
    (record,) = records()
    span = spans.one()
    assert record.trace_id == span.context.trace_id
    assert record.span_id == span.context.span_id
    attributes = dict(record.attributes or {})
    latency = attributes.pop("anthropic.latency_ms")
    # The call's own start and end, within the test's: (the SDK's span, on 1.14+, ends at a time the SDK picks,
    # which may come before the plugin's end of the call, so the span's duration is no bound.)
    assert 0 < latency <= (after - before) / 1e6
    assert record.timestamp is not None and before <= record.timestamp <= after
    assert round(attributes.pop("anthropic.cost_usd"), 9) == 0.010503  # 0.003 + 0.0075 + 10 x 0.3e-6
    assert attributes == {
        "anthropic.request.id": "req_fake_000002",
        "gen_ai.request.model": SONNET,
        "gen_ai.response.model": SONNET,
        "gen_ai.response.id": "msg_log",
        "gen_ai.usage.input_tokens": 1010,
        "gen_ai.usage.output_tokens": 500,
        "gen_ai.usage.cache_read.input_tokens": 10,
        "gen_ai.usage.cache_write.input_tokens": 0,
        "anthropic.message.stop_reason": "end_turn",
        "anthropic.cost.cache_savings.usd": 0.000027,  # 10 reads x ($3 - $0.30) per million
        "http.request.resend_count": 1,
        "app.feature": "support",
        "user.id": "u-1",
    }


def test_failed_call_log_has_error_type(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(Reply.error(400, "invalid_request_error"))
    with pytest.raises(anthropic.BadRequestError):
        driver.create()
    (record,) = records()
    assert record.attributes["error.type"] == "invalid_request_error"
    assert record.severity_text == "WARN"


def test_json_line(
    driver: Driver,
    fake: FakeAnthropic,
    spans: Spans,
    caplog: pytest.LogCaptureFixture,
    reinstrument: Callable[..., None],
) -> None:
    reinstrument(json_logger="anthropic.calls")
    fake.enqueue(Reply.message(model=SONNET, id="msg_json", input_tokens=1000, output_tokens=500))
    with caplog.at_level(logging.INFO, logger="anthropic.calls"), attribution(feature="f", user_id="u"):
        driver.create(model=SONNET, max_tokens=5)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "anthropic.calls"]
    data = json.loads(line)
    span = spans.one()
    assert data.pop("latency_ms") > 0
    assert data == {
        "request_id": "req_fake_000001",
        "model": SONNET,
        "input_tokens": 1000,
        "output_tokens": 500,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "stop_reason": "end_turn",
        "cost_usd": 0.0105,
        "feature": "f",
        "user_id": "u",
        "retries": 0,
        "error_type": None,
        "trace_id": format(span.context.trace_id, "032x"),
        "span_id": format(span.context.span_id, "016x"),
    }
