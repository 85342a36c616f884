"""The span contract: exactly one CLIENT span per call, with exact attributes, on every SDK generation."""

from __future__ import annotations

import logging
from typing import Any

import anthropic
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from anthropic_otel.testing import FakeAnthropic, Reply
from conftest import CALL_SCOPE, MODEL, NATIVE, USER, Driver, Spans


def test_create_span_has_request_response_and_usage(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(
        Reply.message(
            "One two three four five six",
            id="msg_exact",
            input_tokens=21,
            cache_read_input_tokens=100,
            cache_creation_input_tokens=50,
            cache_creation_5m=30,
            cache_creation_1h=20,
            stop_reason="max_tokens",
        )
    )
    message = driver.create(stop_sequences=["END"])
    assert type(message) is anthropic.types.Message
    span = spans.one()
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope.name == CALL_SCOPE
    assert span.status.status_code is StatusCode.OK
    attributes = dict(span.attributes or {})
    expected = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.max_tokens": 100,
        "gen_ai.request.stop_sequences": ("END",),
        "gen_ai.response.id": "msg_exact",
        "gen_ai.response.model": MODEL,
        "gen_ai.response.finish_reasons": ("max_tokens",),
        "anthropic.message.stop_reason": "max_tokens",
        "gen_ai.usage.input_tokens": 171,
        "gen_ai.usage.output_tokens": 6,
        "gen_ai.usage.cache_read.input_tokens": 100,
        "gen_ai.usage.cache_write.input_tokens": 50,
        "anthropic.usage.cache_creation.ephemeral_5m_input_tokens": 30,
        "anthropic.usage.cache_creation.ephemeral_1h_input_tokens": 20,
        "anthropic.response.service_tier": "standard",
        "anthropic.request.id": "req_fake_000001",
        "server.address": "127.0.0.1",
        "server.port": fake.port,
        "http.response.status_code": 200,
    }
    assert {key: attributes.get(key) for key in expected} == expected
    for absent in ("gen_ai.request.stream", "http.request.resend_count", "gen_ai.request.temperature", "error.type"):
        assert absent not in attributes
    assert span.events == ()


