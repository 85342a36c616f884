"""The metrics sink: every finished call (and every HTTP attempt inside it) becomes measurements.

Instruments are created once. Attributes are low-cardinality by construction: model, provider, server, operation,
`app.feature` and the extra attribution keys the user declared; never `user.id` unless explicitly allowed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.metrics import Counter, Histogram, Meter, UpDownCounter, _Gauge
from opentelemetry.util.types import AttributeValue

from .attribution import FEATURE, USER_ID, attribute_name
from .cost import Cost, PriceTable, cost_of, token_counts
from .extract import ResponseFields

if TYPE_CHECKING:
    from .call import CallRecord

log = logging.getLogger(__name__)

# Bucket boundaries recommended by the GenAI semantic conventions.
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
FIRST_CHUNK_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]


INSTRUMENTS: tuple[tuple[str, str, str, str, str, list[float] | None], ...] = (
    # attribute, instrument kind, name, unit, description, advisory bucket boundaries
    (
        "token_usage",
        "histogram",
        "gen_ai.client.token.usage",
        "{token}",
        "Input and output tokens per call",
        TOKEN_BUCKETS,
    ),
    (
        "duration",
        "histogram",
        "gen_ai.client.operation.duration",
        "s",
        "Duration of a call, retries and the reading of its stream included",
        DURATION_BUCKETS,
    ),
    (
        "first_chunk",
        "histogram",
        "gen_ai.client.operation.time_to_first_chunk",
        "s",
        "Time from the start of a streamed call to its first content chunk",
        FIRST_CHUNK_BUCKETS,
    ),
    ("tokens", "counter", "anthropic.client.tokens", "{token}", "Tokens by anthropic.token.type", None),
    ("cost", "counter", "anthropic.client.cost", "USD", "Cost by anthropic.token.type", None),
    (
        "savings",
        "up_down_counter",
        "anthropic.client.cache.savings",
        "USD",
        "What cache reads saved against the uncached price, minus the cache-write premium",
        None,
    ),
    ("unpriced", "counter", "anthropic.client.cost.unpriced", "{call}", "Calls whose model has no price", None),
    ("attempts", "counter", "anthropic.client.attempts", "{attempt}", "Every HTTP attempt, retried or not", None),
    (
        "anomalies",
        "counter",
        "anthropic.client.token_anomalies",
        "{call}",
        "Requests whose input tokens exceed factor x the running average for their model and feature",
        None,
    ),
    (
        "rate_limit",
        "gauge",
        "anthropic.ratelimit.headroom",
        "1",
        "Rate-limit headers of the latest response, by anthropic.ratelimit.kind and .side",
        None,
    ),
    (
        "stop_reasons",
        "counter",
        "anthropic.client.stop_reasons",
        "{call}",
        "Calls by anthropic.message.stop_reason",
        None,
    ),
)
"""Every instrument, created once per `instrument()`."""


class MetricsSink:
    token_usage: Histogram
    duration: Histogram
    first_chunk: Histogram
    tokens: Counter
    cost: Counter
    savings: UpDownCounter
    unpriced: Counter
    attempts: Counter
    anomalies: Counter
    rate_limit: _Gauge  # the API exports the synchronous gauge under this name only
    stop_reasons: Counter

    def __init__(
        self,
        meter: Meter,
        *,
        extra_keys: Sequence[str] = (),
        include_user_id: bool = False,
    ) -> None:
        self.allowed = {FEATURE, *(attribute_name(key) for key in extra_keys)}
        if include_user_id:
            self.allowed.add(USER_ID)
        self.warned: set[str] = set()
        for attribute, kind, name, unit, description, buckets in INSTRUMENTS:
            advisory = {"explicit_bucket_boundaries_advisory": buckets} if buckets else {}
            create = getattr(meter, f"create_{kind}")
            setattr(self, attribute, create(name, unit=unit, description=description, **advisory))

    def base_attributes(self, record: CallRecord) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": record.provider,
        }
        optional = {
            "gen_ai.request.model": record.request.model,
            "gen_ai.response.model": record.response.model,
            "server.address": record.server_address,
        }
        attributes.update({key: value for key, value in optional.items() if value is not None})
        attributes.update(self.low_cardinality(record.attribution))
        return attributes

    def low_cardinality(self, values: Mapping[str, str]) -> dict[str, str]:
        return {key: value for key, value in values.items() if key in self.allowed}

    def __call__(self, record: CallRecord, span: Any) -> None:
        """Records `record`. Never raises (the span sink guards each finisher)."""
        base = self.base_attributes(record)
        usage = record.response.usage
        if usage.total_input is not None:
            self.token_usage.record(usage.total_input, {**base, "gen_ai.token.type": "input"})
        if usage.output is not None:
            self.token_usage.record(usage.output, {**base, "gen_ai.token.type": "output"})
        duration_attributes = base if record.error_type is None else {**base, "error.type": record.error_type}
        self.duration.record(record.duration, duration_attributes)
        if record.time_to_first_chunk is not None:
            self.first_chunk.record(record.time_to_first_chunk, base)
        for kind, count in token_counts(usage).items():
            self.tokens.add(count, {**base, "anthropic.token.type": kind})
        if record.response.stop_reason is not None:
            self.stop_reasons.add(1, {**base, "anthropic.message.stop_reason": record.response.stop_reason})
        for attempt in record.attempts:
            attributes: dict[str, AttributeValue] = {**base, "anthropic.attempt.retried": attempt.retried}
            if attempt.status_code is not None:
                attributes["http.response.status_code"] = attempt.status_code
            if attempt.error_type is not None:
                attributes["error.type"] = attempt.error_type
            self.attempts.add(1, attributes)
        self.record_cost(record, base)
        if record.anomaly is not None:
            self.anomalies.add(1, base)
        for key, value in record.rate_limits.items():
            kind, _, side = key.rpartition("-")
            self.rate_limit.set(value, {**base, "anthropic.ratelimit.kind": kind, "anthropic.ratelimit.side": side})

    def batch_result(self, fields: ResponseFields, attribution: Mapping[str, str], prices: PriceTable) -> None:
        """Meters one succeeded Message Batches result: its tokens and what it cost at the batch price."""
        base: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "anthropic.batch": True,
            **self.low_cardinality(attribution),
        }
        if fields.model is not None:
            base["gen_ai.request.model"] = base["gen_ai.response.model"] = fields.model
        for kind, count in token_counts(fields.usage).items():
            self.tokens.add(count, {**base, "anthropic.token.type": kind})
        price = prices.find(fields.model)
        if price is None:
            self.unpriced.add(1, base)
            return
        geo = prices.geo_multipliers.get(fields.inference_geo or "", 1.0)
        cost = cost_of(
            price,
            fields.usage,
            service_tier=fields.service_tier,
            batch_multiplier=prices.batch_multiplier,
            geo_multiplier=geo,
        )
        self.add_cost(cost, base)

    def record_cost(self, record: CallRecord, base: dict[str, AttributeValue]) -> None:
        if record.unpriced_model is not None:
            self.unpriced.add(1, base)
            if record.unpriced_model not in self.warned and len(self.warned) < 100:
                self.warned.add(record.unpriced_model)
                log.warning("anthropic_otel: no price for model %r; its calls record no cost", record.unpriced_model)
        if record.cost is not None:
            self.add_cost(record.cost, base)

    def add_cost(self, cost: Cost, base: dict[str, AttributeValue]) -> None:
        for kind, amount in cost.by_type.items():
            if amount:
                self.cost.add(amount, {**base, "anthropic.token.type": kind})
        if cost.savings:
            self.savings.add(cost.savings, base)
