"""Exact cost, to the micro-dollar, from the shipped price table."""

from __future__ import annotations

import pytest

from anthropic_otel.cost import Cost, price, token_counts
from anthropic_otel.extract import Usage
from anthropic_otel.prices import default_table, load_prices

TABLE = default_table()
NOW = 1_790_000_000 * 10**9  # 2026-09-21


def cost(model: str, usage: Usage, service_tier: str | None = "standard") -> tuple[dict[str, float], float, float]:
    result = price(TABLE, model, usage, when_ns=NOW, service_tier=service_tier)
    assert isinstance(result, Cost), (model, result)
    return (
        {kind: round(value, 9) for kind, value in result.by_type.items()},
        round(result.total, 9),
        round(result.savings, 9),
    )


MIXED = Usage(input=1000, cache_read=20000, cache_write=5000, cache_write_5m=3000, cache_write_1h=2000, output=500)


def test_mixed_usage_sonnet_4_5() -> None:
    assert cost("claude-sonnet-4-5-20250929", MIXED) == (
        {"input": 0.003, "cache_read": 0.006, "cache_write_5m": 0.01125, "cache_write_1h": 0.012, "output": 0.0075},
        0.03975,
        0.04575,
    )


def test_batch_costs_half() -> None:
    by_type, total, savings = cost("claude-sonnet-4-5", MIXED, service_tier="batch")
    assert total == 0.019875
    assert savings == 0.022875
    assert by_type["output"] == 0.00375


def test_rates_that_break_the_multiplier_pattern_claude_3_haiku() -> None:
    usage = Usage(input=100, cache_read=1000, cache_write=1000, output=100)  # no TTL split: 5-minute writes
    assert cost("claude-3-haiku-20240307", usage) == (
        {"input": 0.000025, "cache_read": 0.00003, "cache_write_5m": 0.0003, "cache_write_1h": 0.0, "output": 0.000125},
        0.00048,
        0.00017,
    )


def test_long_context_tier_applies_above_200k_input() -> None:
    usage = Usage(input=150000, cache_read=60000, cache_write=0, output=1000)
    assert cost("claude-sonnet-4-5", usage)[1] == 0.9585
    assert (
        cost("claude-sonnet-4-5", Usage(input=140000, cache_read=60000, cache_write=0, output=1000))[1] == 0.453
    )  # exactly 200K: standard


def test_recorded_prompt_caching_write_then_read() -> None:
    write = Usage(input=4, cache_read=0, cache_write=1163, output=187)
    read = Usage(input=4, cache_read=1163, cache_write=0, output=202)
    assert cost("claude-3-5-sonnet-20240620", write)[1:] == (0.00717825, -0.00087225)  # writes never read: negative
    assert cost("claude-3-5-sonnet-20240620", read)[1:] == (0.0033909, 0.0031401)


def test_opus_4_5_and_haiku_4_5() -> None:
    usage = Usage(input=2000, cache_read=10000, cache_write=0, output=1000)
    assert cost("claude-opus-4-5-20251101", usage)[1] == 0.04  # 0.01 + 0.005 + 0.025
    assert cost("claude-haiku-4-5", usage)[1] == 0.008  # 0.002 + 0.001 + 0.005


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
        ("global.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("claude-3-5-haiku@20241022", "claude-3-5-haiku"),
        ("Claude-Opus-4-5", "claude-opus-4-5"),
        ("claude-opus-4-5-20991231", "claude-opus-4-5"),
    ],
)
def test_model_ids_are_normalised(model: str, name: str) -> None:
    price = TABLE.find(model)
    assert price is not None and price.name == name


@pytest.mark.parametrize("model", ["gpt-4o", "claude-fake-model", "", None])
def test_unknown_models_have_no_price(model: str | None) -> None:
    assert TABLE.find(model) is None


def test_token_counts_by_type() -> None:
    assert token_counts(MIXED) == {
        "input": 1000,
        "cache_read": 20000,
        "cache_write_5m": 3000,
        "cache_write_1h": 2000,
        "output": 500,
    }
    assert token_counts(Usage(input=4, cache_write=1163)) == {"input": 4, "cache_write_5m": 1163}


def test_price_file_overrides_and_extends(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "prices.json"
    path.write_text(
        '{"models": {\n'
        '  "claude-sonnet-4-5": {"input": 2.0},\n'
        '  "claude-in-house-1": {"aliases": ["acme.claude-in-house"], "input": 1, "output": 2,\n'
        '     "cache_write_5m": 1.5, "cache_write_1h": 2, "cache_read": 0.1}\n'
        "}}\n"
    )
    table = load_prices(str(path))
    sonnet = table.find("claude-sonnet-4-5-20250929")
    assert sonnet is not None
    assert (sonnet.rows[-1].rates.input, sonnet.rows[-1].rates.output) == (2_000_000, 15_000_000)
    assert sonnet.rows[-1].tiers  # kept from the shipped table
    in_house = table.find("acme.claude-in-house")
    assert in_house is not None and in_house.rows[0].rates.cache_read == 100_000
    assert table.find("claude-3-haiku") is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"models": {\n "claude-x": {"input": 1}\n}}',
            "line 2: models.claude-x.output: missing; expected a non-negative number",
        ),
        (
            '{"models": {\n "claude-sonnet-4-5": {\n "output": "15"}}}',
            "line 3: models.claude-sonnet-4-5.output: expected a non-negative number of USD per million tokens, got",
        ),
        ('{"models": {\n "claude-x": [1, 2]}}', "line 2: models.claude-x: expected an object of rates"),
        ('{"models": {\n "claude-x": {"input": 1,}}}', "line 2: not valid JSON"),
        ('{"prices": {}}', 'line 1: expected an object with "models"'),
    ],
)
def test_malformed_price_file_names_line_and_field(tmp_path, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    from anthropic_otel.config import ConfigError, resolve

    path = tmp_path / "prices.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        resolve({"prices": str(path)})
    assert message in str(raised.value)
    assert "option prices=" in str(raised.value)


def test_inference_geo_multiplier_from_a_price_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from anthropic_otel.extract import message_fields

    path = tmp_path / "prices.json"
    path.write_text('{"models": {}, "inference_geo_multipliers": {"us": 1.2}}')
    table = load_prices(str(path))
    fields = message_fields({"usage": {"input_tokens": 1000, "output_tokens": 500, "inference_geo": "us"}})
    assert fields.inference_geo == "us"
    result = price(table, "claude-sonnet-4-6", fields.usage, when_ns=NOW, inference_geo=fields.inference_geo)
    assert isinstance(result, Cost) and result.total == 0.0126  # 0.0105 x 1.2
    assert {key: float(value) for key, value in default_table().geo_multipliers.items()} == {"us": 1.1}
    path.write_text('{"models": {}, "inference_geo_multipliers": {\n"us": 0}}')
    with pytest.raises(ValueError, match=r"line 2: inference_geo_multipliers\.us: expected a positive multiplier"):
        load_prices(str(path))
