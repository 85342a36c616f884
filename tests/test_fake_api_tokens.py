"""The fake's simulated usage, through the real SDK (sync and async): input tokens from the request at ~4
characters per token, output cut at max_tokens, and prompt caching from cache_control breakpoints on a clock the
test moves by hand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from anthropic_otel.testing.fake_api import MIN_CACHEABLE_TOKENS, FakeAnthropic, FakeClock, Reply, Simulation
from conftest import MODEL, USER, Driver

SONNET = "claude-sonnet-4-5-20250929"
TOOL = {"name": "get_time", "description": "Current time", "input_schema": {"type": "object"}}
# As counted: {"description":"Current time","input_schema":{"type":"object"},"name":"get_time"}, 81 characters.


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_767_225_600.0)  # 2026-01-01T00:00:00Z


@pytest.fixture
def api(clock: FakeClock) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(simulation=Simulation(tokens=True), clock=clock) as server:
        yield server
        assert not server.errors, server.format_errors()


@pytest.fixture(params=["sync", "async"])
def cached(request: pytest.FixtureRequest, api: FakeAnthropic) -> Driver:
    return Driver(request.param, api.base_url)


def usage_of(message: Any) -> dict[str, Any]:
    """The counts of a message's usage; ``cache_creation`` is a typed object on newer SDKs, a dict on 0.x."""
    usage = message.usage
    creation = usage.cache_creation
    split = creation if isinstance(creation, dict) else creation.model_dump()
    return {
        "input": usage.input_tokens,
        "read": usage.cache_read_input_tokens,
        "written": usage.cache_creation_input_tokens,
        "5m": split["ephemeral_5m_input_tokens"],
        "1h": split["ephemeral_1h_input_tokens"],
        "output": usage.output_tokens,
    }


def test_input_tokens_count_system_messages_and_tools(driver: Driver, fake: FakeAnthropic) -> None:
    fake.simulation = Simulation(tokens=True)
    system = "s" * 40  # 10 tokens
    messages = [
        {"role": "user", "content": "u" * 80},  # 20 tokens
        {"role": "assistant", "content": [{"type": "text", "text": "a" * 20}]},  # 5 tokens
        {"role": "user", "content": [{"type": "text", "text": "q" * 18}]},
    ]
    message = driver.create(system=system, messages=messages, tools=[TOOL])
    assert message.usage.input_tokens == (81 + 40 + 80 + 20 + 18) // 4 == 59
    assert message.usage.output_tokens == len("Hello! How can I help?") // 4 == 5
    counted = driver.run(lambda client: client.messages.count_tokens(model=MODEL, system=system, messages=messages))
    assert counted.input_tokens == (40 + 80 + 20 + 18) // 4 == 39


def test_counts_given_to_the_reply_win(driver: Driver, fake: FakeAnthropic) -> None:
    fake.simulation = Simulation(tokens=True)
    fake.enqueue(Reply.message("one two three", input_tokens=7, output_tokens=2, cache_read_input_tokens=3))
    assert usage_of(driver.create()) == {"input": 7, "read": 3, "written": 0, "5m": 0, "1h": 0, "output": 2}


def test_reply_cut_at_max_tokens(driver: Driver, fake: FakeAnthropic) -> None:
    fake.simulation = Simulation(tokens=True)
    fake.enqueue(Reply.message("abcd" * 10))  # 40 characters: 10 tokens
    message = driver.create(max_tokens=3)
    assert [block.text for block in message.content] == ["abcdabcdabcd"]
    assert (message.stop_reason, message.usage.output_tokens) == ("max_tokens", 3)

    fake.enqueue(Reply.message("one two three four five six seven eight"))  # 39 characters: 9 tokens
    events = driver.stream_events(max_tokens=4)
    text = "".join(event.delta.text for event in events if event.type == "content_block_delta")
    delta = next(event for event in events if event.type == "message_delta")
    assert (text, delta.delta.stop_reason, delta.usage.output_tokens) == ("one two three fo", "max_tokens", 4)

    fake.enqueue(Reply.message("abcd" * 10))
    message = driver.create(max_tokens=10)  # exactly enough
    assert (message.stop_reason, message.usage.output_tokens, len(message.content[0].text)) == ("end_turn", 10, 40)


def test_max_tokens_cuts_across_blocks(driver: Driver, fake: FakeAnthropic) -> None:
    fake.simulation = Simulation(tokens=True)
    content = [
        {"type": "text", "text": "t" * 16},  # 4 tokens
        {"type": "text", "text": "x" * 40},
        {"type": "tool_use", "name": "get_time", "input": {}},
    ]
    fake.enqueue(Reply.message(content=content))
    message = driver.create(max_tokens=6)
    assert [block.type for block in message.content] == ["text", "text"]
    assert (message.content[1].text, message.usage.output_tokens, message.stop_reason) == ("x" * 8, 6, "max_tokens")


def system_with(*blocks: tuple[int, str | None]) -> list[dict[str, Any]]:
    """System blocks of the given sizes in tokens, each a breakpoint with its TTL ("5m", "1h") unless None."""
    system = []
    for index, (tokens, ttl) in enumerate(blocks):
        block: dict[str, Any] = {"type": "text", "text": chr(ord("a") + index) * tokens * 4}
        if ttl is not None:
            block["cache_control"] = {"type": "ephemeral", **({"ttl": ttl} if ttl == "1h" else {})}
        system.append(block)
    return system


