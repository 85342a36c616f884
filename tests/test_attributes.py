"""What the span and the log record say about a call, over hand-built `CallRecord`s: exact attribute dicts."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import INVALID_SPAN

from anthropic_otel import extract, logs, sdk_compat, spans
from anthropic_otel.cost import Cost, Unpriced
from anthropic_otel.metrics import MetricsSink
from anthropic_otel.record import Attempt, CallRecord

START_NS = 1_700_000_000_000_000_000
REQUEST = extract.RequestFields(
    model="claude-sonnet-4-5", max_tokens=100, temperature=0.5, top_p=0.9, top_k=40, stop_sequences=["END"]
)
RESPONSE = extract.ResponseFields(
    id="msg_1",
    model="claude-sonnet-4-5-20250929",
    stop_reason="end_turn",
    service_tier="standard",
    usage=extract.Usage(input=1000, output=500, cache_read=100, cache_write=50, cache_write_5m=30, cache_write_1h=20),
)
COST = Cost(pico={"input": 3_000_000_000, "output": 7_500_000_000})  # $0.0105


def record(**overrides: Any) -> CallRecord:
    values: dict[str, Any] = {
        "provider": "anthropic",
        "server_address": "api.anthropic.com",
        "server_port": 443,
        "request": REQUEST,
        "response": RESPONSE,
        "attempts": (Attempt(200, None),),
        "start_ns": START_NS,
        "end_ns": START_NS + 1_500_000_000,
        "request_id": "req_1",
        "status_code": 200,
        "cost": COST,
        **overrides,
    }
    return CallRecord(**values)


# --- the span's start -----------------------------------------------------------------------------------------


def test_start_attributes_of_a_full_request() -> None:
    request = extract.RequestFields(
        model="claude-x", max_tokens=100, temperature=0.5, top_p=0.9, top_k=40, stop_sequences=["END"], stream=True
    )
    attributes = spans.start_attributes(
        request, "aws.bedrock", "bedrock-runtime.us-east-1.amazonaws.com", 443, {"app.feature": "chat", "user.id": "u"}
    )
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.request.model": "claude-x",
        "gen_ai.request.max_tokens": 100,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.top_k": 40,
        "gen_ai.request.stop_sequences": ["END"],
        "gen_ai.request.stream": True,
        "server.address": "bedrock-runtime.us-east-1.amazonaws.com",
        "server.port": 443,
        "http.request.method": "POST",
        "http.route": "/v1/messages",
        "app.feature": "chat",
        "user.id": "u",
    }


def test_start_attributes_leave_out_what_the_request_does_not_say() -> None:
    assert spans.start_attributes(extract.RequestFields(), "anthropic", None, None, {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "http.request.method": "POST",
        "http.route": "/v1/messages",
    }


def test_start_attributes_zero_values_are_kept() -> None:
    request = extract.RequestFields(max_tokens=0, temperature=0.0, top_k=0, stop_sequences=[])
    attributes = spans.start_attributes(request, "anthropic", None, None, {})
    assert {key: attributes[key] for key in attributes if key.startswith("gen_ai.request.")} == {
        "gen_ai.request.max_tokens": 0,
        "gen_ai.request.temperature": 0.0,
        "gen_ai.request.top_k": 0,
        "gen_ai.request.stop_sequences": [],
    }


# --- the span's end -------------------------------------------------------------------------------------------


def test_usage_attributes_are_the_shared_part_without_its_gaps() -> None:
    assert spans.usage_attributes(record()) == {
        "anthropic.request.id": "req_1",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.response.model": "claude-sonnet-4-5-20250929",
        "gen_ai.response.id": "msg_1",
        "gen_ai.usage.input_tokens": 1150,
        "gen_ai.usage.output_tokens": 500,
        "gen_ai.usage.cache_read.input_tokens": 100,
        "gen_ai.usage.cache_write.input_tokens": 50,
        "anthropic.message.stop_reason": "end_turn",
        "anthropic.cost.usd": 0.0105,
    }
    empty = record(request=extract.RequestFields(), response=extract.NO_RESPONSE, request_id=None, cost=None)
    assert spans.usage_attributes(empty) == {}


def test_end_attributes_of_a_successful_call() -> None:
    assert spans.end_attributes(record()) == {
        "anthropic.request.id": "req_1",
        "gen_ai.response.model": "claude-sonnet-4-5-20250929",
        "gen_ai.response.id": "msg_1",
        "gen_ai.usage.input_tokens": 1150,
        "gen_ai.usage.output_tokens": 500,
        "gen_ai.usage.cache_read.input_tokens": 100,
        "gen_ai.usage.cache_write.input_tokens": 50,
        "anthropic.message.stop_reason": "end_turn",
        "anthropic.cost.usd": 0.0105,
        "gen_ai.response.finish_reasons": ["end_turn"],
        "anthropic.usage.cache_creation.ephemeral_5m_input_tokens": 30,
        "anthropic.usage.cache_creation.ephemeral_1h_input_tokens": 20,
        "anthropic.response.service_tier": "standard",
        "http.response.status_code": 200,
    }


def test_end_attributes_of_a_retried_stream_with_content() -> None:
    captured = {"gen_ai.input.messages": "[]", "gen_ai.output.messages": "[]"}
    retried = record(
        attempts=(
            Attempt(429, "rate_limit_error", retried=True, delay=0.5),
            Attempt(None, "connection_error", retried=True),
            Attempt(200, None),
        ),
        time_to_first_chunk=0.25,
        content=captured,
        attribution={"app.feature": "chat"},  # on the span from its start, not repeated at its end
    )
    attributes = spans.end_attributes(retried)
    assert attributes["http.request.resend_count"] == 2
    assert attributes["gen_ai.response.time_to_first_chunk"] == 0.25
    assert {key: attributes[key] for key in captured} == captured
    assert set(attributes) - set(spans.end_attributes(record())) == {
        "http.request.resend_count",
        "gen_ai.response.time_to_first_chunk",
        *captured,
    }


def test_end_attributes_of_a_failed_call_before_any_response() -> None:
    failed = record(
        response=extract.NO_RESPONSE,
        attempts=(Attempt(None, "connection_error"),),
        request_id=None,
        status_code=None,
        error_type="connection_error",
        cost=None,
    )
    # error.type is the span sink's to set (the SDK's own span has its own); the record's attributes leave it out.
    assert spans.end_attributes(failed) == {}


def test_end_attributes_of_an_unpriced_call_have_no_cost() -> None:
    attributes = spans.end_attributes(record(cost=Unpriced("claude-unreleased-9", "unknown_model")))
    assert "anthropic.cost.usd" not in attributes
    assert attributes["gen_ai.usage.input_tokens"] == 1150


# --- the log record -------------------------------------------------------------------------------------------


def test_log_attributes_of_a_successful_call() -> None:
    attributed = record(attribution={"app.feature": "support", "user.id": "u-1"})
    assert logs.log_attributes(attributed) == {
        "anthropic.request.id": "req_1",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.response.model": "claude-sonnet-4-5-20250929",
        "gen_ai.response.id": "msg_1",
        "gen_ai.usage.input_tokens": 1150,
        "gen_ai.usage.output_tokens": 500,
        "gen_ai.usage.cache_read.input_tokens": 100,
        "gen_ai.usage.cache_write.input_tokens": 50,
        "anthropic.message.stop_reason": "end_turn",
        "anthropic.cost_usd": 0.0105,
        "http.request.resend_count": 0,
        "anthropic.latency_ms": 1500.0,
        "app.feature": "support",
        "user.id": "u-1",
    }


def test_log_attributes_of_a_failed_retried_call() -> None:
    failed = record(
        response=extract.NO_RESPONSE,
        attempts=(Attempt(529, "overloaded_error", retried=True, delay=0.1), Attempt(529, "overloaded_error")),
        request_id="req_2",
        status_code=529,
        end_ns=START_NS + 250_000,
        error_type="overloaded_error",
        cost=None,
    )
    assert logs.log_attributes(failed) == {
        "anthropic.request.id": "req_2",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "http.request.resend_count": 1,
        "error.type": "overloaded_error",
        "anthropic.latency_ms": 0.25,
    }


def test_json_line_without_a_span() -> None:
    data = json.loads(logs.json_line(record(attribution={"app.feature": "f"})))
    assert data == {
        "request_id": "req_1",
        "model": "claude-sonnet-4-5-20250929",
        "input_tokens": 1150,
        "output_tokens": 500,
        "cache_read_tokens": 100,
        "cache_write_tokens": 50,
        "stop_reason": "end_turn",
        "latency_ms": 1500.0,
        "cost_usd": 0.0105,
        "feature": "f",
        "user_id": None,
        "retries": 0,
        "error_type": None,
        "trace_id": None,
        "span_id": None,
    }


# --- what the SDK's own span already holds --------------------------------------------------------------------


def test_not_held_leaves_out_what_the_sdk_span_holds_with_the_same_value() -> None:
    span = TracerProvider().get_tracer("t").start_span("s", attributes={"a": 1, "b": ("x", "y"), "c": "old"})
    ours = {"a": 1, "b": ["x", "y"], "c": "new", "d": 2.5}
    assert spans.not_held(span, ours) == {"c": "new", "d": 2.5}
    span.end()


def test_not_held_keeps_everything_for_a_span_that_does_not_say() -> None:
    assert spans.not_held(INVALID_SPAN, {"a": 1}) == {"a": 1}


def test_span_attributes_is_a_copy_of_what_the_sdk_span_holds() -> None:
    span = TracerProvider().get_tracer("t").start_span("s", attributes={"a": 1, "b": ("x", "y")})
    held = sdk_compat.span_attributes(span)
    assert held == {"a": 1, "b": ("x", "y")} and type(held) is dict
    held["c"] = 3
    assert dict(span.attributes) == {"a": 1, "b": ("x", "y")}
    span.end()


class PlainMappingSpan:
    """A span whose attributes are a Mapping with no `copy()`."""

    class Attributes(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            return {"a": 1}[key]

        def __iter__(self) -> Iterator[str]:
            return iter(["a"])

        def __len__(self) -> int:
            return 1

    attributes = Attributes()


def test_span_attributes_reads_a_mapping_without_copy_key_by_key() -> None:
    assert sdk_compat.span_attributes(PlainMappingSpan()) == {"a": 1}


# --- the metrics' series by call shape -------------------------------------------------------------------------


def test_users_of_one_feature_share_one_series_shape() -> None:
    sink = MetricsSink(MeterProvider().get_meter("t"))
    for user in ("u-1", "u-2", "u-3"):
        sink(record(attribution={"app.feature": "chat", "user.id": user}))
    assert len(sink.shapes) == 1
    allowed = MetricsSink(MeterProvider().get_meter("t"), include_user_id=True)
    for user in ("u-1", "u-2", "u-3"):
        allowed(record(attribution={"app.feature": "chat", "user.id": user}))
    assert [dict(series.key)["user.id"] for series in allowed.shapes.values()] == ["u-1", "u-2", "u-3"]
