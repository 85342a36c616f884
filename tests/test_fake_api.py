"""The fake Anthropic API, exercised with the real ``anthropic`` SDK (no mocks) over 127.0.0.1.

These tests pin down two things: that the fake answers like the real API (shapes, headers, SSE framing), and what
each SDK version does with the faults it can inject, since the instrumentation has to cope with exactly that.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import anthropic._base_client as sdk_base_client
import pytest

import anthropic_otel
from anthropic_otel.testing import FakeAnthropic, Reply, cassette_dir, load_cassette
from anthropic_otel.testing.recordings import ENV_VAR, Recording

# SDK 0.x is built on httpx, 1.x and later on the httpx2 fork: use whichever this SDK imports.
HTTPX: Any = getattr(sdk_base_client, "httpx2", None) or sdk_base_client.httpx

MODEL = "claude-fake-model"  # a name no SDK version warns about as deprecated
USER = [{"role": "user", "content": "Tell me a joke about OpenTelemetry"}]


@pytest.fixture
def api() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server
        assert not server.errors, server.format_errors()


@pytest.fixture
def client(api: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=api.base_url, api_key="test", max_retries=0) as sdk_client:
        yield sdk_client


def create(client: anthropic.Anthropic, **kwargs: Any) -> Any:
    return client.messages.create(**{"model": MODEL, "max_tokens": 100, "messages": USER, **kwargs})


def raw_post(api: FakeAnthropic, path: str, body: object) -> tuple[int, http.client.HTTPMessage, Any]:
    """POST without the SDK, to see the wire: status, headers and the decoded JSON body."""
    connection = http.client.HTTPConnection(api.host, api.port, timeout=5)
    try:
        connection.request("POST", path, json.dumps(body), {"content-type": "application/json"})
        response = connection.getresponse()
        return response.status, response.headers, json.loads(response.read())
    finally:
        connection.close()


# ------------------------------------------------------------------------------------------------------------------
# Messages: JSON and SSE
# ------------------------------------------------------------------------------------------------------------------


def test_json_message_fields_usage_and_headers(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    api.enqueue(
        Reply.message(
            text="Hello there",
            input_tokens=12,
            output_tokens=5,
            cache_read_input_tokens=7,
            cache_creation_input_tokens=3,
            headers={"x-extra": "yes"},
        )
    )
    response = client.messages.with_raw_response.create(model=MODEL, max_tokens=100, messages=USER)
    message = response.parse()

    assert (message.id, message.type, message.role, message.model) == ("msg_fake_000001", "message", "assistant", MODEL)
    assert [(block.type, block.text) for block in message.content] == [("text", "Hello there")]
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    usage = message.usage.model_dump()
    assert usage["input_tokens"] == 12
    assert usage["output_tokens"] == 5
    assert usage["cache_read_input_tokens"] == 7
    assert usage["cache_creation_input_tokens"] == 3
    assert dict(usage["cache_creation"]) == {"ephemeral_5m_input_tokens": 3, "ephemeral_1h_input_tokens": 0}
    assert usage["service_tier"] == "standard"

    headers = response.headers
    assert headers["request-id"] == "req_fake_000001"
    assert headers["x-extra"] == "yes"
    assert headers["anthropic-ratelimit-requests-limit"] == "4000"
    assert headers["anthropic-ratelimit-requests-remaining"] == "3999"
    assert headers["anthropic-ratelimit-tokens-limit"] == "400000"
    assert headers["anthropic-ratelimit-tokens-remaining"] == "399000"
    for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
        assert headers[f"anthropic-ratelimit-{kind}-reset"].endswith("Z")
        assert int(headers[f"anthropic-ratelimit-{kind}-remaining"]) < int(headers[f"anthropic-ratelimit-{kind}-limit"])


def test_defaults_model_id_and_word_count(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    api.enqueue(Reply.message(text="one two three four", cache_creation_input_tokens=4, cache_creation_1h=2))
    first = create(client)
    second = create(client)  # the script is empty: api.default answers

    assert first.usage.output_tokens == 4
    assert dict(first.usage.model_dump()["cache_creation"]) == {
        "ephemeral_5m_input_tokens": 4,
        "ephemeral_1h_input_tokens": 2,
    }
    assert (second.id, second.content[0].text, second.usage.input_tokens) == (
        "msg_fake_000002",
        "Hello! How can I help?",
        10,
    )
    assert second.usage.output_tokens == 5
    assert create(client, model="claude-other").model == "claude-other"
    api.enqueue(Reply.message(model="forced", id="msg_given"))
    forced = create(client)
    assert (forced.model, forced.id) == ("forced", "msg_given")


def test_received_requests_are_recorded(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    create(client)
    create(client, extra_query={"beta": "true"}, extra_headers={"X-Custom": "1"})

    first, second = api.requests
    assert (first.method, first.path) == ("POST", "/v1/messages")
    assert second.path == "/v1/messages?beta=true"
    # SDK 2.x sends the key as a bearer token, older versions as x-api-key
    assert "test" in (first.headers.get("x-api-key"), first.headers.get("authorization", "").removeprefix("Bearer "))
    assert second.headers["x-custom"] == "1"
    assert all(name == name.lower() for name in first.headers)
    assert json.loads(first.body) == first.json
    assert first.json == {"model": MODEL, "max_tokens": 100, "messages": USER}


def test_a_responder_chooses_by_request_ahead_of_the_script(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    api.enqueue(Reply.message("from the script"))
    api.responder = lambda request: Reply.message("chosen") if request.headers.get("x-pick") == "yes" else None

    picked = create(client, extra_headers={"x-pick": "yes"})
    scripted = create(client)
    default = create(client)

    assert [message.content[0].text for message in (picked, scripted, default)] == [
        "chosen",
        "from the script",
        "Hello! How can I help?",
    ]
    api.clear()
    assert api.responder is None


def test_stream_event_sequence(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    text = "The quick brown fox jumps over the lazy dog again"
    api.enqueue(Reply.message(text=text, input_tokens=12, output_tokens=9, cache_read_input_tokens=2))
    events = list(create(client, stream=True))

    types = [event.type for event in events]
    assert types[:2] == ["message_start", "content_block_start"]  # the SDK drops the ping
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [event.delta.text for event in events if event.type == "content_block_delta"]
    assert len(deltas) == 4
    assert "".join(deltas) == text

    start = events[0].message
    assert (start.id, start.model, start.content, start.stop_reason) == ("msg_fake_000001", MODEL, [], None)
    assert (start.usage.input_tokens, start.usage.cache_read_input_tokens, start.usage.output_tokens) == (12, 2, 1)
    delta = events[-2]
    assert (delta.delta.stop_reason, delta.usage.output_tokens) == ("end_turn", 9)
    assert delta.usage.model_dump()["input_tokens"] == 12


def test_stream_helper_final_message(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    api.enqueue(Reply.message(text="Hello there", input_tokens=12, output_tokens=5, cache_creation_input_tokens=6))
    with client.messages.stream(model=MODEL, max_tokens=100, messages=USER) as stream:
        streamed_text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert streamed_text == "Hello there"
    assert final.content[0].text == "Hello there"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.cache_creation_input_tokens) == (12, 5, 6)


def test_sse_wire_format_one_chunk_per_event(api: FakeAnthropic) -> None:
    request = json.dumps({"model": MODEL, "max_tokens": 5, "messages": USER, "stream": True}).encode()
    with socket.create_connection((api.host, api.port), timeout=5) as sock:
        head = f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: {len(request)}\r\nConnection: close\r\n\r\n"
        sock.sendall(head.encode() + request)
        raw = b"".join(iter(lambda: sock.recv(65536), b""))

    head_bytes, _, body = raw.partition(b"\r\n\r\n")
    assert head_bytes.startswith(b"HTTP/1.1 200")
    assert b"\r\ncontent-type: text/event-stream; charset=utf-8" in head_bytes
    assert b"\r\ntransfer-encoding: chunked" in head_bytes
    chunks = []
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        chunks.append(body[:size])
        body = body[size + 2 :]
    assert all(chunk.startswith(b"event: ") and chunk.endswith(b"\n\n") for chunk in chunks)
    names = [chunk.split(b"\n")[0].removeprefix(b"event: ").decode() for chunk in chunks]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]


def test_tool_use_and_thinking_blocks(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    content = [
        {"type": "thinking", "thinking": "The user wants the weather in Paris", "signature": "sig=="},
        {"type": "text", "text": "Let me check that for you"},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris", "days": 3}},
    ]
    api.enqueue(Reply.message(content=content, stop_reason="tool_use"), Reply.message(content=content))

    message = create(client)
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    assert message.stop_reason == "tool_use"
    assert message.content[2].input == {"city": "Paris", "days": 3}

    deltas: dict[int, list[dict[str, Any]]] = {}
    for event in create(client, stream=True):
        if event.type == "content_block_delta":
            # drop None: SDK 0.42 predates signature_delta and gives it the fields of another delta type
            delta = {key: value for key, value in event.delta.model_dump().items() if value is not None}
            deltas.setdefault(event.index, []).append(delta)
    assert {d["type"] for d in deltas[0][:-1]} == {"thinking_delta"}
    assert deltas[0][-1] == {"type": "signature_delta", "signature": "sig=="}
    assert "".join(d["thinking"] for d in deltas[0][:-1]) == content[0]["thinking"]
    assert "".join(d["text"] for d in deltas[1]) == content[1]["text"]
    assert len(deltas[2]) > 1
    assert json.loads("".join(d["partial_json"] for d in deltas[2])) == {"city": "Paris", "days": 3}


def test_tool_use_stream_helper_and_default_tool_id(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    api.enqueue(Reply.message(content=[{"type": "tool_use", "name": "lookup", "input": {"q": "otel"}}]))
    with client.messages.stream(model=MODEL, max_tokens=100, messages=USER) as stream:
        final = stream.get_final_message()
    block = final.content[0]
    assert (block.type, block.id, block.name, block.input) == ("tool_use", "toolu_fake_000001", "lookup", {"q": "otel"})


def test_async_client(api: FakeAnthropic) -> None:
    api.enqueue(Reply.message(text="async hello", output_tokens=2), Reply.message(text="async stream"))

    async def scenario() -> tuple[Any, list[str], Any]:
        client = anthropic.AsyncAnthropic(base_url=api.base_url, api_key="test", max_retries=0)
        try:
            message = await client.messages.create(model=MODEL, max_tokens=10, messages=USER)
            stream = await client.messages.create(model=MODEL, max_tokens=10, messages=USER, stream=True)
            types = [event.type async for event in stream]
            async with client.messages.stream(model=MODEL, max_tokens=10, messages=USER) as helper:
                final = await helper.get_final_message()
        finally:
            await client.close()
        return message, types, final

    message, types, final = asyncio.run(scenario())
    assert (message.content[0].text, message.usage.output_tokens) == ("async hello", 2)
    assert types[0] == "message_start"
    assert types[-1] == "message_stop"
    assert final.content[0].text == "Hello! How can I help?"


def test_omit_usage(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    api.enqueue(Reply.message(omit_usage=True), Reply.message(omit_usage=True))
    message = create(client)
    assert getattr(message, "usage", None) is None  # the SDK builds the model without validating it

    events = list(create(client, stream=True))
    assert getattr(events[0].message, "usage", None) is None
    assert getattr(events[-2], "usage", None) is None


# ------------------------------------------------------------------------------------------------------------------
# Errors, retries and faults
# ------------------------------------------------------------------------------------------------------------------


def test_rate_limited_then_success_honours_retry_after(api: FakeAnthropic, monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    real_sleep = time.sleep
    monkeypatch.setattr(time, "sleep", lambda seconds: sleeps.append(seconds) or real_sleep(seconds))
    api.enqueue(Reply.rate_limited(retry_after=0.01), Reply.message(text="ok"))
    with anthropic.Anthropic(base_url=api.base_url, api_key="test", max_retries=2) as client:
        response = client.messages.with_raw_response.create(model=MODEL, max_tokens=10, messages=USER)

    assert response.parse().content[0].text == "ok"
    assert len(api.requests) == 2
    assert [r.headers.get("x-stainless-retry-count") for r in api.requests] == ["0", "1"]
    assert response.headers["request-id"] == "req_fake_000002"  # the 429 used req_fake_000001
    assert sleeps == [0.01], "the SDK waits what retry-after says instead of its ~0.5 s backoff"


def test_error_body_and_headers_on_the_wire(api: FakeAnthropic) -> None:
    api.enqueue(Reply.rate_limited(), Reply.error(400, "invalid_request_error", "bad", headers={"x-should-retry": "0"}))
    status, headers, body = raw_post(api, "/v1/messages", {"model": MODEL})
    assert (status, headers["retry-after"], headers["content-type"], headers["request-id"]) == (
        429,
        "0",
        "application/json",
        "req_fake_000001",
    )
    assert body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Number of requests has exceeded your per-minute rate limit"},
        "request_id": "req_fake_000001",
    }
    status, headers, body = raw_post(api, "/v1/messages", {"model": MODEL})
    assert (status, headers["x-should-retry"], headers["retry-after"]) == (400, "0", None)
    assert body["error"] == {"type": "invalid_request_error", "message": "bad"}


def test_overloaded_until_retries_are_exhausted(api: FakeAnthropic) -> None:
    api.enqueue(Reply.overloaded(retry_after=0.01), Reply.overloaded(retry_after=0.01))
    with (
        anthropic.Anthropic(base_url=api.base_url, api_key="test", max_retries=1) as client,
        pytest.raises(anthropic.APIStatusError) as caught,
    ):
        create(client)

    # 0.42: InternalServerError; 0.125, 1.x: OverloadedError(APIStatusError); 2.x: OverloadedError(InternalServerError)
    assert type(caught.value).__name__ in {"InternalServerError", "OverloadedError"}
    assert caught.value.status_code == 529
    assert caught.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert caught.value.response.headers["request-id"] == "req_fake_000002"
    assert len(api.requests) == 2


def test_reset_is_a_connection_error(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    api.enqueue(Reply.reset())
    with pytest.raises(anthropic.APIConnectionError) as caught:
        create(client)
    assert not isinstance(caught.value, anthropic.APITimeoutError)
    after = client.messages.with_raw_response.create(model=MODEL, max_tokens=1, messages=USER)
    assert after.headers["request-id"] == "req_fake_000001"  # a reset answers nothing, so it uses no request id


def test_delay_beyond_client_timeout(api: FakeAnthropic, capfd: pytest.CaptureFixture[str]) -> None:
    api.enqueue(Reply.delay(5, Reply.message()))  # stop() cuts the sleep short
    with anthropic.Anthropic(base_url=api.base_url, api_key="test", max_retries=0, timeout=0.2) as client:
        started = time.monotonic()
        with pytest.raises(anthropic.APITimeoutError):
            create(client)
        assert time.monotonic() - started < 1
        assert create(client).id == "msg_fake_000001"  # the server still answers others meanwhile

    started = time.monotonic()
    api.stop()
    assert time.monotonic() - started < 1
    assert api.errors == []
    assert "Traceback" not in capfd.readouterr().err


def test_delay_then_answer(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    api.enqueue(Reply.delay(0.05, Reply.message(text="late")))
    started = time.monotonic()
    assert create(client).content[0].text == "late"
    assert time.monotonic() - started >= 0.04


def test_malformed_json_raises_a_json_error(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    # Every SDK version of the matrix lets json.JSONDecodeError (a ValueError) escape, unwrapped.
    api.enqueue(Reply.malformed_json())
    with pytest.raises(json.JSONDecodeError):
        create(client)


def test_truncated_stream_clean_end(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    api.enqueue(Reply.truncated_stream(4, text="one two three four five six seven"))
    types = [event.type for event in create(client, stream=True)]
    # message_start, ping (dropped by the SDK), content_block_start, one delta; then the body simply ends
    assert types == ["message_start", "content_block_start", "content_block_delta"]

    api.enqueue(Reply.truncated_stream(4, text="one two three four five six seven", output_tokens=7))
    with client.messages.stream(model=MODEL, max_tokens=100, messages=USER) as stream:
        final = stream.get_final_message()
    assert (final.content[0].text, final.stop_reason, final.usage.output_tokens) == ("one two three ", None, 1)
    assert create(client).id == "msg_fake_000003"  # the connection stayed usable


def test_truncated_stream_abrupt_close(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    # The SDK does not wrap errors raised while reading a stream: the HTTP library's own error escapes.
    api.enqueue(Reply.truncated_stream(3, abrupt=True))
    seen: list[str] = []
    with pytest.raises(HTTPX.RemoteProtocolError, match="incomplete chunked read"):
        seen.extend(event.type for event in create(client, stream=True))
    assert seen == ["message_start", "content_block_start"]
    assert create(client).id == "msg_fake_000002"


def test_stream_error_event(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    api.enqueue(Reply.stream_error(3, text="partial answer"))
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        seen.extend(event.type for event in create(client, stream=True))
    assert seen == ["message_start", "content_block_start"]
    assert caught.value.status_code == 200
    assert caught.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def test_client_disconnect_mid_stream_is_quiet(api: FakeAnthropic, capfd: pytest.CaptureFixture[str]) -> None:
    api.enqueue(Reply.message(text=" ".join(["word"] * 3000)))
    with anthropic.Anthropic(base_url=api.base_url, api_key="test", max_retries=0) as client:
        stream = create(client, stream=True)
        next(iter(stream))
        stream.close()
    api.stop()
    assert api.errors == []
    assert "Traceback" not in capfd.readouterr().err


def test_default_and_fifo_script(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    api.enqueue(Reply.message(text="first"), Reply.message(text="second"))
    api.default = Reply.error(500, "api_error")
    assert [create(client).content[0].text for _ in range(2)] == ["first", "second"]
    with pytest.raises(anthropic.InternalServerError):
        create(client)
    with pytest.raises(TypeError):
        api.enqueue("not a reply")  # type: ignore[arg-type]


def test_clear_resets_everything(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    api.default = Reply.error(500, "api_error")
    api.enqueue(Reply.message(), Reply.message())
    create(client)
    api.clear()
    assert api.requests == []
    message = create(client)
    assert message.id == "msg_fake_000001"
    assert isinstance(api.default, type(Reply.message()))
    assert len(api.requests) == 1


def test_concurrent_requests(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(create(client).id)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert sorted(results) == [f"msg_fake_{n:06d}" for n in range(1, 9)]
    assert len(api.requests) == 8


def test_keep_alive_and_prompt_stop(api: FakeAnthropic) -> None:
    connection = http.client.HTTPConnection(api.host, api.port, timeout=5)
    for _ in range(3):  # three requests on one connection
        connection.request("POST", "/v1/messages", json.dumps({"model": MODEL}), {"content-type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200
        assert int(response.getheader("content-length")) == len(response.read())
    started = time.monotonic()
    api.stop()  # the connection is still open and idle
    assert time.monotonic() - started < 1
    connection.close()


def test_raw_reply_framing(api: FakeAnthropic) -> None:
    headers = [("X-A", "1"), ("X-A", "2"), ("Transfer-Encoding", "chunked"), ("Connection", "close")]
    api.enqueue(Reply.raw(201, headers, b"hello", chunks=[b"he", b"llo"]), Reply.raw(202, {"X-B": "b"}, b"plain"))
    connection = http.client.HTTPConnection(api.host, api.port, timeout=5)
    connection.request("POST", "/v1/messages", b"{}")
    first = connection.getresponse()
    assert (first.status, first.read(), first.getheader("x-a")) == (201, b"hello", "1, 2")
    assert first.getheader("transfer-encoding") == "chunked"
    assert first.getheader("connection") is None
    connection.request("POST", "/v1/messages", b"{}")  # still open: the recorded "Connection: close" was dropped
    second = connection.getresponse()
    assert (second.status, second.read(), second.getheader("content-length")) == (202, b"plain", "5")
    assert second.getheader("request-id") == "req_fake_000002"
    connection.close()


def test_unknown_path_is_404(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    api.enqueue(Reply.message(text="kept"))
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.models.retrieve("claude-nope")
    assert caught.value.body["error"]["type"] == "not_found_error"
    assert create(client).content[0].text == "kept"  # a 404 does not consume the script


# ------------------------------------------------------------------------------------------------------------------
# Other endpoints
# ------------------------------------------------------------------------------------------------------------------


def test_count_tokens(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    api.enqueue(Reply.message(text="still queued"))
    counted = client.messages.count_tokens(
        model=MODEL,
        system="You are terse.",
        messages=[{"role": "user", "content": [{"type": "text", "text": "x" * 26}]}],
    )
    assert counted.input_tokens == (len("You are terse.") + 26) // 4
    assert api.requests[0].path == "/v1/messages/count_tokens"
    assert create(client).content[0].text == "still queued"  # count_tokens did not consume it

    api.enqueue(Reply.error(500, "api_error"))  # ... but a scripted fault applies to it
    with pytest.raises(anthropic.InternalServerError):
        client.messages.count_tokens(model=MODEL, messages=USER)
    assert client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hi"}]).input_tokens == 1


def test_batches_create_retrieve_results(api: FakeAnthropic, client: anthropic.Anthropic) -> None:
    requests = [
        {"custom_id": f"req-{n}", "params": {"model": f"model-{n}", "max_tokens": 10, "messages": USER}}
        for n in range(2)
    ]
    batch = client.messages.batches.create(requests=requests)
    assert (batch.id, batch.type, batch.processing_status) == ("msgbatch_fake_000001", "message_batch", "ended")
    assert (batch.request_counts.succeeded, batch.request_counts.errored) == (2, 0)
    assert batch.results_url == f"{api.base_url}/v1/messages/batches/msgbatch_fake_000001/results"
    assert batch.expires_at > batch.created_at

    assert client.messages.batches.retrieve(batch.id).id == batch.id
    assert client.beta.messages.batches.retrieve(batch.id).id == batch.id
    assert api.requests[-1].path.startswith("/v1/messages/batches/msgbatch_fake_000001")  # 2.x sends no ?beta=true
    results = list(client.messages.batches.results(batch.id))
    assert [r.custom_id for r in results] == ["req-0", "req-1"]
    assert [r.result.type for r in results] == ["succeeded", "succeeded"]
    messages = [r.result.message for r in results]
    assert [m.model for m in messages] == ["model-0", "model-1"]
    assert [m.usage.service_tier for m in messages] == ["batch", "batch"]
    assert api.requests[-1].path == "/v1/messages/batches/msgbatch_fake_000001/results"

    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve("msgbatch_unknown")


def test_vertex_paths(api: FakeAnthropic) -> None:
    vertex = anthropic.AnthropicVertex(
        region="us-east5", project_id="proj", access_token="token", base_url=f"{api.base_url}/v1", max_retries=0
    )
    model = "claude-3-5-sonnet-v2@20241022"
    message = vertex.messages.create(model=model, max_tokens=10, messages=USER)
    types = [event.type for event in vertex.messages.create(model=model, max_tokens=10, messages=USER, stream=True)]
    counted = vertex.messages.count_tokens(model=model, messages=[{"role": "user", "content": "x" * 40}])
    vertex.close()

    assert message.model == model
    assert (types[0], types[-1]) == ("message_start", "message_stop")
    assert counted.input_tokens == 10
    paths = [request.path for request in api.requests]
    prefix = "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/"
    assert paths == [
        f"{prefix}{model}:rawPredict",
        f"{prefix}{model}:streamRawPredict",
        f"{prefix}count-tokens:rawPredict",
    ]
    assert "model" not in api.requests[0].json
    assert "anthropic_version" in api.requests[0].json


def test_bedrock_paths(api: FakeAnthropic) -> None:
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": USER, "stream": True}
    status, headers, message = raw_post(api, "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke", body)
    assert (status, headers["content-type"]) == (200, "application/json")  # Bedrock's invoke is never SSE
    assert message["model"] == "anthropic.claude-3-5-haiku-20241022-v1:0"

    # streaming, in AWS event-stream framing: tests/test_fake_api_bedrock.py drives it with AnthropicBedrock


# ------------------------------------------------------------------------------------------------------------------
# Recordings
# ------------------------------------------------------------------------------------------------------------------


def _recordings() -> list[Any]:
    folder = cassette_dir()
    if folder is None:
        reason = f"no recordings folder (../shared/fixtures/recorded-anthropic next to the repo, or ${ENV_VAR})"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-recordings")]
    try:
        import yaml  # noqa: F401
    except ImportError:
        return [pytest.param(None, marks=pytest.mark.skip(reason="PyYAML is not installed"), id="no-yaml")]
    return [pytest.param(rec, id=rec.name) for path in sorted(folder.glob("*.yaml")) for rec in load_cassette(path)]


@pytest.mark.parametrize("recording", _recordings())
def test_replay_recording(api: FakeAnthropic, client: anthropic.Anthropic, recording: Recording) -> None:
    api.enqueue(recording.reply())
    if recording.is_stream:
        recorded_id = json.loads(recording.body.split(b"data: ", 1)[1].split(b"\n", 1)[0])["message"]["id"]
        events = list(create(client, stream=True))
        assert (events[0].type, events[0].message.id) == ("message_start", recorded_id)
        assert events[-1].type == "message_stop"
    else:
        recorded = json.loads(recording.decoded_body())
        message = create(client)
        assert message.id == recorded["id"]
        assert message.usage.input_tokens == recorded["usage"]["input_tokens"]


@pytest.mark.skipif(cassette_dir() is None, reason=f"no recordings folder (set ${ENV_VAR})")
def test_load_cassette_fields() -> None:
    pytest.importorskip("yaml")
    folder = cassette_dir()
    assert folder is not None
    (plain,) = load_cassette(folder / "message_create.yaml")
    assert plain.name == "message_create#0"
    assert plain.request_uri == "https://api.anthropic.com/v1/messages"
    assert plain.request_json["model"] == "claude-3-opus-20240229"  # type: ignore[index]
    assert (plain.status, plain.is_gzip, plain.is_stream) == (200, True, False)
    assert plain.body[:2] == b"\x1f\x8b"
    assert json.loads(plain.decoded_body())["type"] == "message"
    assert ("Content-Encoding", "gzip") in plain.headers

    first, second = load_cassette(folder / "prompt_caching_stream.yaml")
    assert (first.name, second.name) == ("prompt_caching_stream#0", "prompt_caching_stream#1")
    reply = first.reply()
    assert reply.chunks is not None
    assert len(reply.chunks) > 5
    assert b"".join(reply.chunks) == first.body
    assert all(name.lower() not in {"transfer-encoding", "connection"} for name, _ in reply.headers)


def test_cassette_dir_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert cassette_dir() == tmp_path
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing"))
    assert cassette_dir() is None


# ------------------------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_cli_serves_until_interrupted() -> None:
    src = str(Path(anthropic_otel.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "anthropic_otel.testing.fake_api", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        request = urllib.request.Request(f"{base_url}/v1/messages", data=b'{"model": "m"}', method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read())["model"] == "m"
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{base_url}/nope", timeout=5)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert stderr == ""
