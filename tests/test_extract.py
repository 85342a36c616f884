"""The pure extractors, over hand-built bodies, usages, events and headers: exact values, no network.

`extract.get` reads the SDK's models without their slow path for missing fields, and loses nothing."""

from __future__ import annotations

import json
from typing import Any

import anthropic
from anthropic.types import MessageDeltaUsage, RawMessageDeltaEvent, Usage
from anthropic.types.raw_message_delta_event import Delta

from anthropic_otel import extract, sdk_compat


def test_get_reads_fields_extras_and_misses_of_the_sdks_models() -> None:
    # `construct` is how the SDK builds responses; the unknown key is a field a newer API version added.
    usage = Usage.construct(input_tokens=12, output_tokens=3, speculative_tokens=7)
    assert extract.get(usage, "input_tokens") == 12
    assert extract.get(usage, "output_tokens") == 3
    assert extract.get(usage, "speculative_tokens") == 7
    assert extract.get(usage, "no_such_field") is None


def test_get_reads_mappings_plain_objects_and_none() -> None:
    class Plain:
        kind = "class attribute"

        @property
        def computed(self) -> int:
            return 5

    assert extract.get({"a": 1}, "a") == 1
    assert extract.get({"a": 1}, "b") is None
    assert extract.get(Plain(), "kind") == "class attribute"
    assert extract.get(Plain(), "computed") == 5
    assert extract.get(None, "a") is None


def test_usage_of_a_model_without_the_ttl_split() -> None:
    usage = extract.usage_of(Usage.construct(input_tokens=10, output_tokens=4, cache_read_input_tokens=2))
    found = (usage.input, usage.output, usage.cache_read, usage.cache_write_5m, usage.total_input)
    assert found == (10, 4, 2, None, 12)


# --- counts and scalars ---------------------------------------------------------------------------------------


def test_count_takes_non_negative_ints_only() -> None:
    assert [extract.count(value) for value in (0, 7, -1, True, False, 3.0, "3", None)] == [
        0,
        7,
        None,
        None,
        None,
        None,
        None,
        None,
    ]


def test_scalars_refuse_bools_and_other_types() -> None:
    assert (extract.as_int(-2), extract.as_int(True), extract.as_int(2.5)) == (-2, None, None)
    assert (extract.as_float(1), extract.as_float(0.25), extract.as_float(True), extract.as_float("1")) == (
        1.0,
        0.25,
        None,
        None,
    )
    assert type(extract.as_float(1)) is float
    assert (extract.as_str("a"), extract.as_str(1)) == ("a", None)
    assert extract.as_str_list(("a", "b")) == ["a", "b"]
    assert extract.as_str_list(["a", 1]) is None
    assert extract.as_str_list("ab") is None


# --- requests -------------------------------------------------------------------------------------------------


def test_request_fields_of_a_full_body() -> None:
    body = {
        "model": "claude-x",
        "max_tokens": 100,
        "temperature": 1,
        "top_p": 0.5,
        "top_k": 40,
        "stop_sequences": ["END", "STOP"],
        "messages": [],
    }
    assert extract.request_fields(body) == extract.RequestFields(
        model="claude-x", max_tokens=100, temperature=1.0, top_p=0.5, top_k=40, stop_sequences=["END", "STOP"]
    )


def test_request_fields_leave_out_what_the_sdk_did_not_fill_in_and_mistyped_values() -> None:
    body = {
        "model": anthropic.NOT_GIVEN,
        "max_tokens": "100",
        "temperature": True,
        "top_p": anthropic.NOT_GIVEN,
        "top_k": 1.5,
        "stop_sequences": ["END", 3],
        "stream": "yes",
    }
    assert extract.request_fields(body) == extract.RequestFields()
    assert extract.request_fields(None) == extract.RequestFields()


def test_request_fields_stream_from_the_body_or_the_caller() -> None:
    assert extract.request_fields({"stream": True}).stream is True
    assert extract.request_fields({"stream": False}).stream is False
    assert extract.request_fields({}, stream=True).stream is True
    assert extract.request_fields({}).stream is False


