"""Bedrock through the SDK's own client: ``AnthropicBedrock`` signs with fake AWS credentials and reads
``invoke-with-response-stream`` in AWS event-stream framing (decoded by botocore), served by the fake."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from anthropic_otel.testing.fake_api import FakeAnthropic, Reply, Simulation
from anthropic_otel.testing.fake_api.render import bedrock_chunk
from conftest import USER

MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
AWS = {"aws_access_key": "AKIDFAKEFAKEFAKE", "aws_secret_key": "fake-secret", "aws_region": "us-east-1"}


@pytest.fixture
def api() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server
        assert not server.errors, server.format_errors()


def bedrock(api: FakeAnthropic, mode: str = "sync") -> Any:
    cls = anthropic.AnthropicBedrock if mode == "sync" else anthropic.AsyncAnthropicBedrock
    return cls(base_url=api.base_url, max_retries=0, **AWS)


def test_event_stream_framing() -> None:
    frame = bedrock_chunk(("ping", {"type": "ping"}))
    total, headers_length, prelude_crc = struct.unpack(">III", frame[:12])
    assert (total, prelude_crc) == (len(frame), zlib.crc32(frame[:8]))
    assert struct.unpack(">I", frame[-4:])[0] == zlib.crc32(frame[:-4])
    headers, payload = frame[12 : 12 + headers_length], frame[12 + headers_length : -4]
    assert b":event-type" in headers and b"chunk" in headers
    assert json.loads(base64.b64decode(json.loads(payload)["bytes"])) == {"type": "ping"}


def test_stream(api: FakeAnthropic) -> None:
    api.enqueue(Reply.message("one two three four five", input_tokens=9, cache_read_input_tokens=4))
    events = list(bedrock(api).messages.create(model=MODEL, max_tokens=10, messages=USER, stream=True))
    # SDK 0.x passes Bedrock's ping through; later versions drop it, as they do for SSE
    types = [event.type for event in events if event.type != "ping"]
    assert types == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    text = "".join(event.delta.text for event in events if event.type == "content_block_delta")
    start = events[0].message
    assert (text, start.model, start.usage.input_tokens, start.usage.cache_read_input_tokens) == (
        "one two three four five",
        MODEL,
        9,
        4,
    )
    assert next(event for event in events if event.type == "message_delta").usage.output_tokens == 5
    request = api.requests[0]
    assert request.path == f"/model/{MODEL}/invoke-with-response-stream"
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDFAKEFAKEFAKE/")
    assert "stream" not in request.json and "model" not in request.json  # type: ignore[operator]


def test_stream_helper_and_async(api: FakeAnthropic) -> None:
    api.simulation = Simulation(tokens=True)
    with bedrock(api).messages.stream(model=MODEL, max_tokens=3, messages=USER) as stream:
        final = stream.get_final_message()
    assert (final.content[0].text, final.stop_reason, final.usage.output_tokens) == ("Hello! How c", "max_tokens", 3)
    assert final.usage.input_tokens == len(USER[0]["content"]) // 4 == 8

    async def main() -> list[str]:
        client = bedrock(api, "async")
        stream = await client.messages.create(model=MODEL, max_tokens=10, messages=USER, stream=True)
        return [event.type async for event in stream if event.type != "ping"]

    assert asyncio.run(main())[::6] == ["message_start", "message_stop"]


def test_error_mid_stream_is_an_exception_message(api: FakeAnthropic) -> None:
    api.enqueue(Reply.stream_error(3, text="partial"))
    seen: list[str] = []
    # SDK 0.x lets botocore's ValueError out; later versions raise it as an API error, like an SSE error event
    with pytest.raises((anthropic.APIStatusError, ValueError)) as caught:
        for event in bedrock(api).messages.create(model=MODEL, max_tokens=10, messages=USER, stream=True):
            seen.append(event.type)
    assert [kind for kind in seen if kind != "ping"] == ["message_start", "content_block_start"]
    error, message = caught.value, "Overloaded"
    if isinstance(error, anthropic.APIStatusError):
        assert error.body == {
            "type": "error",
            "error": {"type": "serviceUnavailableException", "message": "Overloaded"},
        }
    else:
        assert "'serviceUnavailableException'" in str(error) and message in str(error)


def test_invoke_is_json(api: FakeAnthropic) -> None:
    message = bedrock(api).messages.create(model=MODEL, max_tokens=10, messages=USER)
    assert (message.model, message.content[0].text) == (MODEL, "Hello! How can I help?")
    assert api.requests[0].path == f"/model/{MODEL}/invoke"
