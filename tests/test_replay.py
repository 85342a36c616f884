# ruff: noqa: E501
"""Real API traffic, replayed byte for byte through the fake server: the span must say what the API said.

The recordings live outside the repository (`../shared/fixtures/recorded-anthropic/`). Without them these tests
skip, except under CI (`CI=true`), where a missing folder is a failure.
"""

from __future__ import annotations

import os

import pytest

from anthropic_otel.testing import FakeAnthropic, Recording, cassette_dir, load_cassette
from conftest import Driver, Spans

# name: (id, model, stop_reason, input, cache_read, cache_write, output, request id), read off the recordings.
EXPECTED = {
    "async_message_stream_manager#0": ("msg_01E414PCSTg6skd6JWPTX5Uc", "claude-3-5-haiku-20241022", "end_turn", 17, 0, 0, 79, "req_011CRirVZWHW5wScMp6dg5Wa"),
    "message_create#0": ("msg_01TPXhkPo8jy6yQMrMhjpiAE", "claude-3-opus-20240229", "end_turn", 17, None, None, 220, "req_01A7u6aDNi2C6mvDawgML8jB"),
    "message_stream_manager#0": ("msg_01MCkQZZtEKF3nVbFaExwATe", "claude-3-5-haiku-20241022", "end_turn", 17, 0, 0, 108, "req_011CRir4jvenjRy5HDFm6Z4m"),
    "message_streaming#0": ("msg_01MXWxhWoPSgrYhjTuMDM6F1", "claude-3-haiku-20240307", "end_turn", 17, None, None, 171, "req_01JUK6ATKHDAaXF2Bs7Xprjv"),
    "multi_modal#0": ("msg_01B37ySLPzYj8KY6uZmiPoxd", "claude-3-opus-20240229", "end_turn", 1381, None, None, 68, "req_019Tyb3EFZtrPg8Ht9LaeSHy"),
    "prompt_caching#0": ("msg_01EF3r8zYyZntM4Sg9a5kc6k", "claude-3-5-sonnet-20240620", "end_turn", 4, 0, 1163, 187, "req_01MyCwuG5h48foDrdeatkutj"),
    "prompt_caching#1": ("msg_01YGB3PuEANUSkLuzemhtNVF", "claude-3-5-sonnet-20240620", "end_turn", 4, 1163, 0, 202, "req_01W5SjcNAfHJQGvWSAD6wsyq"),
    "prompt_caching_async#0": ("msg_01AGcJaUoaQe4VfWUjnSBrXg", "claude-3-5-sonnet-20240620", "end_turn", 4, 0, 1165, 207, "req_01AZwYhzCNZYSmjvjRRdR3QN"),
    "prompt_caching_async#1": ("msg_01Q8hYZvCMAQKC4n8X3zFnrX", "claude-3-5-sonnet-20240620", "end_turn", 4, 1165, 0, 224, "req_01JG2nybVnwvR1UPyqmMpd8x"),
    "prompt_caching_async_stream#0": ("msg_01KQCu5jXyou55u6YFNk6uqu", "claude-3-5-sonnet-20240620", "end_turn", 4, 0, 1167, 289, "req_01NvQN8EU2zb9EcsSvxtFYTt"),
    "prompt_caching_async_stream#1": ("msg_01GZo7EAMfEuzRqTKrFANNpA", "claude-3-5-sonnet-20240620", "end_turn", 4, 1167, 0, 256, "req_01RAACcnSfUq4RTDRa3yWxdL"),
    "prompt_caching_stream#0": ("msg_017FfRkh9PCC8YbjnhDMrPuK", "claude-3-5-sonnet-20240620", "end_turn", 4, 0, 1165, 201, "req_01JSeMFFxkhLG8Rhohx2omtN"),
    "prompt_caching_stream#1": ("msg_01XQRA3bs4SB4yTBMwD3dbUi", "claude-3-5-sonnet-20240620", "end_turn", 4, 1165, 0, 221, "req_011ZwbAjZK7Ld6vDn2Qu1tG6"),
    "structured_outputs#0": ("msg_01RRuttC1Mzd1RUPyP68mcB5", "claude-sonnet-4-5-20250929", "end_turn", 222, 0, 0, 39, "req_011CVQtbM68bFJThHxEH4KeC"),
    "thinking#0": ("msg_01Ayp2LhrapBJLPf22sskg4c", "claude-3-7-sonnet-20250219", "end_turn", 52, 0, 0, 215, "req_01RkvCovYLbrawv1CaS8EonK"),
    "thinking_streaming#0": ("msg_01SZKz6DEhWnfZcxPQDQz49Y", "claude-3-7-sonnet-20250219", "end_turn", 52, 0, 0, 216, "req_01VVUWcAUP5Q8x4z9dr6ktGD"),
    "tools#0": ("msg_01RBkXFe9TmDNNWThMz2HmGt", "claude-3-5-sonnet-20240620", "tool_use", 514, None, None, 152, "req_0162S72WMkXgHaRJ9aDTfqmw"),
    "tools_streaming#0": ("msg_0138UNF3YbNp49KkqZtUBWqz", "claude-3-5-sonnet-20240620", "tool_use", 506, 0, 0, 153, "req_011CRb7b5b9MWofEnfaAHTBu"),
}  # fmt: skip


