"""What a call cost: the one function through which usage becomes money (`price`).

A call's cost is summed in pico-dollars per token type and turned into USD once, so the span says `0.000105`,
not `0.00010499999999999999`, and sums over a million calls do not drift. Usage the table cannot price (an
unknown model, a speed the model has no rates for) is `Unpriced`, with the reason: never a silent zero.

What is priced, and how:
- the five token types at the row of the model in force on the call's date, or its prompt-size tier: above
  `above_prompt_tokens` prompt tokens (input + cache reads + cache writes) every token is priced at the tier;
- `speed=fast` at the model's fast-mode rates (never with the batch discount);
- `inference_geo` (data residency) multiplies every token type, for the models it applies to;
- Message Batches results (`service_tier=batch`) at `batch_multiplier`, and what that saved;
- server-tool uses (web search, web fetch) per use;
- `service_tier=priority` has no published per-token price: it is priced at standard rates and flagged.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from fractions import Fraction

from .extract import Usage
from .prices import PriceTable, Rates

TOKEN_TYPES = ("input", "cache_read", "cache_write_5m", "cache_write_1h", "output")
"""`anthropic.token.type` values of tokens: where the tokens, and the money, go."""
SERVER_TOOLS = ("web_search", "web_fetch")
"""`anthropic.token.type` values of server-tool uses, priced per use (`anthropic.client.cost` sums to the bill)."""
PICO = 10**12

UNKNOWN_MODEL = "unknown_model"
UNKNOWN_SPEED = "unknown_speed"
UNKNOWN_INFERENCE_GEO = "unknown_inference_geo"
NO_RATE_ON_DATE = "no_rate_on_date"
PRIORITY_AT_STANDARD = "priority_tier_at_standard_rates"


@dataclass(slots=True)
class Cost:
    """What a call cost, by token type (and server tool), in pico-dollars; and what caching and batching saved."""

    pico: dict[str, int]
    savings_pico: int = 0
    """What cache reads saved against the uncached input price, minus the cache-write premium."""
    batch_savings_pico: int = 0
    """What the same usage would have cost synchronously, minus what it cost (Message Batches results)."""
    note: str | None = None
    """How an estimate was made, where the table has no exact price (`priority_tier_at_standard_rates`)."""
    total: float = field(init=False, default=0.0)
    """USD, computed once: the span, the log record and the JSON line all read it."""
    savings: float = field(init=False, default=0.0)
    batch_savings: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.total = sum(self.pico.values()) / PICO
        self.savings = self.savings_pico / PICO
        self.batch_savings = self.batch_savings_pico / PICO

    @property
    def by_type(self) -> dict[str, float]:
        """USD by `anthropic.token.type`."""
        return {kind: amount / PICO for kind, amount in self.pico.items()}


@dataclass(slots=True, frozen=True)
class Unpriced:
    """A call that used tokens the table cannot price."""

    model: str
    reason: str


def write_split(usage: Usage) -> tuple[int | None, int | None]:
    """(5-minute, 1-hour) cache writes. Writes the API does not split by TTL (older versions) are 5-minute ones."""
    write_1h = usage.cache_write_1h
    write_5m = usage.cache_write_5m
    if write_5m is None and usage.cache_write is not None:
        write_5m = max(usage.cache_write - (write_1h or 0), 0)
    return write_5m, write_1h


def token_counts(usage: Usage) -> dict[str, int]:
    """Tokens by `anthropic.token.type`; a count the response lacks is left out."""
    write_5m, write_1h = write_split(usage)
    counts: dict[str, int] = {}
    if usage.input is not None:
        counts["input"] = usage.input
    if usage.cache_read is not None:
        counts["cache_read"] = usage.cache_read
    if write_5m is not None:
        counts["cache_write_5m"] = write_5m
    if write_1h is not None:
        counts["cache_write_1h"] = write_1h
    if usage.output is not None:
        counts["output"] = usage.output
    return counts


@functools.lru_cache(maxsize=1024)
def scaled(rates: Rates, multiplier: Fraction) -> Rates:
    """`rates` times a batch or data-residency multiplier, computed once per model and multiplier (fraction
    arithmetic costs microseconds, and every batch result or US-only call would pay it)."""
    return rates.scaled(multiplier)


def tokens_cost(rates: Rates, usage: Usage) -> tuple[dict[str, int], int]:
    """Pico-dollars by token type at `rates`, and the cache savings against the uncached input price."""
    write_5m, write_1h = write_split(usage)
    write_5m, write_1h, read = write_5m or 0, write_1h or 0, usage.cache_read or 0
    pico = {
        "input": (usage.input or 0) * rates.input,
        "cache_read": read * rates.cache_read,
        "cache_write_5m": write_5m * rates.cache_write_5m,
        "cache_write_1h": write_1h * rates.cache_write_1h,
        "output": (usage.output or 0) * rates.output,
    }
    # Reads save the difference to the input price; writes cost a premium over it. Negative when writes are
    # never read back.
    savings = (
        read * (rates.input - rates.cache_read)
        - write_5m * (rates.cache_write_5m - rates.input)
        - write_1h * (rates.cache_write_1h - rates.input)
    )
    return pico, savings


def price(
    table: PriceTable,
    model: str | None,
    usage: Usage,
    *,
    when_ns: int,
    service_tier: str | None = None,
    inference_geo: str | None = None,
    speed: str | None = None,
) -> Cost | Unpriced | None:
    """What `usage` of `model` cost on the date `when_ns` (UTC nanoseconds). `None` when it used no tokens."""
    if usage.input is None and usage.output is None:
        return None
    found = table.find(model)
    if found is None:
        return Unpriced(model or "unknown", UNKNOWN_MODEL)
    row = found.row_at(when_ns)
    if row is None:
        return Unpriced(found.name, NO_RATE_ON_DATE)
    rates, fast = row.rates, row.fast
    if row.tiers:
        prompt = usage.total_input or 0
        for tier in row.tiers:
            if prompt > tier.above_prompt_tokens:
                rates, fast = tier.rates, tier.fast or fast
    if speed == "fast":
        if fast is None:
            return Unpriced(found.name, UNKNOWN_SPEED)
        rates = fast
    elif speed not in (None, "standard"):
        return Unpriced(found.name, UNKNOWN_SPEED)
    full = rates
    if inference_geo not in (None, "global") and found.inference_geo:
        geo = table.geo_multipliers.get(inference_geo)
        if geo is None:
            return Unpriced(found.name, UNKNOWN_INFERENCE_GEO)
        full = scaled(rates, geo)
    batch = service_tier == "batch" and speed != "fast"
    pico, savings = tokens_cost(scaled(full, table.batch_multiplier) if batch else full, usage)
    batch_savings = 0
    if batch:
        batch_savings = sum(tokens_cost(full, usage)[0].values()) - sum(pico.values())
    if usage.web_search or usage.web_fetch:
        for tool, count in ((SERVER_TOOLS[0], usage.web_search), (SERVER_TOOLS[1], usage.web_fetch)):
            if count and (per_use := table.server_tools.get(tool)) is not None:
                pico[tool] = count * per_use
    note = PRIORITY_AT_STANDARD if service_tier == "priority" else None
    return Cost(pico, savings, batch_savings, note)