# --- usage ----------------------------------------------------------------------------------------------------

FULL_USAGE = {
    "input_tokens": 10,
    "output_tokens": 200,
    "cache_read_input_tokens": 300,
    "cache_creation_input_tokens": 50,
    "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 20},
    "output_tokens_details": {"thinking_tokens": 120},
    "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 1},
    "service_tier": "priority",
    "inference_geo": "us",
    "speed": "fast",
}


def test_usage_of_every_field() -> None:
    usage = extract.usage_of(FULL_USAGE)
    assert usage == extract.Usage(
        input=10,
        output=200,
        cache_read=300,
        cache_write=50,
        cache_write_5m=30,
        cache_write_1h=20,
        thinking=120,
        web_search=2,
        web_fetch=1,
    )
    assert usage.total_input == 360


def test_usage_of_an_sdk_model_reads_the_same_as_its_json() -> None:
    assert extract.usage_of(Usage.construct(**FULL_USAGE)) == extract.usage_of(FULL_USAGE)


def test_usage_of_nothing_or_mistyped_values_is_none_field_by_field() -> None:
    assert extract.usage_of(None) == extract.Usage()
    assert extract.usage_of(None).total_input is None
    usage = extract.usage_of(
        {
            "input_tokens": -1,
            "output_tokens": True,
            "cache_read_input_tokens": "5",
            "cache_creation_input_tokens": 4,
            "cache_creation": {"ephemeral_5m_input_tokens": -3, "ephemeral_1h_input_tokens": 2.0},
            "output_tokens_details": {"thinking_tokens": None},
            "server_tool_use": {"web_search_requests": -2, "web_fetch_requests": False},
        }
    )
    assert usage == extract.Usage(cache_write=4)
    assert usage.total_input is None  # no input count: no total, even with cache writes


def test_merge_usage_takes_every_later_count_that_is_known() -> None:
    earlier = extract.Usage(input=10, output=1, cache_read=5, cache_write=2, thinking=3)
    later = extract.Usage(output=7, cache_read=0, web_search=1)
    merged = extract.merge_usage(earlier, later)
    assert merged == extract.Usage(input=10, output=7, cache_read=0, cache_write=2, thinking=3, web_search=1)
    assert merged.total_input == 12  # recomputed: 10 + 0 + 2
    assert extract.merge_usage(earlier, extract.Usage()) == earlier


# --- responses ------------------------------------------------------------------------------------------------


def test_message_fields_of_a_complete_message() -> None:
    message = {
        "id": "msg_1",
        "type": "message",
        "model": "claude-x",
        "stop_reason": "tool_use",
        "content": [],
        "usage": FULL_USAGE,
    }
    assert extract.message_fields(message) == extract.ResponseFields(
        id="msg_1",
        model="claude-x",
        stop_reason="tool_use",
        service_tier="priority",
        inference_geo="us",
        speed="fast",
        usage=extract.usage_of(FULL_USAGE),
    )


def test_message_fields_without_usage_or_with_mistyped_fields() -> None:
    fields = extract.message_fields({"id": 5, "model": None, "stop_reason": ["end_turn"], "usage": {"speed": 2}})
    assert fields == extract.ResponseFields()
    assert extract.message_fields(None) == extract.ResponseFields()


def test_json_message_fields_only_of_a_message_body() -> None:
    body = {"type": "message", "id": "msg_raw", "model": "claude-x", "usage": {"input_tokens": 3, "output_tokens": 4}}
    assert extract.json_message_fields(json.dumps(body).encode()) == extract.ResponseFields(
        id="msg_raw", model="claude-x", usage=extract.Usage(input=3, output=4)
    )
    assert extract.json_message_fields(b'{"type": "error", "error": {}}') is None
    assert extract.json_message_fields(b"[1, 2]") is None
    assert extract.json_message_fields(b"{not json") is None
    assert extract.json_message_fields(b"") is None
    assert extract.json_message_fields(None) is None