def test_no_api_key_and_no_content_by_default(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    driver.create(system="You are terse.")
    span = spans.one()
    text = repr(dict(span.attributes or {})) + repr([event.attributes for event in span.events])
    assert "sk-test-secret" not in text
    assert "OpenTelemetry" not in text  # the prompt
    assert "terse" not in text
    assert not any(key.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.system")) for key in span.attributes or {})


def test_retries_become_events_on_the_one_span(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(Reply.rate_limited(retry_after=0.01), Reply.overloaded(retry_after=0.02), Reply.message())
    driver.create(client_options={"max_retries": 3})
    span = spans.one()
    assert span.status.status_code is StatusCode.OK
    assert span.attributes["http.request.resend_count"] == 2
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["anthropic.request.id"] == "req_fake_000003"
    events = [(event.name, dict(event.attributes or {})) for event in span.events]
    assert events == [
        (
            "anthropic.retry",
            {
                "http.request.resend_count": 1,
                "http.response.status_code": 429,
                "error.type": "rate_limit_error",
                "anthropic.retry.delay": 0.01,
            },
        ),
        (
            "anthropic.retry",
            {
                "http.request.resend_count": 2,
                "http.response.status_code": 529,
                "error.type": "overloaded_error",
                "anthropic.retry.delay": 0.02,
            },
        ),
    ]


def test_retries_that_give_up_fail_the_span(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(*[Reply.overloaded(retry_after=0.01)] * 3)
    with pytest.raises(anthropic.APIStatusError) as raised:
        driver.create(client_options={"max_retries": 2})
    assert raised.value.status_code == 529
    span = spans.one()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "overloaded_error"
    assert span.attributes["http.response.status_code"] == 529
    assert span.attributes["http.request.resend_count"] == 2
    assert [event.attributes["http.request.resend_count"] for event in span.events] == [1, 2]


def test_retried_stream_request_names_the_error_without_reading_its_body(
    driver: Driver, fake: FakeAnthropic, spans: Spans
) -> None:
    fake.enqueue(Reply.rate_limited(retry_after=0.01), Reply.message("a b c"))
    events = driver.stream_events({"max_retries": 1}, max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert events[-1].type == "message_stop"
    span = spans.one()
    assert [dict(event.attributes or {}) for event in span.events] == [
        {
            "http.request.resend_count": 1,
            "http.response.status_code": 429,
            "error.type": "rate_limit_error",
            "anthropic.retry.delay": 0.01,
        }
    ]


@pytest.mark.parametrize(
    ("reply", "error_type"),
    [(Reply.reset(), "connection_error"), (Reply.delay(1.0, Reply.message()), "client_timeout_error")],
)
def test_transport_failures_are_retry_events_and_error_types(
    driver: Driver, fake: FakeAnthropic, spans: Spans, reply: Reply, error_type: str
) -> None:
    fake.enqueue(reply, reply)
    with pytest.raises(anthropic.APIConnectionError):
        driver.create(client_options={"max_retries": 1, "timeout": 0.2})
    span = spans.one()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == error_type
    assert "http.response.status_code" not in span.attributes
    (event,) = span.events
    assert event.attributes["error.type"] == error_type
    assert event.attributes["http.request.resend_count"] == 1
    assert "http.response.status_code" not in event.attributes


def test_client_error_is_not_retried(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(Reply.error(400, "invalid_request_error", "max_tokens: too large"))
    with pytest.raises(anthropic.BadRequestError):
        driver.create(client_options={"max_retries": 2})
    span = spans.one()
    assert span.attributes["error.type"] == "invalid_request_error"
    assert span.attributes["http.response.status_code"] == 400
    assert span.events == ()


def test_missing_usage_records_what_there_is(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(Reply.message(omit_usage=True, id="msg_no_usage"))
    message = driver.create()
    assert message.usage is None
    span = spans.one()
    assert span.attributes["gen_ai.response.id"] == "msg_no_usage"
    assert not any(key.startswith("gen_ai.usage") for key in span.attributes)
    assert span.status.status_code is StatusCode.OK


def test_malformed_json_passes_the_sdks_own_error_through(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(Reply.malformed_json())
    with pytest.raises(ValueError):  # json.JSONDecodeError, exactly as without instrumentation
        driver.create()
    span = spans.one()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["http.response.status_code"] == 200


def test_one_span_per_call_under_a_parent(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    from opentelemetry import trace

    tracer = trace.get_tracer("app")
    with tracer.start_as_current_span("handler") as parent:
        driver.create()
        driver.create()
    calls = spans.calls()
    assert len(calls) == 2
    assert all(span.parent is not None and span.parent.span_id == parent.get_span_context().span_id for span in calls)


@pytest.mark.skipif(not NATIVE, reason="anthropic < 1.14 has no native spans to switch off")
def test_native_tracing_off_gets_the_plugins_span(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(Reply.message(id="msg_off"))
    driver.create(client_options={"open_telemetry": False})
    span = spans.one()
    assert span.instrumentation_scope.name == "anthropic_otel"
    assert span.attributes["gen_ai.response.id"] == "msg_off"
    assert span.attributes["gen_ai.operation.name"] == "chat"


def accepts(parameter: str) -> bool:
    import inspect

    return parameter in inspect.signature(anthropic.resources.messages.Messages.create).parameters


@pytest.mark.skipif(not accepts("temperature"), reason="this SDK's messages.create takes no sampling parameters")
def test_sampling_parameters_only_when_set(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    driver.create(temperature=0.25, top_p=0.5, top_k=40)
    attributes = spans.one().attributes or {}
    assert attributes["gen_ai.request.temperature"] == 0.25
    assert attributes["gen_ai.request.top_p"] == 0.5
    assert attributes["gen_ai.request.top_k"] == 40


@pytest.mark.skipif(not hasattr(anthropic.resources.messages.Messages, "parse"), reason="no messages.parse here")
def test_messages_parse(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    import pydantic

    class Joke(pydantic.BaseModel):
        setup: str
        punchline: str

    fake.enqueue(Reply.message('{"setup": "Why?", "punchline": "Because."}', id="msg_parsed"))
    parsed = driver.run(
        lambda client: client.messages.parse(model=MODEL, max_tokens=50, messages=USER, output_format=Joke)
    )
    assert parsed.parsed_output == Joke(setup="Why?", punchline="Because.")
    span = spans.one()
    assert span.attributes["gen_ai.response.id"] == "msg_parsed"
    assert span.status.status_code is StatusCode.OK


def test_mistyped_usage_is_recorded_as_far_as_it_goes(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    import json

    body = {
        "id": "msg_odd",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": "ten", "output_tokens": 5, "cache_read_input_tokens": "many"},
    }
    fake.enqueue(Reply.raw(200, {"content-type": "application/json"}, json.dumps(body).encode()))
    message = driver.create()
    assert message.id == "msg_odd"
    attributes = spans.one().attributes or {}
    assert attributes["gen_ai.usage.output_tokens"] == 5
    assert attributes["gen_ai.response.id"] == "msg_odd"
    assert "gen_ai.usage.input_tokens" not in attributes
    assert "gen_ai.usage.cache_read.input_tokens" not in attributes


def held_by(how: str, span: Any) -> Any:
    """`span` held as the plugin holds the SDK's span: its class swapped (`hold`), or by the proxy."""
    from anthropic_otel.spans import NativeSpan, hold

    return hold(span) if how == "class" else NativeSpan(span)


def sdk_span(name: str = "s") -> Any:
    from opentelemetry.sdk.trace import TracerProvider

    return TracerProvider().get_tracer("t").start_span(name)


def test_the_sdks_own_span_is_held_as_the_same_object_of_a_subclass_of_its_class() -> None:
    """No proxy between the SDK and its span: each call the SDK makes on it is the span's own."""
    span = sdk_span()
    sdk_class = type(span)
    held = held_by("class", span)
    assert held is span and isinstance(span, sdk_class) and type(span).__name__ == sdk_class.__name__
    held.set_attribute("k", 1)
    assert dict(span.attributes) == {"k": 1} and span.is_recording()


def test_a_span_another_library_proxies_is_held_by_a_proxy_of_the_plugins() -> None:
    import wrapt

    from anthropic_otel.spans import NativeSpan, hold

    proxied = wrapt.ObjectProxy(sdk_span())
    held = hold(proxied)
    assert isinstance(held, NativeSpan) and held.__wrapped__ is proxied
    held.end()
    assert proxied.is_recording() and not held.is_recording()
    held.record_written()
    assert not proxied.is_recording()


@pytest.mark.parametrize("how", ["class", "proxy"])
def test_the_sdks_end_waits_for_the_record_and_keeps_the_time_the_sdk_asked_for(how: str) -> None:
    inner = sdk_span()
    held = held_by(how, inner)
    held.end(end_time=inner.start_time + 5_000)
    assert not held.is_recording() and inner.end_time is None
    held.end(end_time=inner.start_time + 9_000)  # the SDK never ends it twice; a second end changes nothing
    held.set_attribute("written", 1)
    held.record_written()
    assert inner.end_time == inner.start_time + 5_000 and dict(inner.attributes) == {"written": 1}


@pytest.mark.parametrize("how", ["class", "proxy"])
def test_the_sdks_end_goes_straight_through_once_the_record_is_written(how: str) -> None:
    inner = sdk_span()
    held = held_by(how, inner)
    held.record_written()
    assert inner.end_time is None and held.is_recording()
    held.end(end_time=inner.start_time + 7_000)
    assert inner.end_time == inner.start_time + 7_000 and not held.is_recording()


@pytest.mark.parametrize("how", ["class", "proxy"])
def test_the_sdks_span_takes_no_writes_after_it_really_ended(how: str, caplog: pytest.LogCaptureFixture) -> None:
    """What the SDK still writes into its span after the plugin ended it (a stream ended at exit, closed later by
    the garbage collector) is dropped, not logged as a write to an ended span."""
    inner = sdk_span()
    span = held_by(how, inner)
    span.set_attribute("before", 1)
    span.record_written()
    span.end()
    with caplog.at_level(logging.WARNING):
        span.set_attribute("after", 2)
        span.set_attributes({"after": 3})
        span.add_event("late")
        span.set_status(StatusCode.ERROR)
        span.end()
    assert dict(inner.attributes) == {"before": 1} and inner.events == () and inner.status.status_code.name == "UNSET"
    assert [record.getMessage() for record in caplog.records] == []


@pytest.mark.parametrize("how", ["class", "proxy"])
def test_the_sdks_span_keeps_its_context_before_and_after_it_ended(how: str) -> None:
    inner = sdk_span()
    context = inner.get_span_context()
    span = held_by(how, inner)
    assert span.get_span_context() is context
    span.record_written()
    span.end()
    assert span.get_span_context() is context and not span.is_recording()
