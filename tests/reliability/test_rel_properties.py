"""Properties, over arbitrary inputs (hypothesis): the cost arithmetic of `cost.price` on the shipped table, and the
usage a stream accumulates (`extract.StreamState`) over arbitrary event sequences."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anthropic_otel import extract
from anthropic_otel.cost import PICO, TOKEN_TYPES, Cost, price
from anthropic_otel.extract import StreamState, Usage
from anthropic_otel.prices import default_table

TABLE = default_table()
MODELS = sorted({model.name for model in TABLE.names()})
LOWEST_TIER = min(
    (tier.above_prompt_tokens for model in TABLE.names() for row in model.rows for tier in row.tiers),
    default=10**9,
)
"""Below this many prompt tokens no tier applies, on any model: costs are linear there."""
START = int(datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc).timestamp() * 1e9)
END = int(datetime.datetime(2027, 12, 31, tzinfo=datetime.timezone.utc).timestamp() * 1e9)
PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

counts = st.integers(min_value=0, max_value=LOWEST_TIER // 8)
maybe = st.none() | counts


@st.composite
def usages(draw: Any) -> Usage:
    write_5m, write_1h = draw(maybe), draw(maybe)
    cache_write = None if write_5m is None and write_1h is None else (write_5m or 0) + (write_1h or 0)
    return Usage(
        input=draw(counts),
        output=draw(maybe),
        cache_read=draw(maybe),
        cache_write=cache_write,
        cache_write_5m=write_5m,
        cache_write_1h=write_1h,
    )


conditions = st.fixed_dictionaries(
    {
        "when_ns": st.integers(min_value=START, max_value=END),
        "speed": st.sampled_from([None, "standard", "fast"]),
        "inference_geo": st.sampled_from([None, "global", "us"]),
    }
)


def cost_of(model: str, usage: Usage, **conditions: Any) -> Cost | None:
    found = price(TABLE, model, usage, **conditions)
    return found if isinstance(found, Cost) else None


def scaled(usage: Usage, factor: int) -> Usage:
    def times(value: int | None) -> int | None:
        return None if value is None else value * factor

    return Usage(
        *(times(getattr(usage, name)) for name in ("input", "output", "cache_read", "cache_write")),
        cache_write_5m=times(usage.cache_write_5m),
        cache_write_1h=times(usage.cache_write_1h),
    )


@PROPERTY
@given(st.sampled_from(MODELS), usages(), conditions, st.sampled_from([None, "standard", "batch", "priority"]))
def test_cost_is_never_negative(model: str, usage: Usage, when: dict[str, Any], tier: str | None) -> None:
    cost = cost_of(model, usage, service_tier=tier, **when)
    if cost is None:
        return
    assert all(isinstance(amount, int) and amount >= 0 for amount in cost.pico.values())
    assert cost.total >= 0
    assert cost.batch_savings_pico >= 0


@PROPERTY
@given(st.sampled_from(MODELS), usages(), conditions, st.integers(min_value=2, max_value=4))
def test_cost_is_linear_in_the_token_counts(model: str, usage: Usage, when: dict[str, Any], factor: int) -> None:
    one, many = cost_of(model, usage, **when), cost_of(model, scaled(usage, factor), **when)
    assert (one is None) == (many is None)
    if one is None or many is None:
        return
    assert many.pico == {kind: amount * factor for kind, amount in one.pico.items()}
    assert many.savings_pico == one.savings_pico * factor


@PROPERTY
@given(st.sampled_from(MODELS), usages(), conditions)
def test_batch_is_exactly_half_of_sync_unless_fast(model: str, usage: Usage, when: dict[str, Any]) -> None:
    sync = cost_of(model, usage, service_tier="standard", **when)
    batch = cost_of(model, usage, service_tier="batch", **when)
    assert (sync is None) == (batch is None)
    if sync is None or batch is None:
        return
    if when["speed"] == "fast":  # fast mode never takes the batch discount
        assert batch.pico == sync.pico
        assert batch.batch_savings_pico == 0
        return
    assert {kind: amount * 2 for kind, amount in batch.pico.items()} == sync.pico
    assert batch.batch_savings_pico * 2 == sum(sync.pico.values())


@PROPERTY
@given(st.sampled_from(MODELS), usages(), conditions, st.sampled_from([None, "standard", "batch"]))
def test_the_total_is_the_sum_of_its_parts_in_pico_dollars(
    model: str, usage: Usage, when: dict[str, Any], tier: str | None
) -> None:
    whole = cost_of(model, usage, service_tier=tier, **when)
    if whole is None:
        return
    # Each token type alone costs what it costs in the whole call (no tier applies below LOWEST_TIER).
    parts = {
        "input": Usage(input=usage.input),
        "output": Usage(input=0, output=usage.output),
        "cache_read": Usage(input=0, cache_read=usage.cache_read),
        "cache_write_5m": Usage(input=0, cache_write=usage.cache_write_5m or 0, cache_write_5m=usage.cache_write_5m),
        "cache_write_1h": Usage(input=0, cache_write=usage.cache_write_1h or 0, cache_write_1h=usage.cache_write_1h),
    }
    total = 0
    for kind, part in parts.items():
        alone = cost_of(model, part, service_tier=tier, **when)
        assert alone is not None
        total += alone.pico.get(kind, 0)
        assert alone.pico.get(kind, 0) == whole.pico.get(kind, 0)
    assert total == sum(whole.pico.values())
    assert whole.total == sum(whole.pico.values()) / PICO
    assert set(whole.pico) <= set(TOKEN_TYPES)


# --- usage over arbitrary stream event sequences -------------------------------------------------------------------

token = st.none() | st.integers(min_value=-3, max_value=10**6) | st.sampled_from(["7", 1.5, True])
usage_dicts = st.fixed_dictionaries(
    {},
    optional={
        "input_tokens": token,
        "output_tokens": token,
        "cache_read_input_tokens": token,
        "cache_creation_input_tokens": token,
    },
)
events = st.one_of(
    st.builds(
        lambda usage, model: {"type": "message_start", "message": {"id": "msg", "model": model, "usage": usage}},
        usage_dicts,
        st.sampled_from(["a", "b"]),
    ),
    st.builds(
        lambda usage: {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage}, usage_dicts
    ),
    st.just({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "x"}}),
    st.just({"type": "content_block_start"}),
    st.just({"type": "ping"}),
    st.just({"type": "message_stop"}),
    st.just({"type": "some_future_event", "usage": {"output_tokens": 999}}),
)

FIELDS = {
    "input": "input_tokens",
    "output": "output_tokens",
    "cache_read": "cache_read_input_tokens",
    "cache_write": "cache_creation_input_tokens",
}


def expected_usage(sequence: list[dict[str, Any]]) -> dict[str, int | None]:
    """The specification: message_start sets the input side (its output is a placeholder); each message_delta's
    valid counts replace what came before; nothing else counts, and nothing is ever added up."""
    found: dict[str, int | None] = dict.fromkeys(FIELDS)
    for event in sequence:
        if event["type"] == "message_start":
            usage = event["message"]["usage"]
            found = {name: extract.count(usage.get(key)) for name, key in FIELDS.items()}
            found["output"] = None
        elif event["type"] == "message_delta":
            for name, key in FIELDS.items():
                value = extract.count(event["usage"].get(key))
                if value is not None:
                    found[name] = value
    return found


@PROPERTY
@given(st.lists(events, max_size=30))
def test_stream_usage_is_never_invented_nor_counted_twice(sequence: list[dict[str, Any]]) -> None:
    state = StreamState()
    for event in sequence:
        state.apply(event, event["type"])
    usage = state.fields.usage
    assert {name: getattr(usage, name) for name in FIELDS} == expected_usage(sequence)
    # Output only ever comes from a message_delta, and is one of the values a message_delta said.
    delta_outputs = {
        extract.count(event["usage"].get("output_tokens")) for event in sequence if event["type"] == "message_delta"
    }
    if usage.output is not None:
        assert usage.output in delta_outputs
    assert all(value is None or value >= 0 for value in (usage.input, usage.output, usage.cache_read))
    assert state.stopped is any(event["type"] == "message_stop" for event in sequence)


@pytest.mark.parametrize("model", ["claude-unreleased-9", None, ""])
def test_an_unknown_model_is_unpriced_never_zero(model: str | None) -> None:
    found = price(TABLE, model, Usage(input=10, output=5), when_ns=START)
    assert not isinstance(found, Cost)
    assert getattr(found, "reason", None) == "unknown_model"
