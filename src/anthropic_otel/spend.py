"""`anthropic_otel.spend()`: what this process has spent so far, without a metrics backend.

It reads the in-process sums that the plugin's metrics are observed from (`metrics.Tally`), so a script or a
notebook prints the same figures a collector would receive, at the moment it asks, and the call costs a
dictionary walk, not a metrics collection. Nothing is counted when metrics are off (`metrics=False`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from . import metrics
from . import names as n
from .cost import PICO


@dataclass(frozen=True)
class Spend:
    """The process's calls, tokens, cost and savings since it was instrumented (all meters summed)."""

    calls: int = 0
    """API calls made by this process (Message Batches results are counted in `batch_cost_usd`, not here)."""
    failed_calls: int = 0
    """Calls that ended in an error, after the SDK's retries."""
    attempts: int = 0
    """HTTP attempts: one per call, plus one per retry."""
    retries_by_error: dict[str, int] = field(default_factory=dict)
    """Failed attempts the SDK retried, by `error.type` (`429`, `overloaded_error`, `APIConnectionError`, ...)."""
    tokens: dict[str, int] = field(default_factory=dict)
    """Tokens by type: input, cache_read, cache_write_5m, cache_write_1h, output."""
    cost_usd: float = 0.0
    cost_by_model: dict[str, float] = field(default_factory=dict)
    cost_by_feature: dict[str, float] = field(default_factory=dict)
    """Cost by `app.feature`; calls made outside any `attribution(feature=...)` are under ''."""
    batch_cost_usd: float = 0.0
    """What Message Batches results cost, at the batch price (included in `cost_usd`)."""
    cache_savings_usd: float = 0.0
    """What cache reads saved against the uncached price, minus the cache-write premium."""
    batch_savings_usd: float = 0.0
    """What the Message Batches results would have cost as synchronous calls, minus what they cost."""
    unpriced_calls: int = 0
    """Calls on a model the price table does not know: their tokens are counted, their cost is not."""

    @property
    def retries(self) -> int:
        return sum(self.retries_by_error.values())

    @property
    def savings_usd(self) -> float:
        return self.cache_savings_usd + self.batch_savings_usd


def spend() -> Spend:
    """What the process has spent so far, from the same sums that feed `anthropic.client.*` metrics."""
    calls = failed = attempts = unpriced = 0
    retries: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    by_model: Counter[str] = Counter()
    by_feature: Counter[str] = Counter()
    pico = {metrics.COST: 0, metrics.SAVINGS: 0, metrics.BATCH_SAVINGS: 0, "batch": 0}
    for tally in metrics.tallies():
        for name, attributes, amount in tally.snapshot():
            if name == metrics.ATTEMPTS:
                attempts += int(amount)
                if attributes.get(n.ATTEMPT_RETRIED):
                    retries[str(attributes.get(n.ERROR_TYPE, "unknown"))] += int(amount)
                else:
                    calls += int(amount)
                    failed += int(amount) if n.ERROR_TYPE in attributes else 0
            elif name == metrics.TOKENS:
                tokens[str(attributes.get(n.ANTHROPIC_TOKEN_TYPE))] += int(amount)
            elif name == metrics.COST:
                pico[name] += int(amount)
                model = attributes.get(n.RESPONSE_MODEL) or attributes.get(n.REQUEST_MODEL) or ""
                by_model[str(model)] += int(amount)
                by_feature[str(attributes.get(n.FEATURE, ""))] += int(amount)
                if attributes.get(n.BATCH):
                    pico["batch"] += int(amount)
            elif name in (metrics.SAVINGS, metrics.BATCH_SAVINGS):
                pico[name] += int(amount)
            elif name == metrics.UNPRICED:
                unpriced += int(amount)
    return Spend(
        calls=calls,
        failed_calls=failed,
        attempts=attempts,
        retries_by_error=dict(sorted(retries.items())),
        tokens=dict(sorted(tokens.items())),
        cost_usd=pico[metrics.COST] / PICO,
        cost_by_model={key: value / PICO for key, value in sorted(by_model.items())},
        cost_by_feature={key: value / PICO for key, value in sorted(by_feature.items())},
        batch_cost_usd=pico["batch"] / PICO,
        cache_savings_usd=pico[metrics.SAVINGS] / PICO,
        batch_savings_usd=pico[metrics.BATCH_SAVINGS] / PICO,
        unpriced_calls=unpriced,
    )
