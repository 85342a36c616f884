"""Installing and removing the hooks, options, raw responses, content capture and platform clients."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from opentelemetry.trace import StatusCode

import anthropic_otel
from anthropic_otel import config, sdk_compat
from anthropic_otel.testing import FakeAnthropic, Reply
from conftest import MODEL, USER, Driver, Spans


def hooked() -> bool:
    return hasattr(sdk_compat.base_client().SyncAPIClient.request, "__wrapped__")


def test_instrument_twice_is_harmless(driver: Driver, spans: Spans) -> None:
    anthropic_otel.instrument()
    anthropic_otel.instrument()
    driver.create(max_tokens=10)
    assert len(spans.calls()) == 1


def test_uninstrument_restores_the_originals_and_a_client_made_before_is_instrumented(
    fake: FakeAnthropic, spans: Spans
) -> None:
    base = sdk_compat.base_client()
    http = sdk_compat.http_module()
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0)
    anthropic_otel.uninstrument()
    try:
        assert not hooked()
        assert not hasattr(http.Client.send, "__wrapped__")
        assert not hasattr(base.BaseClient._calculate_retry_timeout, "__wrapped__")
        if sdk_compat.has_native_spans():
            assert not hasattr(base.start_api_call_span, "__wrapped__")
        client.messages.create(model=MODEL, max_tokens=10, messages=USER)
        plugin_spans = [span for span in spans.finished() if span.instrumentation_scope.name == "anthropic_otel"]
        assert plugin_spans == []
        assert len(spans.calls()) == (1 if sdk_compat.has_native_spans() else 0)  # only the SDK's own
    finally:
        anthropic_otel.instrument()
    assert hooked()
    spans_before = len(spans.calls())
    fake.enqueue(Reply.message(id="msg_after"))
    client.messages.create(model=MODEL, max_tokens=10, messages=USER)  # the client made before instrument()
    calls = spans.calls()
    assert len(calls) == spans_before + 1
    assert calls[-1].attributes["gen_ai.response.id"] == "msg_after"


@pytest.mark.parametrize(
    ("options", "environ", "message"),
    [
        ({"capture_content": "maybe"}, {}, "capture_content='maybe': expected true or false"),
        ({}, {"ANTHROPIC_OTEL_CAPTURE_CONTENT": "sure"}, "ANTHROPIC_OTEL_CAPTURE_CONTENT='sure'"),
        ({}, {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "2"}, "GENAI_CAPTURE_MESSAGE_CONTENT='2'"),
        (
            {"capture_contents": True},
            {},
            "unknown option(s) capture_contents; the options are: anomaly_factor, anomaly_warmup, capture_content",
        ),
    ],
)
def test_bad_options_name_the_option_and_the_fix(options: dict, environ: dict, message: str) -> None:
    with pytest.raises(config.ConfigError) as raised:
        config.resolve(options, environ)
    assert message in str(raised.value)


def test_bad_option_raises_from_instrument_and_hooks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    anthropic_otel.uninstrument()
    try:
        with pytest.raises(anthropic_otel.ConfigError):
            anthropic_otel.instrument(capture_content="perhaps")
        assert not hooked()
    finally:
        anthropic_otel.instrument()


def test_options_from_the_environment() -> None:
    assert config.resolve({}, {"ANTHROPIC_OTEL_CAPTURE_CONTENT": "yes"}).capture_content == "span"
    assert config.resolve({}, {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}).capture_content == "span"
    assert (
        config.resolve({"capture_content": False}, {"ANTHROPIC_OTEL_CAPTURE_CONTENT": "true"}).capture_content == "none"
    )
    assert config.resolve({}, {}).capture_content == "none"


def test_content_is_recorded_only_when_asked(
    driver: Driver, fake: FakeAnthropic, spans: Spans, reinstrument: Callable[..., None]
) -> None:
    reinstrument(capture_content=True)
    fake.enqueue(Reply.message("Why did the span end?"), Reply.message("Because it was read"))

    async def scenario(client: Any) -> None:
        await driver.settle(client.messages.create(model=MODEL, max_tokens=10, messages=USER, system="Be brief."))
        stream = await driver.settle(client.messages.create(model=MODEL, max_tokens=10, messages=USER, stream=True))
        async for _ in driver.each(stream):
            pass

    driver.run(scenario)
    plain, streamed = spans.calls()
    assert json.loads(plain.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": USER[0]["content"]}]}
    ]
    assert json.loads(plain.attributes["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    for span, text in ((plain, "Why did the span end?"), (streamed, "Because it was read")):
        output = json.loads(span.attributes["gen_ai.output.messages"])
        assert output == [
            {"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": "end_turn"}
        ]


def test_with_raw_response(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(Reply.message("raw words", id="msg_raw", input_tokens=5))

    async def scenario(client: Any) -> tuple[Any, Any]:
        raw = await driver.settle(client.messages.with_raw_response.create(model=MODEL, max_tokens=10, messages=USER))
        return raw, await driver.settle(raw.parse())  # a coroutine on the async client, except 0.x's legacy one

    raw, message = driver.run(scenario)
    assert message.id == "msg_raw"
    assert raw.http_response.status_code == 200
    assert raw.headers["request-id"] == "req_fake_000001"
    span = spans.one()
    assert span.attributes["gen_ai.response.id"] == "msg_raw"
    assert span.attributes["gen_ai.usage.output_tokens"] == 2
    assert span.attributes["anthropic.request.id"] == "req_fake_000001"


def test_with_streaming_response_ends_the_span(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(Reply.message("streamed raw", id="msg_sraw", input_tokens=3))

    async def scenario(client: Any) -> str:
        create = client.messages.with_streaming_response.create(model=MODEL, max_tokens=10, messages=USER)
        async with driver.entered(create) as response:
            return (await driver.settle(response.parse())).id

    assert driver.run(scenario) == "msg_sraw"
    span = spans.one()
    assert span.attributes["gen_ai.response.id"] == "msg_sraw"
    assert span.attributes["anthropic.request.id"] == "req_fake_000001"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["gen_ai.usage.input_tokens"] == 3


def test_beta_messages(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(Reply.message(id="msg_beta"))
    message = driver.run(lambda client: client.beta.messages.create(model=MODEL, max_tokens=10, messages=USER))
    assert message.id == "msg_beta"
    assert fake.requests[-1].path.startswith("/v1/messages")  # 2.x sends beta calls without ?beta=true
    assert spans.one().attributes["gen_ai.response.id"] == "msg_beta"


def test_other_endpoints_are_left_alone(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    driver.run(lambda client: client.messages.count_tokens(model=MODEL, messages=USER))
    assert spans.calls() == []
    assert [span for span in spans.finished() if span.instrumentation_scope.name == "anthropic_otel"] == []


def test_vertex_client(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(Reply.message(id="msg_vertex"))
    message = driver.run(
        lambda client: client.messages.create(model=MODEL, max_tokens=10, messages=USER),
        client_class="AnthropicVertex",
        region="us-east5",
        project_id="proj",
        access_token="token",
    )
    assert message.id == "msg_vertex"
    span = spans.one()
    assert span.attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert span.attributes["gen_ai.response.id"] == "msg_vertex"
    assert span.status.status_code is StatusCode.OK


def test_bedrock_client(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    pytest.importorskip("boto3", reason="AnthropicBedrock signs requests with boto3/botocore")
    fake.enqueue(Reply.message(id="msg_bedrock"))
    message = driver.run(
        lambda client: client.messages.create(
            model="anthropic.claude-sonnet-4-5-20250929-v1:0", max_tokens=10, messages=USER
        ),
        client_class="AnthropicBedrock",
        aws_access_key="AKIATEST",
        aws_secret_key="secret",
        aws_region="us-east-1",
    )
    assert message.id == "msg_bedrock"
    span = spans.one()
    assert span.attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert span.attributes["gen_ai.request.model"] == "anthropic.claude-sonnet-4-5-20250929-v1:0"
    text = repr(dict(span.attributes))
    assert "secret" not in text and "AKIATEST" not in text


def test_raw_stream_parsed_later(driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(Reply.message("raw stream words", id="msg_raw_stream"))

    async def scenario(client: Any) -> list[str]:
        create = client.messages.with_raw_response.create
        raw = await driver.settle(create(model=MODEL, max_tokens=10, messages=USER, stream=True))
        stream = await driver.settle(raw.parse())
        return [event.type async for event in driver.each(stream)]

    events = driver.run(scenario)
    assert events[-1] == "message_stop"
    span = spans.one()
    assert span.attributes["gen_ai.response.id"] == "msg_raw_stream"
    assert span.attributes["gen_ai.usage.output_tokens"] == 3
