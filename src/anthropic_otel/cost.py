"""Exact cost of a call, from a versioned price table shipped as data (`data/prices.json`).

The table stores explicit rates per model (input, output, 5-minute and 1-hour cache writes, cache reads, and a
long-context tier where a model has one) rather than multipliers: newer models break the 1.25x / 2x / 0.1x pattern.
Message Batches results cost `batch_multiplier` (half). An unknown model has no price: the caller records no cost
rather than a silent zero.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from .extract import Usage

RATE_FIELDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
"""The rates of a model in the table, in the order of `Rates`."""

TOKEN_TYPES = ("input", "cache_read", "cache_write_5m", "cache_write_1h", "output")
"""`anthropic.token.type` values: where the tokens, and the money, go."""

BEDROCK_ID = re.compile(r"^(?:(?:us|eu|apac|global|us-gov|jp|au)\.)?anthropic\.(?P<model>.+?)(?:-v\d+(?::\d+)?)?$")
DATED = re.compile(r"^(?P<base>.+)-\d{8}$")


@dataclass(frozen=True)
class Rates:
    """USD per million tokens."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float


@dataclass(frozen=True)
class ModelPrice:
    name: str
    rates: Rates
    long_context: Rates | None = None
    long_context_above: int | None = None


@dataclass(frozen=True)
class PriceTable:
    checked: str
    batch_multiplier: float
    models: dict[str, ModelPrice]
    """By every id and alias, lower case."""
    geo_multipliers: dict[str, float] = field(default_factory=dict)
    """By the `usage.inference_geo` the API reports: what pinning inference to a region costs on top."""
    found: dict[str, ModelPrice | None] = field(default_factory=dict, compare=False, repr=False)
    """Model ids already looked up: normalising an id takes two regular expressions, and a process uses few."""

    def find(self, model: str | None) -> ModelPrice | None:
        """The price of `model`: a dated id, an alias, a Bedrock id (`us.anthropic.claude-...-v1:0`) or a Vertex
        id (`claude-...@20250929`)."""
        if not model:
            return None
        try:
            return self.found[model]
        except KeyError:
            pass
        price = self.lookup(model)
        if len(self.found) < 1000:
            self.found[model] = price
        return price

    def lookup(self, model: str) -> ModelPrice | None:
        name = model.strip().lower().replace("@", "-")
        if match := BEDROCK_ID.match(name):
            name = match["model"]
        if (found := self.models.get(name)) is not None:
            return found
        if match := DATED.match(name):
            return self.models.get(match["base"])
        return None


@dataclass(slots=True)
class Cost:
    """What a call cost, by token type, and what prompt caching saved against paying full input price."""

    model: str
    by_type: dict[str, float]
    savings: float
    total: float = field(init=False, default=0.0)
    """The sum of `by_type`, computed once: the span, the log record and the JSON line all read it."""

    def __post_init__(self) -> None:
        self.total = sum(self.by_type.values())


