"""The shipped price table, priced exactly: every dimension of a bill, each model family, each id form."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest

import anthropic_otel
from anthropic_otel.cost import Cost, Unpriced, price
from anthropic_otel.extract import Usage
from anthropic_otel.prices import PriceFileError, default_table, load_prices

TABLE = default_table()


def at(day: str) -> int:
    moment = datetime.datetime.fromisoformat(day).replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp()) * 10**9


TODAY = at("2026-12-01")


def usd(model: str, usage: Usage, when: int = TODAY, **kwargs: str) -> Cost:
    result = price(TABLE, model, usage, when_ns=when, **kwargs)
    assert isinstance(result, Cost), result
    return result


MIXED = Usage(input=1000, output=500, cache_read=10000, cache_write=3000, cache_write_5m=2000, cache_write_1h=1000)


def test_every_token_type_on_a_current_opus() -> None:
    cost = usd("claude-opus-5-5", MIXED)  # $4 / $20, writes $5 / $8, reads $0.20 (0.05x)
    assert cost.by_type == {
        "input": 0.004,
        "output": 0.01,
        "cache_read": 0.002,
        "cache_write_5m": 0.01,
        "cache_write_1h": 0.008,
    }
    assert cost.total == 0.034
    assert cost.savings == 0.032  # 10,000 x $3.80 - 2,000 x $1 - 1,000 x $4, per million


@pytest.mark.parametrize(
    ("model", "total"),
    [
        ("claude-opus-5-5", 0.014),  # 1000 x $4 + 500 x $20
        ("claude-sonnet-5-5", 0.007),  # $2 / $10
        ("claude-haiku-5-5", 0.00035),  # $0.10 / $0.50
        ("claude-fable-5-2", 0.028),  # $8 / $40
        ("claude-opus-4-6", 0.0175),  # $5 / $25
        ("claude-sonnet-4-6", 0.0105),  # $3 / $15
        ("claude-sonnet-4-5", 0.0105),  # 2025
        ("claude-haiku-4-5", 0.0035),  # 2025, $1 / $5
        ("claude-3-opus", 0.0525),  # retired, $15 / $75
        ("claude-3-haiku", 0.000875),  # retired, $0.25 / $1.25
    ],
)
def test_model_families(model: str, total: float) -> None:
    assert usd(model, Usage(input=1000, output=500)).total == total


def test_a_cost_is_a_whole_number_of_pico_dollars_turned_into_usd_once() -> None:
    cost = usd("claude-3-haiku", Usage(input=420, output=0))
    assert cost.pico["input"] == 105_000_000
    assert repr(cost.total) == "0.000105"
    many = sum(sum(usd("claude-sonnet-4-5", Usage(input=1, output=1)).pico.values()) for _ in range(100_000))
    assert many / 10**12 == 1.8  # 100,000 calls of $0.000018: no drift


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),  # dated
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),  # alias
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),  # Bedrock, US profile
        ("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),  # Bedrock, EU profile
        ("jp.anthropic.claude-sonnet-4-6", "claude-sonnet-4-6"),
        ("apac.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet-v2"),
        ("au.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5"),
        ("ca.anthropic.claude-opus-5", "claude-opus-5"),
        ("us-gov.anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
        ("global.anthropic.claude-opus-4-6-v1", "claude-opus-4-6"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet-v2"),  # Vertex
        ("claude-opus-4-5@20251101", "claude-opus-4-5"),
        ("claude-haiku-5-5", "claude-haiku-5-5"),
    ],
)
def test_id_forms(model: str, name: str) -> None:
    found = TABLE.find(model)
    assert found is not None and found.name == name


def test_fast_mode_has_its_own_rates_with_residency_on_top_and_never_the_batch_discount() -> None:
    usage = Usage(input=1000, output=1000)
    assert usd("claude-opus-5-5", usage, speed="fast").total == 0.048  # $8 / $40
    assert usd("claude-opus-5-5", usage, speed="fast", inference_geo="us").total == 0.0528
    assert usd("claude-opus-5-5", usage, speed="fast", service_tier="batch").total == 0.048
    assert usd("claude-opus-5-5", usage, speed="standard").total == 0.024


def test_us_only_residency_costs_1_1x_on_models_that_have_it() -> None:
    usage = Usage(input=1000, output=1000, cache_read=1000)
    assert usd("claude-opus-4-6", usage, inference_geo="us").total == 0.03355  # (0.005 + 0.025 + 0.0005) x 1.1
    assert usd("claude-opus-4-6", usage, inference_geo="global").total == 0.0305
    assert usd("claude-haiku-4-5", usage, inference_geo="us").total == 0.0061  # older models: standard


def test_prompt_size_tier_one_token_below_and_above() -> None:
    assert usd("claude-haiku-5-5", Usage(input=100_000, output=1000)).total == 0.0105
    assert usd("claude-haiku-5-5", Usage(input=100_001, output=1000)).total == 0.0525005  # every token, output too
    # The prompt counts cache reads and writes: 1 + 60,000 + 40,000 is above the threshold.
    tiered = usd("claude-haiku-5-5", Usage(input=1, cache_read=60_000, cache_write=40_000, output=0))
    assert tiered.by_type["cache_read"] == 0.003 and tiered.by_type["cache_write_5m"] == 0.025


def test_a_dated_price_change_prices_a_call_by_its_date() -> None:
    usage = Usage(input=10, output=0, cache_read=100_000)
    assert usd("claude-sonnet-5-5", usage, at("2026-10-06")).total == 0.02002  # reads at $0.20
    assert usd("claude-sonnet-5-5", usage, at("2026-10-07")).total == 0.01002  # reads at $0.10 from that day


def test_a_retired_tier_applies_only_before_its_date() -> None:
    usage = Usage(input=250_000, output=1000)
    assert usd("claude-opus-4-6", usage, at("2026-03-12")).total == 2.5375  # above 200K: $10 / $37.50
    assert usd("claude-opus-4-6", usage, at("2026-03-13")).total == 1.275  # standard since the 1M window went GA
    assert usd("claude-opus-4-6", usage, at("2026-03-12"), speed="fast").total == 15.225  # $60 / $225
    assert usd("claude-sonnet-4-5", usage).total == 1.5225  # the Sonnet 4.5 1M beta: its tier stays


def test_batch_with_caching_and_what_batching_saved() -> None:
    usage = Usage(input=1000, output=1000, cache_read=10_000, cache_write=1000)
    cost = usd("claude-sonnet-4-6", usage, service_tier="batch")
    assert cost.total == 0.012375  # half of 0.003 + 0.015 + 0.003 + 0.00375
    assert cost.batch_savings == 0.012375
    assert cost.savings == 0.013125  # at batch rates: 10,000 x $1.35 - 1,000 x $0.375, per million
    assert usd("claude-sonnet-4-6", usage).batch_savings == 0.0


def test_server_tool_uses_are_priced_per_use() -> None:
    cost = usd("claude-sonnet-5-5", Usage(input=1000, output=100, web_search=3, web_fetch=2))
    assert cost.by_type["web_search"] == 0.03  # $10 per 1,000 searches
    assert cost.by_type["web_fetch"] == 0.0  # no charge beyond tokens
    assert cost.total == 0.033


def test_priority_tier_is_costed_at_standard_rates_and_says_so() -> None:
    cost = usd("claude-sonnet-4-6", Usage(input=1000, output=0), service_tier="priority")
    assert (cost.total, cost.note) == (0.003, "priority_tier_at_standard_rates")


@pytest.mark.parametrize(
    ("model", "kwargs", "expected"),
    [
        ("gpt-4o", {}, Unpriced("gpt-4o", "unknown_model")),
        (None, {}, Unpriced("unknown", "unknown_model")),
        ("claude-sonnet-5-5", {"speed": "fast"}, Unpriced("claude-sonnet-5-5", "unknown_speed")),
        ("claude-opus-5-5", {"speed": "warp"}, Unpriced("claude-opus-5-5", "unknown_speed")),
        ("claude-opus-5-5", {"inference_geo": "mars"}, Unpriced("claude-opus-5-5", "unknown_inference_geo")),
    ],
)
def test_what_cannot_be_priced_says_why(model: str | None, kwargs: dict[str, str], expected: Unpriced) -> None:
    assert price(TABLE, model, Usage(input=1, output=1), when_ns=TODAY, **kwargs) == expected


def test_no_tokens_no_cost() -> None:
    assert price(TABLE, "gpt-4o", Usage(), when_ns=TODAY) is None


def test_every_model_is_sourced_and_dated() -> None:
    raw = json.loads((Path(anthropic_otel.__file__).parent / "data" / "prices.json").read_text())
    assert raw["checked"] == "2026-12-01"
    for name, entry in raw["models"].items():
        assert entry["source"] in raw["sources"], name
        assert entry["checked"] == "2026-12-01", name


def test_misspelt_key_names_the_nearest_valid_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "prices.json"
    path.write_text('{"models": {\n "claude-sonnet-4-5": {"inptu": 2.7}}}')
    with pytest.raises(PriceFileError, match=r"line 2: models\.claude-sonnet-4-5\.inptu: unknown key 'inptu'; did you"):
        load_prices(str(path))


def test_price_file_with_dated_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "prices.json"
    rates = {"input": 1, "output": 2, "cache_write_5m": 1.25, "cache_write_1h": 2, "cache_read": 0.1}
    path.write_text(
        json.dumps(
            {
                "models": {
                    "claude-in-house": {
                        "rates": [
                            {**rates, "effective_until": "2026-06-01"},
                            {**rates, "input": 0.5, "effective_from": "2026-06-01"},
                        ]
                    }
                }
            }
        )
    )
    table = load_prices(str(path))
    before = price(table, "claude-in-house", Usage(input=1000, output=0), when_ns=at("2026-05-31"))
    after = price(table, "claude-in-house", Usage(input=1000, output=0), when_ns=at("2026-06-01"))
    assert isinstance(before, Cost) and isinstance(after, Cost)
    assert (before.total, after.total) == (0.001, 0.0005)


def run_prices(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "anthropic_otel", "prices", *args], capture_output=True, text=True, check=False
    )


def test_prices_command_lists_the_table() -> None:
    result = run_prices()
    assert result.returncode == 0, result.stderr
    assert "checked 2026-12-01" in result.stdout
    assert "claude-opus-5-5" in result.stdout and "claude-3-haiku" in result.stdout


def test_prices_command_resolves_a_model_id() -> None:
    result = run_prices("--model", "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert result.returncode == 0, result.stderr
    assert "claude-sonnet-4-5" in result.stdout and "a Bedrock id" in result.stdout
    unknown = run_prices("--model", "claude-sonet-4-5")
    assert unknown.returncode == 1
    assert "not in the table" in unknown.stdout and "nearest listed id is 'claude-sonnet-4-5'" in unknown.stdout
