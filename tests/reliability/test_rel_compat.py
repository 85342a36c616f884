"""Every SDK feature the plugin wraps behaves identically with and without it, on the SDK installed: raw responses,
the stream helper, `with_options`, a custom `http_client`, `max_retries=0`, client copies, Bedrock and Vertex
clients (Bedrock streams in AWS event-stream framing), and `count_tokens` where the SDK has it. Each scenario runs
uninstrumented and instrumented against the same script; what the application sees must be equal, and the
instrumented run leaves one ended span per messages call."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from rel_support import COUNTER, Outcome, outcome_of

import anthropic_otel
from anthropic_otel import sdk_compat
from anthropic_otel.testing import FakeAnthropic, Reply
from conftest import EXPORTER, MODEL, USER, Spans

HTTP: Any = sdk_compat.http_module()
BODY = {"model": MODEL, "max_tokens": 20, "messages": USER}
AWS = {"aws_access_key": "AKIDFAKE", "aws_secret_key": "fake", "aws_region": "us-east-1"}
BEDROCK_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
VERTEX_MODEL = "claude-3-5-sonnet-v2@20241022"


def raw(client: Any) -> Any:
    response = client.messages.with_raw_response.create(**BODY)
    return (response.http_response.status_code, response.headers.get("request-id"), response.parse())


def streaming_response(client: Any) -> Any:
    with client.messages.with_streaming_response.create(**BODY) as response:
        return (response.status_code, b"".join(response.iter_bytes()))


def stream_helper(client: Any) -> Any:
    with client.messages.stream(**BODY) as stream:
        texts = list(stream.text_stream)
        return (texts, stream.get_final_message())


def raw_stream(client: Any) -> Any:
    response = client.messages.with_raw_response.create(**BODY, stream=True)
    return [event for event in response.parse()]


def with_options(client: Any) -> Any:
    return client.with_options(max_retries=2, timeout=5.0).messages.create(**BODY)


def copied(client: Any) -> Any:
    return client.copy(max_retries=1).messages.create(**BODY)


def retried(client: Any) -> Any:
    return client.with_options(max_retries=1).messages.create(**BODY)


def no_retries(client: Any) -> Any:
    return client.messages.create(**BODY)


def count_tokens(client: Any) -> Any:
    if not hasattr(client.messages, "count_tokens"):
        pytest.skip("this SDK has no messages.count_tokens")
    return client.messages.count_tokens(model=MODEL, messages=USER)


def beta_create(client: Any) -> Any:
    return client.beta.messages.create(**BODY)


SYNC: dict[str, tuple[Callable[[Any], Any], list[Reply], int]] = {
    # name: (scenario, replies, messages calls it makes)
    "with_raw_response": (raw, [Reply.message(id="msg_raw")], 1),
    "with_streaming_response": (streaming_response, [Reply.message(id="msg_streaming")], 1),
    "messages.stream()": (stream_helper, [Reply.message("a b c d", id="msg_helper")], 1),
    "raw stream": (raw_stream, [Reply.message("a b", id="msg_raw_stream")], 1),
    "with_options": (with_options, [Reply.overloaded(retry_after=0.01), Reply.message(id="msg_options")], 1),
    "copy": (copied, [Reply.rate_limited(retry_after=0.01), Reply.message(id="msg_copy")], 1),
    "max_retries=0": (no_retries, [Reply.overloaded(retry_after=0.01)], 1),
    "retried": (retried, [Reply.reset(), Reply.message(id="msg_retried")], 1),
    "count_tokens": (count_tokens, [], 0),
    "beta": (beta_create, [Reply.message(id="msg_beta")], 1),
}


def compare(fake: FakeAnthropic, spans: Spans, make: Callable[[], Any], replies: list[Reply], calls: int) -> Outcome:
    anthropic_otel.uninstrument()
    try:
        fake.clear()
        fake.enqueue(*replies)
        bare = outcome_of(make, [])
        bare_paths = [request.path for request in fake.requests]
    finally:
        anthropic_otel.instrument()
    EXPORTER.clear()
    open_before = COUNTER.open()
    fake.clear()
    fake.enqueue(*replies)
    instrumented = outcome_of(make, [])
    assert instrumented == bare
    assert [request.path for request in fake.requests] == bare_paths
    assert len(spans.calls()) == calls
    assert COUNTER.open() == open_before
    return bare


def custom_client(fake: FakeAnthropic) -> Any:
    return anthropic.Anthropic(
        base_url=fake.base_url,
        api_key="k",
        max_retries=0,
        http_client=HTTP.Client(headers={"x-app": "custom"}, timeout=5.0),
    )


@pytest.mark.parametrize("name", list(SYNC))
def test_sdk_feature_is_unchanged(fake: FakeAnthropic, spans: Spans, name: str) -> None:
    scenario, replies, calls = SYNC[name]
    compare(
        fake,
        spans,
        lambda: scenario(anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0)),
        replies,
        calls,
    )


@pytest.mark.parametrize("name", ["with_raw_response", "messages.stream()", "copy"])
def test_custom_http_client(fake: FakeAnthropic, spans: Spans, name: str) -> None:
    scenario, replies, calls = SYNC[name]
    compare(fake, spans, lambda: scenario(custom_client(fake)), replies, calls)
    assert all(request.headers.get("x-app") == "custom" for request in fake.requests)


def test_async_features_are_unchanged(fake: FakeAnthropic, spans: Spans) -> None:
    async def scenario() -> Any:
        client = anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="k", max_retries=0)
        raw_response = await client.messages.with_raw_response.create(**BODY)
        async with client.messages.stream(**BODY) as stream:
            texts = [text async for text in stream.text_stream]
            final = await stream.get_final_message()
        copy = await client.copy(max_retries=1).messages.create(**BODY)
        await client.close()
        parsed = raw_response.parse()  # a coroutine on newer SDKs, a Message on 0.x's legacy response
        if inspect.isawaitable(parsed):
            parsed = await parsed
        return (parsed, texts, final, copy)

    compare(
        fake,
        spans,
        lambda: asyncio.run(scenario()),
        [Reply.message(id="m1"), Reply.message("x y", id="m2"), Reply.overloaded(retry_after=0.01), Reply.message()],
        3,
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_bedrock_client_is_unchanged(fake: FakeAnthropic, spans: Spans, mode: str) -> None:
    pytest.importorskip("boto3", reason="AnthropicBedrock signs requests with botocore")
    body = {**BODY, "model": BEDROCK_MODEL}

    def sync() -> Any:
        client = anthropic.AnthropicBedrock(base_url=fake.base_url, max_retries=0, **AWS)
        message = client.messages.create(**body)
        events = list(client.messages.create(**body, stream=True))
        with client.messages.stream(**body) as stream:
            final = stream.get_final_message()
        return (message, events, final)

    async def async_() -> Any:
        client = anthropic.AsyncAnthropicBedrock(base_url=fake.base_url, max_retries=0, **AWS)
        message = await client.messages.create(**body)
        events = [event async for event in await client.messages.create(**body, stream=True)]
        async with client.messages.stream(**body) as stream:
            final = await stream.get_final_message()
        return (message, events, final)

    replies = [Reply.message(id="b1"), Reply.message("a b c", id="b2"), Reply.message("d e", id="b3")]
    compare(fake, spans, sync if mode == "sync" else lambda: asyncio.run(async_()), replies, 3)
    assert {span.attributes["gen_ai.provider.name"] for span in spans.calls()} == {"aws.bedrock"}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vertex_client_is_unchanged(fake: FakeAnthropic, spans: Spans, mode: str) -> None:
    body = {**BODY, "model": VERTEX_MODEL}
    options = {"region": "us-east5", "project_id": "proj", "access_token": "token", "max_retries": 0}

    def sync() -> Any:
        client = anthropic.AnthropicVertex(base_url=fake.base_url, **options)
        message = client.messages.create(**body)
        events = list(client.messages.create(**body, stream=True))
        return (message, events)

    async def async_() -> Any:
        client = anthropic.AsyncAnthropicVertex(base_url=fake.base_url, **options)
        message = await client.messages.create(**body)
        events = [event async for event in await client.messages.create(**body, stream=True)]
        return (message, events)

    replies = [Reply.message(id="v1"), Reply.message("a b", id="v2")]
    compare(fake, spans, sync if mode == "sync" else lambda: asyncio.run(async_()), replies, 2)
    assert {span.attributes["gen_ai.provider.name"] for span in spans.calls()} == {"gcp.vertex_ai"}