def rates_of(entry: dict[str, Any]) -> Rates:
    return Rates(
        *(float(entry[field]) for field in ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read"))
    )


def parse_table(data: dict[str, Any]) -> PriceTable:
    models: dict[str, ModelPrice] = {}
    for name, entry in data["models"].items():
        long_context = entry.get("long_context")
        price = ModelPrice(
            name=name,
            rates=rates_of(entry),
            long_context=rates_of(long_context) if long_context else None,
            long_context_above=int(long_context["above_input_tokens"]) if long_context else None,
        )
        for key in (name, *entry.get("aliases", ())):
            models[key.lower()] = price
    geo = {str(key): float(value) for key, value in data.get("inference_geo_multipliers", {}).items()}
    return PriceTable(str(data["checked"]), float(data.get("batch_multiplier", 0.5)), models, geo)


@cache
def default_table() -> PriceTable:
    text = resources.files("anthropic_otel").joinpath("data/prices.json").read_text(encoding="utf-8")
    return parse_table(json.loads(text))


def cost_of(
    price: ModelPrice, usage: Usage, *, service_tier: str | None, batch_multiplier: float, geo_multiplier: float = 1.0
) -> Cost:
    """The cost of `usage` at `price`. Cache writes without a TTL split (older API versions) are 5-minute ones."""
    total_input = usage.total_input or 0
    rates = price.rates
    if (
        price.long_context is not None
        and price.long_context_above is not None
        and total_input > price.long_context_above
    ):
        rates = price.long_context
    write_1h = usage.cache_write_1h or 0
    write_5m = usage.cache_write_5m if usage.cache_write_5m is not None else (usage.cache_write or 0) - write_1h
    write_5m = max(write_5m, 0)
    read = usage.cache_read or 0
    per_million = (batch_multiplier if service_tier == "batch" else 1.0) * geo_multiplier / 1e6
    by_type = {
        "input": (usage.input or 0) * rates.input * per_million,
        "cache_read": read * rates.cache_read * per_million,
        "cache_write_5m": write_5m * rates.cache_write_5m * per_million,
        "cache_write_1h": write_1h * rates.cache_write_1h * per_million,
        "output": (usage.output or 0) * rates.output * per_million,
    }
    # Reads save the difference to the input price; writes cost a premium over it. Negative when writes are
    # never read back.
    savings = (
        read * (rates.input - rates.cache_read)
        - write_5m * (rates.cache_write_5m - rates.input)
        - write_1h * (rates.cache_write_1h - rates.input)
    ) * per_million
    return Cost(price.name, by_type, savings)


def token_counts(usage: Usage) -> dict[str, int]:
    """Tokens by `anthropic.token.type`; a count the response lacks is left out."""
    write_1h = usage.cache_write_1h
    write_5m = usage.cache_write_5m
    if write_5m is None and usage.cache_write is not None:
        write_5m = usage.cache_write - (write_1h or 0)
    counts = {
        "input": usage.input,
        "cache_read": usage.cache_read,
        "cache_write_5m": write_5m,
        "cache_write_1h": write_1h,
        "output": usage.output,
    }
    return {kind: count for kind, count in counts.items() if count is not None}


class PriceFileError(ValueError):
    """A price file that cannot be read: the message names the file, the line and the field."""


def load_prices(path: str, base: PriceTable | None = None) -> PriceTable:
    """The shipped table overridden and extended by the JSON file at `path` (same shape as `data/prices.json`).

    A model already in the table may give only the rates it changes; a new model must give all five. Raises
    `PriceFileError` naming the line and the field of the first mistake.
    """
    base = base or default_table()
    try:
        text = open(path, encoding="utf-8").read()  # noqa: SIM115 - read in one go
    except OSError as err:
        raise PriceFileError(f"{path}: cannot read the price file: {err.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise PriceFileError(f"{path}, line {err.lineno}: not valid JSON: {err.msg}") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise PriceFileError(f'{path}, line 1: expected an object with "models": {{"<model id>": {{rates}}}}')

    def line_of(*needles: str) -> int:
        position = 0
        for needle in needles:
            found = text.find(f'"{needle}"', position)
            position = found if found >= 0 else position
        return text.count("\n", 0, position) + 1

    merged = dict(base.models)
    for name, entry in models.items():
        where = f"{path}, line {line_of(name)}: models.{name}"
        if not isinstance(entry, dict):
            raise PriceFileError(f"{where}: expected an object of rates ({', '.join(RATE_FIELDS)})")
        known = base.find(name)
        values: dict[str, float] = {}
        for rate in RATE_FIELDS:
            value = entry.get(rate)
            if value is None and known is not None:
                values[rate] = getattr(known.rates, rate)
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                at = f"{path}, line {line_of(name, rate)}: models.{name}.{rate}"
                raise PriceFileError(f"{at}: expected a non-negative number of USD per million tokens, got {value!r}")
            values[rate] = float(value)
        price = ModelPrice(
            name=name,
            rates=Rates(**values),
            long_context=known.long_context if known else None,
            long_context_above=known.long_context_above if known else None,
        )
        if known is not None:  # every alias of a model it overrides follows
            for key in [key for key, value in merged.items() if value is known]:
                merged[key] = price
        for key in (name, *entry.get("aliases", ())):
            merged[str(key).lower()] = price
    checked = str(data.get("checked", base.checked))
    multiplier = data.get("batch_multiplier", base.batch_multiplier)
    geo = dict(base.geo_multipliers)
    for region, value in (data.get("inference_geo_multipliers") or {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            at = f"{path}, line {line_of('inference_geo_multipliers', region)}: inference_geo_multipliers.{region}"
            raise PriceFileError(f"{at}: expected a positive multiplier, e.g. 1.1, got {value!r}")
        geo[str(region)] = float(value)
    return PriceTable(checked, float(multiplier), merged, geo)