def test_finish_reasons_and_header() -> None:
    assert extract.finish_reasons("end_turn") == ["end_turn"]
    assert extract.finish_reasons(None) is None
    headers = sdk_compat.http_module().Headers({"Request-Id": "req_1", "empty": ""})
    assert extract.header(headers, "request-id") == "req_1"
    assert extract.header(headers, "empty") is None
    assert extract.header(headers, "missing") is None
    assert extract.header(None, "request-id") is None
    assert extract.header(object(), "request-id") is None  # no `get`: nothing, not an error


# --- streams --------------------------------------------------------------------------------------------------


def message_start(usage: dict[str, Any], **message: Any) -> dict[str, Any]:
    body = {"id": "msg_s", "type": "message", "model": "claude-x", "stop_reason": None, "content": [], **message}
    return {"type": "message_start", "message": {**body, "usage": usage}}


def text_block() -> list[dict[str, Any]]:
    return [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
        {"type": "content_block_stop", "index": 0},
    ]


def message_delta(usage: dict[str, Any], stop_reason: str | None = "end_turn") -> dict[str, Any]:
    return {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": usage}


def streamed(events: list[dict[str, Any]]) -> extract.StreamState:
    state = extract.StreamState()
    for event in events:
        state.apply(event, event["type"])
    return state


START_USAGE = {
    "input_tokens": 40,
    "output_tokens": 1,
    "cache_read_input_tokens": 8,
    "cache_creation_input_tokens": 0,
    "service_tier": "standard",
}


def test_stream_state_of_a_whole_stream_step_by_step() -> None:
    state = extract.StreamState()
    assert (state.fields, state.first_chunk, state.stopped) == (extract.ResponseFields(), False, False)
    start, block_start, delta, block_stop = message_start(START_USAGE), *text_block()
    state.apply(start, "message_start")
    started = extract.ResponseFields(
        id="msg_s",
        model="claude-x",
        service_tier="standard",
        usage=extract.Usage(input=40, cache_read=8, cache_write=0),  # output 1 is a placeholder
    )
    assert (state.fields, state.first_chunk, state.stopped) == (started, False, False)
    state.apply(block_start, "content_block_start")
    assert state.first_chunk is False
    state.apply(delta, "content_block_delta")
    state.apply(block_stop, "content_block_stop")
    assert (state.fields, state.first_chunk, state.stopped) == (started, True, False)
    state.apply(message_delta({"output_tokens": 7}), "message_delta")
    ended = extract.ResponseFields(
        id="msg_s",
        model="claude-x",
        stop_reason="end_turn",
        service_tier="standard",
        usage=extract.Usage(input=40, output=7, cache_read=8, cache_write=0),
    )
    assert (state.fields, state.stopped) == (ended, False)
    state.apply({"type": "message_stop"}, "message_stop")
    assert (state.fields, state.first_chunk, state.stopped) == (ended, True, True)
    assert state.fields.usage.total_input == 48


def test_stream_state_ignores_message_starts_stop_reason_and_output() -> None:
    state = streamed([message_start({"input_tokens": 5, "output_tokens": 99}, stop_reason="end_turn")])
    assert state.fields.stop_reason is None
    assert state.fields.usage == extract.Usage(input=5)


def test_stream_state_message_delta_counts_are_cumulative_and_replace() -> None:
    state = streamed(
        [
            message_start(START_USAGE),
            *text_block(),
            message_delta({"output_tokens": 3}, stop_reason=None),
            message_delta({"input_tokens": 45, "output_tokens": 7}, stop_reason="max_tokens"),
            message_delta({"output_tokens": 9}, stop_reason=None),  # no stop reason: the earlier one stays
        ]
    )
    assert state.fields.stop_reason == "max_tokens"
    assert state.fields.usage == extract.Usage(input=45, output=9, cache_read=8, cache_write=0)
    assert state.fields.usage.total_input == 53
    assert state.stopped is False


def test_stream_state_of_a_stream_abandoned_before_message_delta_has_no_output() -> None:
    state = streamed([message_start(START_USAGE), *text_block()])
    assert state.fields.usage.output is None
    assert state.fields.stop_reason is None
    assert (state.first_chunk, state.stopped) == (True, False)


def test_stream_state_without_a_content_delta_has_no_first_chunk() -> None:
    state = streamed([message_start(START_USAGE), message_delta({"output_tokens": 0}), {"type": "message_stop"}])
    assert (state.first_chunk, state.stopped, state.fields.usage.output) == (False, True, 0)


def test_stream_state_mistyped_and_negative_values_are_none() -> None:
    state = streamed(
        [
            message_start({"input_tokens": -5, "output_tokens": 1, "cache_read_input_tokens": True}, id=7, model=3),
            message_delta({"output_tokens": "7"}, stop_reason=None),
            message_delta({"output_tokens": -1, "cache_read_input_tokens": 2.5}),
        ]
    )
    assert state.fields == extract.ResponseFields(stop_reason="end_turn")
    assert state.fields.usage.total_input is None


def test_stream_state_ignores_other_events_and_reads_sdk_models() -> None:
    state = extract.StreamState()
    state.apply({"type": "ping"}, "ping")
    state.apply({"type": "error", "error": {"type": "overloaded_error"}}, "error")
    assert (state.fields, state.first_chunk, state.stopped) == (extract.ResponseFields(), False, False)
    event = RawMessageDeltaEvent.construct(
        type="message_delta",
        delta=Delta.construct(stop_reason="end_turn", stop_sequence=None),
        usage=MessageDeltaUsage.construct(output_tokens=12),
    )
    state.apply(event, "message_delta")
    assert state.fields == extract.ResponseFields(stop_reason="end_turn", usage=extract.Usage(output=12))


# --- rate limits ----------------------------------------------------------------------------------------------


def test_rate_limit_headers_are_read_in_one_pass_whatever_their_case() -> None:
    http = sdk_compat.http_module()
    headers = http.Headers(
        [
            ("Anthropic-RateLimit-Requests-Limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "49"),
            ("anthropic-ratelimit-requests-reset", "2026-11-24T20:00:00Z"),
            ("anthropic-ratelimit-tokens-remaining", "not-a-number"),
            ("anthropic-ratelimit-priority-input-tokens-limit", "1000"),
            ("request-id", "req_1"),
        ]
    )
    assert extract.rate_limits(headers) == {
        "requests-limit": 50,
        "requests-remaining": 49,
        "priority-input-tokens-limit": 1000,
    }
    assert extract.rate_limits(None) == {}


def test_rate_limits_take_limit_and_remaining_counts_only() -> None:
    headers = sdk_compat.http_module().Headers(
        [
            ("anthropic-ratelimit-tokens-limit", "400000"),
            ("anthropic-ratelimit-tokens-remaining", "0"),
            ("anthropic-ratelimit-tokens-reset", "2026-11-24T20:00:00Z"),
            ("anthropic-ratelimit-requests-remaining", "-1"),
            ("anthropic-ratelimit-requests-limit", "1.5"),
            ("anthropic-ratelimit-output-tokens-limit", ""),
            ("ANTHROPIC-RATELIMIT-INPUT-TOKENS-LIMIT", "7"),
            ("x-anthropic-ratelimit-requests-limit", "9"),
            ("retry-after", "3"),
        ]
    )
    assert extract.rate_limits(headers) == {"tokens-limit": 400000, "tokens-remaining": 0, "input-tokens-limit": 7}


def test_rate_limits_of_no_headers() -> None:
    assert extract.rate_limits(sdk_compat.http_module().Headers()) == {}
    assert extract.rate_limits({"anthropic-ratelimit-requests-limit": "5"}) == {}  # no raw header list
    assert extract.rate_limits(None) == {}
