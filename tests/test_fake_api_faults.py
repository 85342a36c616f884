"""Newer usage fields, simulated latency, and the faults added to the fake, through the real SDK: what each SDK
version of the matrix does with them is what the instrumentation has to survive."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import anthropic._base_client as sdk_base_client
import pytest

from anthropic_otel.testing.fake_api import OMIT, FakeAnthropic, Latency, Reply, Simulation
from anthropic_otel.testing.fake_api.render import sse_events
from anthropic_otel.testing.fake_api.simulation import Pacer
from conftest import Driver

HTTPX: Any = getattr(sdk_base_client, "httpx2", None) or sdk_base_client.httpx


def set_fields(model: Any) -> dict[str, Any]:
    """A usage object as a dict without the fields left None: typed on newer SDKs, extras on older ones."""
    return {key: value for key, value in model.model_dump().items() if value is not None}


NEWER = {
    "speed": "fast",
    "inference_geo": "us",
    "web_search_requests": 2,
    "web_fetch_requests": 1,
    "thinking_tokens": 3,
    "service_tier": "priority",
}
BASE = {
    "input_tokens": 10,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
}


def test_newer_usage_fields_in_json(driver: Driver, fake: FakeAnthropic) -> None:
    fake.enqueue(Reply.message(**NEWER))
    assert set_fields(driver.create().usage) == {
        **BASE,
        "output_tokens": 5,
        "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 1},
        "output_tokens_details": {"thinking_tokens": 3},
        "service_tier": "priority",
        "inference_geo": "us",
        "speed": "fast",
    }


def test_newer_usage_fields_in_streams(driver: Driver, fake: FakeAnthropic) -> None:
    fake.enqueue(Reply.message(**NEWER))
    events = driver.stream_events()
    server_tools = {"web_search_requests": 2, "web_fetch_requests": 1}
    assert set_fields(events[0].message.usage) == {
        **BASE,
        "output_tokens": 1,
        "server_tool_use": server_tools,
        "service_tier": "priority",
        "inference_geo": "us",
        "speed": "fast",
    }
    delta = next(event for event in events if event.type == "message_delta")
    assert set_fields(delta.usage) == {
        "input_tokens": 10,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 5,
        "server_tool_use": server_tools,
        "output_tokens_details": {"thinking_tokens": 3},
    }


def test_newer_usage_fields_are_absent_unless_asked(driver: Driver, fake: FakeAnthropic) -> None:
    assert set_fields(driver.create().usage) == {**BASE, "output_tokens": 5, "service_tier": "standard"}


@pytest.mark.parametrize(
    ("patch", "input_tokens", "output_tokens"),
    [
        ({"input_tokens": -5}, -5, 5),
        ({"output_tokens": "12"}, 10, "12"),  # no SDK version validates the type
        ({"output_tokens": OMIT}, 10, None),
        ({"input_tokens": None}, None, 5),
    ],
)
def test_wrong_usage(
    driver: Driver, fake: FakeAnthropic, patch: dict[str, Any], input_tokens: Any, output_tokens: Any
) -> None:
    fake.enqueue(Reply.message(usage_patch=patch))
    usage = driver.create().usage
    assert (usage.input_tokens, usage.output_tokens) == (input_tokens, output_tokens)


def test_reset_mid_stream(driver: Driver, fake: FakeAnthropic) -> None:
    fake.enqueue(Reply.reset_mid_stream(3, text="one two three four five six seven"))
    seen: list[str] = []

    def read(client: Any) -> Any:
        async def async_read() -> None:
            async for event in await client.messages.create(**body):
                seen.append(event.type)

        if driver.mode == "async":
            return async_read()
        for event in client.messages.create(**body):
            seen.append(event.type)
        return None

    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with pytest.raises(HTTPX.ReadError):
        driver.run(read)
    assert seen == ["message_start", "content_block_start"]
    assert driver.create().id == "msg_fake_000002"


def test_hang_until_the_client_times_out(driver: Driver, fake: FakeAnthropic) -> None:
    fake.enqueue(Reply.hang())
    started = time.monotonic()
    with pytest.raises(anthropic.APITimeoutError):
        driver.create(client_options={"timeout": 0.3})
    assert 0.3 <= time.monotonic() - started < 2
    assert driver.create().id == "msg_fake_000001"  # the hung request rendered no message


def test_huge_response(driver: Driver, fake: FakeAnthropic) -> None:
    fake.enqueue(Reply.huge(8_000_000, output_tokens=2_000_000))
    message = driver.create()
    assert (len(message.content[0].text), message.usage.output_tokens) == (8_000_000, 2_000_000)
    fake.enqueue(Reply.huge(60_000))
    events = driver.stream_events()
    assert sum(len(event.delta.text) for event in events if event.type == "content_block_delta") == 60_000


@pytest.mark.parametrize("stream", [False, True])
def test_non_utf8_bytes(driver: Driver, fake: FakeAnthropic, stream: bool) -> None:
    # Every SDK version of the matrix decodes strictly: the UnicodeDecodeError escapes, unwrapped.
    fake.enqueue(Reply.non_utf8())
    with pytest.raises(UnicodeDecodeError, match="can't decode byte 0xff"):
        driver.stream_events() if stream else driver.create()


@pytest.mark.parametrize("retry_after", ["0", "soon"])
def test_retry_after_zero_and_garbage_fall_back_to_the_sdk_backoff(
    driver: Driver, fake: FakeAnthropic, retry_after: str
) -> None:
    fake.enqueue(Reply.rate_limited(retry_after=retry_after))
    started = time.monotonic()
    assert driver.create(client_options={"max_retries": 1}).id == "msg_fake_000001"
    # the SDK's first backoff: 0.5 s less up to 25% jitter, where a usable retry-after would have been honoured
    assert time.monotonic() - started >= 0.375
    assert len(fake.requests) == 2


# ------------------------------------------------------------------------------------------------------------------
# Latency
# ------------------------------------------------------------------------------------------------------------------


def test_latency_is_zero_by_default() -> None:
    pacer = Pacer(Latency())
    events = sse_events({"id": "m", "content": [{"type": "text", "text": "a b c d e f g"}], "stop_reason": None})
    assert (pacer.before_json(1000), set(pacer.before_events(events))) == (0.0, {0.0})


def test_latency_schedule_is_seeded() -> None:
    latency = Latency(first_token=0.5, tokens_per_second=100, jitter=0.2, seed=7)
    events = sse_events({"id": "m", "content": [{"type": "text", "text": "abcd " * 12}], "stop_reason": None})
    first, again, other = Pacer(latency), Pacer(latency), Pacer(Latency(0.5, 100, 0.2, seed=8))
    waits = first.before_events(events)
    assert waits == again.before_events(events) != other.before_events(events)
    assert [name for (name, _), wait in zip(events, waits, strict=True) if wait > 0] == ["content_block_delta"] * 4
    deltas = [wait for wait in waits if wait > 0]
    writing = 15 / 4 / 100  # each delta is "abcd abcd abcd ": 15 characters, 3.75 tokens at 100 tokens/s
    assert 0.5 * 0.8 + writing * 0.8 <= deltas[0] <= 0.5 * 1.2 + writing * 1.2  # the first token comes first
    assert all(writing * 0.8 <= wait <= writing * 1.2 for wait in deltas[1:])


def test_latency_through_the_sdk(driver: Driver, fake: FakeAnthropic) -> None:
    fake.simulation = Simulation(latency=Latency(first_token=0.2, tokens_per_second=50))
    started = time.monotonic()
    driver.create()  # 5 output tokens: 0.2 s + 5 / 50 s
    assert 0.3 <= time.monotonic() - started < 1.3

    fake.enqueue(Reply.message("one two three four five six"))  # two deltas of 14 and 13 characters
    started = time.monotonic()
    events = driver.stream_events()
    assert len(events) == 7
    assert 0.2 + (14 + 13) / 4 / 50 <= time.monotonic() - started < 1.5