QUESTION = [{"role": "user", "content": "What now?"}]  # 9 characters: with the prefix's, 2 more tokens


def test_cache_written_then_read_then_expired(cached: Driver, clock: FakeClock) -> None:
    system = system_with((1100, "5m"))
    ask = lambda: usage_of(cached.create(model=SONNET, system=system, messages=QUESTION))  # noqa: E731
    assert ask() == {"input": 2, "read": 0, "written": 1100, "5m": 1100, "1h": 0, "output": 5}
    clock.advance(240)
    assert ask() == {"input": 2, "read": 1100, "written": 0, "5m": 0, "1h": 0, "output": 5}
    clock.advance(240)  # 480 s after the write, but 240 s after the read that renewed it
    assert ask()["read"] == 1100
    clock.advance(301)
    assert ask() == {"input": 2, "read": 0, "written": 1100, "5m": 1100, "1h": 0, "output": 5}


def test_cache_one_hour_and_five_minute_breakpoints(cached: Driver, clock: FakeClock) -> None:
    system = system_with((1100, "1h"), (500, "5m"))
    ask = lambda: usage_of(cached.create(model=SONNET, system=system, messages=QUESTION))  # noqa: E731
    assert ask() == {"input": 2, "read": 0, "written": 1600, "5m": 500, "1h": 1100, "output": 5}
    clock.advance(400)  # the 5-minute entry is gone, the hour-long one lives
    assert ask() == {"input": 2, "read": 1100, "written": 500, "5m": 500, "1h": 0, "output": 5}
    clock.advance(3601)
    assert ask() == {"input": 2, "read": 0, "written": 1600, "5m": 500, "1h": 1100, "output": 5}


def test_cache_prefix_changes_miss(cached: Driver) -> None:
    first = usage_of(cached.create(model=SONNET, system=system_with((1100, "5m")), messages=QUESTION))
    other_model = usage_of(cached.create(model="claude-opus-4-1-20250805", system=system_with((1100, "5m"))))
    changed = system_with((1100, "5m"))
    changed[0]["text"] = "z" + changed[0]["text"][1:]
    edited = usage_of(cached.create(model=SONNET, system=changed, messages=QUESTION))
    assert first["written"] == other_model["written"] == edited["written"] == 1100
    assert first["read"] == other_model["read"] == edited["read"] == 0


def test_cache_breakpoints_in_tools_and_messages(cached: Driver) -> None:
    tools = [{**TOOL, "description": "d" * 4000, "cache_control": {"type": "ephemeral"}}]  # 4069 characters
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "m" * 800, "cache_control": {"type": "ephemeral"}}]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "And?"},
    ]
    first = usage_of(cached.create(model=SONNET, tools=tools, messages=messages))
    # tools: 4069 // 4 = 1017 tokens, under Sonnet's 1024: only the breakpoint after the first message is cached
    assert first == {"input": 1, "read": 0, "written": (4069 + 800) // 4, "5m": 1217, "1h": 0, "output": 5}
    again = usage_of(cached.create(model=SONNET, tools=tools, messages=messages))
    assert again == {"input": 1, "read": 1217, "written": 0, "5m": 0, "1h": 0, "output": 5}


@pytest.mark.parametrize(
    ("model", "minimum"),
    [
        ("claude-haiku-4-5-20251001", 4096),
        ("claude-opus-4-5-20251101", 4096),
        ("claude-3-5-haiku-20241022", 2048),
        ("claude-3-haiku-20240307", 2048),
        ("claude-sonnet-4-5-20250929", 1024),
        ("claude-opus-4-1-20250805", 1024),
    ],
)
def test_cache_minimum_length_per_model(api: FakeAnthropic, model: str, minimum: int) -> None:
    client = anthropic.Anthropic(base_url=api.base_url, api_key="k", max_retries=0)
    short = client.messages.create(model=model, max_tokens=9, system=system_with((minimum - 1, "5m")), messages=USER)
    enough = client.messages.create(model=model, max_tokens=9, system=system_with((minimum, "5m")), messages=USER)
    assert (short.usage.cache_creation_input_tokens, short.usage.input_tokens) == (0, minimum - 1 + 8)
    assert (enough.usage.cache_creation_input_tokens, enough.usage.input_tokens) == (minimum, 8)
    assert next(value for part, value in MIN_CACHEABLE_TOKENS if part in model) == minimum


def test_stream_usage_shows_the_cache(cached: Driver) -> None:
    system = system_with((1100, "5m"))
    cached.create(model=SONNET, system=system, messages=QUESTION)
    events = cached.stream_events(model=SONNET, system=system, messages=QUESTION)
    start = events[0].message.usage
    assert (start.input_tokens, start.cache_read_input_tokens, start.cache_creation_input_tokens) == (2, 1100, 0)
    assert next(event for event in events if event.type == "message_delta").usage.output_tokens == 5


def test_simulation_off_keeps_the_scripted_numbers(driver: Driver, fake: FakeAnthropic) -> None:
    message = driver.create(system=system_with((1100, "5m")), max_tokens=1)
    assert usage_of(message) == {"input": 10, "read": 0, "written": 0, "5m": 0, "1h": 0, "output": 5}
    assert message.stop_reason == "end_turn"