# The recorded prompt-caching traffic priced at claude-3-5-sonnet rates ($3 in, $15 out, $3.75 5-minute cache
# write, $0.30 cache read per million tokens), worked out by hand: a write, then a read of the same prefix.
COSTS = {
    "prompt_caching#0": 0.00717825,  # 4 x 3 + 1163 x 3.75 + 187 x 15 = 7178.25 micro-dollars
    "prompt_caching#1": 0.0033909,  # 4 x 3 + 1163 x 0.3 + 202 x 15
    "prompt_caching_async#0": 0.00748575,
    "prompt_caching_async#1": 0.0037215,
    "prompt_caching_async_stream#0": 0.00872325,
    "prompt_caching_async_stream#1": 0.0042021,
    "prompt_caching_stream#0": 0.00739575,
    "prompt_caching_stream#1": 0.0036765,
}


def recordings() -> list[Recording]:
    folder = cassette_dir()
    if folder is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but the recordings folder ../shared/fixtures/recorded-anthropic is missing")
        return []
    return [recording for path in sorted(folder.glob("*.yaml")) for recording in load_cassette(path)]


RECORDINGS = recordings()


def test_every_recording_is_covered() -> None:
    if not RECORDINGS:
        pytest.skip("no recordings: ../shared/fixtures/recorded-anthropic is not beside this clone")
    assert sorted(recording.name for recording in RECORDINGS) == sorted(EXPECTED)


@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda recording: recording.name)
def test_replayed_recording(recording: Recording, driver: Driver, fake: FakeAnthropic, spans: Spans) -> None:
    fake.enqueue(recording.reply())
    body = {"model": "claude-replay", "max_tokens": 1024, "messages": [{"role": "user", "content": "replay"}]}
    if recording.is_stream:
        driver.stream_events(**body)
    else:
        driver.create(**body)
    message_id, model, stop_reason, uncached, cache_read, cache_write, output, request_id = EXPECTED[recording.name]
    attributes = dict(spans.one().attributes or {})
    if recording.name in COSTS:
        assert round(attributes["anthropic.cost.usd"], 9) == COSTS[recording.name]
    actual = {
        "gen_ai.response.id": attributes.get("gen_ai.response.id"),
        "gen_ai.response.model": attributes.get("gen_ai.response.model"),
        "anthropic.message.stop_reason": attributes.get("anthropic.message.stop_reason"),
        "gen_ai.usage.input_tokens": attributes.get("gen_ai.usage.input_tokens"),
        "gen_ai.usage.cache_read.input_tokens": attributes.get("gen_ai.usage.cache_read.input_tokens"),
        "gen_ai.usage.cache_write.input_tokens": attributes.get("gen_ai.usage.cache_write.input_tokens"),
        "gen_ai.usage.output_tokens": attributes.get("gen_ai.usage.output_tokens"),
        "anthropic.request.id": attributes.get("anthropic.request.id"),
    }
    assert actual == {
        "gen_ai.response.id": message_id,
        "gen_ai.response.model": model,
        "anthropic.message.stop_reason": stop_reason,
        "gen_ai.usage.input_tokens": uncached + (cache_read or 0) + (cache_write or 0),
        "gen_ai.usage.cache_read.input_tokens": cache_read,
        "gen_ai.usage.cache_write.input_tokens": cache_write,
        "gen_ai.usage.output_tokens": output,
        "anthropic.request.id": request_id,
    }
