"""The metrics sink: every finished call (and every HTTP attempt inside it) becomes measurements.

Attributes are low-cardinality by construction: model, provider, server, operation, `app.feature` and the extra
attribution keys the user declared; never `user.id` unless explicitly allowed.

The three histograms of the GenAI conventions are synchronous instruments, recorded per call. Everything else
(counters, the cache-savings sum, the rate-limit gauge) is summed in-process by a `Tally` and read by observable
instruments when a reader collects. Why: a synchronous `add` costs about 10 us in the OpenTelemetry SDK (it cleans
and hashes the attributes and takes a lock for every measurement) and a call makes a dozen of them, which was
most of the plugin's cost per call; adding to a dict under one lock costs well under 1 us each, and the SDK then
sees one observation per series per collection instead of one per call. Exporters see the same monotonic sums.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, Histogram, Meter, Observation

from . import names as n
from .attribution import attribute_name
from .cost import PICO, SERVER_TOOLS, TOKEN_TYPES, Cost, Unpriced, token_counts
from .extract import rate_limits

if TYPE_CHECKING:
    from .record import CallRecord

log = logging.getLogger(__name__)

# Bucket boundaries recommended by the GenAI semantic conventions.
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
FIRST_CHUNK_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]

HISTOGRAMS: tuple[tuple[str, str, str, str, list[float]], ...] = (
    # attribute, name, unit, description, advisory bucket boundaries
    ("token_usage", "gen_ai.client.token.usage", "{token}", "Input and output tokens per call", TOKEN_BUCKETS),
    (
        "duration",
        "gen_ai.client.operation.duration",
        "s",
        "Duration of a call, retries and the reading of its stream included",
        DURATION_BUCKETS,
    ),
    (
        "first_chunk",
        "gen_ai.client.operation.time_to_first_chunk",
        "s",
        "Time from the start of a streamed call to its first content chunk",
        FIRST_CHUNK_BUCKETS,
    ),
)
"""The synchronous instruments, recorded per call."""

TALLIED: tuple[tuple[str, str, str, str], ...] = (
    # observable kind, name, unit, description
    ("counter", "anthropic.client.tokens", "{token}", "Tokens by anthropic.token.type"),
    ("counter", "anthropic.client.cost", "USD", "Cost by anthropic.token.type"),
    (
        "up_down_counter",
        "anthropic.client.cache.savings",
        "USD",
        "What cache reads saved against the uncached price, minus the cache-write premium",
    ),
    (
        "counter",
        "anthropic.client.batch.savings",
        "USD",
        "What Message Batches results would have cost synchronously, minus what they cost",
    ),
    ("counter", "anthropic.client.cost.unpriced", "{call}", "Calls the price table cannot price, by reason"),
    ("counter", "anthropic.client.server_tool.requests", "{request}", "Server-tool uses, by anthropic.server_tool"),
    ("counter", "anthropic.client.attempts", "{attempt}", "Every HTTP attempt, retried or not"),
    (
        "counter",
        "anthropic.client.token_anomalies",
        "{call}",
        "Requests whose input tokens exceed factor x the running average for their model and feature",
    ),
    ("counter", "anthropic.client.stop_reasons", "{call}", "Calls by anthropic.message.stop_reason"),
    (
        "gauge",
        "anthropic.ratelimit.headroom",
        "1",
        "Share of the rate limit left (remaining / limit) in the latest response, by anthropic.ratelimit.kind",
    ),
    ("gauge", "anthropic.ratelimit.limit", "", "The rate limit in the latest response, by anthropic.ratelimit.kind"),
    (
        "gauge",
        "anthropic.ratelimit.remaining",
        "",
        "What is left of the rate limit in the latest response, by anthropic.ratelimit.kind",
    ),
)
"""The instruments read from the `Tally`: every other metric."""

(
    TOKENS,
    COST,
    SAVINGS,
    BATCH_SAVINGS,
    UNPRICED,
    SERVER_TOOL_REQUESTS,
    ATTEMPTS,
    ANOMALIES,
    STOP_REASONS,
    HEADROOM,
    LIMIT,
    REMAINING,
) = (name for _, name, _, _ in TALLIED)
RATE_LIMIT_GAUGES = frozenset({HEADROOM, LIMIT, REMAINING})

IN_PICO = frozenset({COST, SAVINGS, BATCH_SAVINGS})
"""The money sums, kept in pico-dollars and reported in USD."""

NO_TRACE = trace.set_span_in_context(trace.INVALID_SPAN)
"""The context of the points but the duration's: no span, so no exemplar. The OpenTelemetry SDK's default exemplar
filter offers every point recorded in a sampled span's context to a reservoir (the application's span, when the
call runs inside one), at a cost on every call; the duration's exemplar is the one that links the dashboard's
latency panel to the call's trace."""

MAX_SERIES = 2000
"""Attribute sets kept per tally (model, feature, ...); later ones are summed into one `otel.metric.overflow=true`
set, as the SDK does with its own cardinality limit."""
GAUGE_TTL = 900.0
"""Seconds after which a rate-limit series that no response has updated stops being reported (a model or a
feature no longer in use must not keep its last headroom forever)."""

Key = tuple[tuple[str, Any], ...]
"""Attributes as (name, value) pairs in a fixed order."""
Sum = tuple[str, Key]
"""A sum of a series: (instrument name, the attributes it adds to the series' own)."""
OVERFLOW: Key = ((n.OVERFLOW, True),)
NO_EXTRA: Key = ()
TOKEN_SUMS: dict[str, Sum] = {kind: (TOKENS, ((n.ANTHROPIC_TOKEN_TYPE, kind),)) for kind in TOKEN_TYPES}
COST_SUMS: dict[str, Sum] = {kind: (COST, ((n.ANTHROPIC_TOKEN_TYPE, kind),)) for kind in (*TOKEN_TYPES, *SERVER_TOOLS)}
SERVER_TOOL_SUMS: dict[str, Sum] = {tool: (SERVER_TOOL_REQUESTS, ((n.SERVER_TOOL, tool),)) for tool in SERVER_TOOLS}
SAVINGS_SUM: Sum = (SAVINGS, NO_EXTRA)
BATCH_SAVINGS_SUM: Sum = (BATCH_SAVINGS, NO_EXTRA)
ANOMALIES_SUM: Sum = (ANOMALIES, NO_EXTRA)
"""The sums a call adds to, made once: a call then hands the tally ready keys rather than building them."""


@functools.lru_cache(maxsize=256)
def stop_reason_sum(stop_reason: str) -> Sum:
    return (STOP_REASONS, ((n.STOP_REASON, stop_reason),))


@functools.lru_cache(maxsize=64)
def unpriced_sum(reason: str) -> Sum:
    return (UNPRICED, ((n.UNPRICED_REASON, reason),))


@functools.lru_cache(maxsize=256)
def attempt_sum(retried: bool, status_code: int | None, error_type: str | None) -> Sum:
    """The `anthropic.client.attempts` sum of one kind of attempt (a handful of distinct ones in a process)."""
    extra: Key = ((n.ATTEMPT_RETRIED, retried),)
    if status_code is not None:
        extra += ((n.STATUS_CODE, status_code),)
    if error_type is not None:
        extra += ((n.ERROR_TYPE, error_type),)
    return (ATTEMPTS, extra)


class Tally:
    """Cumulative sums per series, added to by calls, read by observable instruments.

    Series are grouped by the attributes every measurement of a call shares (`base`), so a call hashes those
    once; each sum is then keyed by (instrument, extra attributes). The rate-limit gauges keep only the headers
    of the latest response per base, and reads them when a reader collects.
    """

    def __init__(self, *, max_series: int = MAX_SERIES, gauge_ttl: float = GAUGE_TTL) -> None:
        self.max_series = max_series
        self.gauge_ttl = gauge_ttl
        self.lock = threading.Lock()
        self.sums: dict[Key, dict[Sum, int | float]] = {}
        self.headers: dict[Key, tuple[Any, float]] = {}
        """Limits key (provider, model, server: the organisation's limits, whatever the feature) -> (headers of the
        latest response, monotonic time it arrived)."""

    def add(
        self,
        base: Key,
        updates: Sequence[tuple[Sum, int | float]],
        headers: Any = None,
        limits: Key = NO_EXTRA,
    ) -> None:
        """Adds each (sum, amount) of one call, under one lock."""
        with self.lock:
            sums = self.sums.get(base)
            if sums is None:
                if len(self.sums) >= self.max_series:
                    base, headers = OVERFLOW, None
                sums = self.sums.setdefault(base, {})
            for key, amount in updates:
                sums[key] = sums.get(key, 0) + amount
            if headers is not None:
                self.headers[limits] = (headers, time.monotonic())

    def snapshot(self) -> list[tuple[str, dict[str, Any], int | float]]:
        """Every sum as (instrument name, attributes, amount; money in pico-dollars), read under the lock: what
        the observable instruments would report now, for `anthropic_otel.spend()`."""
        with self.lock:
            return [
                (name, dict(base + extra), value)
                for base, sums in self.sums.items()
                for (name, extra), value in sums.items()
            ]

    def observer(self, name: str) -> Callable[[CallbackOptions], Iterator[Observation]]:
        def observe(options: CallbackOptions) -> Iterator[Observation]:
            if name in RATE_LIMIT_GAUGES:
                return iter(self.rate_limits(name))
            with self.lock:
                found = [
                    (base + extra, value)
                    for base, sums in self.sums.items()
                    for (instrument, extra), value in sums.items()
                    if instrument == name
                ]
            if name in IN_PICO:  # summed in whole pico-dollars, so that a million calls do not drift
                return iter([Observation(value / PICO, dict(attributes)) for attributes, value in found])
            return iter([Observation(value, dict(attributes)) for attributes, value in found])

        return observe

    def rate_limits(self, name: str) -> list[Observation]:
        """The rate-limit gauge `name` from the latest headers of each limits key, per kind."""
        cutoff = time.monotonic() - self.gauge_ttl
        with self.lock:
            for key in [key for key, (_, when) in self.headers.items() if when < cutoff]:
                del self.headers[key]
            latest = [(key, headers) for key, (headers, _) in self.headers.items()]
        observations = []
        for key, headers in latest:
            found = rate_limits(headers)
            kinds = {header.rpartition("-")[0] for header in found}
            for kind in sorted(kinds):
                limit, remaining = found.get(f"{kind}-limit"), found.get(f"{kind}-remaining")
                value = {LIMIT: limit, REMAINING: remaining}.get(name)
                if name == HEADROOM and limit and remaining is not None:
                    value = min(remaining / limit, 1.0)
                if value is not None:
                    observations.append(Observation(value, {**dict(key), n.RATELIMIT_KIND: kind}))
        return observations


TALLIES: weakref.WeakKeyDictionary[Any, Tally] = weakref.WeakKeyDictionary()
"""One tally per meter. An observable instrument is registered once per meter, with its callbacks: a second
`instrument()` on the same meter gets the same instruments back, so it must feed the same tally."""


def tallies() -> list[Tally]:
    """The tally of every meter the plugin measures with, while that meter lives."""
    return list(TALLIES.values())


def tally_for(meter: Meter) -> Tally:
    tally = TALLIES.get(meter)
    if tally is None:
        tally = TALLIES[meter] = Tally()
        for kind, name, unit, description in TALLIED:
            create = getattr(meter, f"create_observable_{kind}")
            create(name, callbacks=[tally.observer(name)], unit=unit, description=description)
    return tally


@dataclass(slots=True, frozen=True)
class Series:
    """The attribute sets of every measurement of a call, for calls alike in provider, models, server and
    low-cardinality attribution: built once per such shape, then shared (the SDK copies what it keeps)."""

    key: Key
    """The tally's base key: the attributes as (name, value) pairs in a fixed order."""
    limits: Key
    """The key of the rate-limit gauges: provider, model and server, not the attribution (the headers describe
    the organisation's limits)."""
    base: dict[str, Any]
    input: dict[str, Any]
    output: dict[str, Any]


MAX_SHAPES = 1024
"""Series kept per sink; a workload with more shapes than that starts the cache over."""


class MetricsSink:
    token_usage: Histogram
    duration: Histogram
    first_chunk: Histogram

    def __init__(
        self,
        meter: Meter,
        *,
        extra_keys: Sequence[str] = (),
        include_user_id: bool = False,
    ) -> None:
        self.allowed = {n.FEATURE, *(attribute_name(key) for key in extra_keys)}
        if include_user_id:
            self.allowed.add(n.USER_ID)
        self.warned: set[str] = set()
        for attribute, name, unit, description, buckets in HISTOGRAMS:
            histogram = meter.create_histogram(
                name, unit=unit, description=description, explicit_bucket_boundaries_advisory=buckets
            )
            setattr(self, attribute, histogram)
        self.tally = tally_for(meter)
        self.shapes: dict[tuple[Any, ...], Series] = {}

    def series(self, record: CallRecord) -> Series:
        """The `Series` of `record`'s shape. The shape leaves out the attribution that is not on the metrics
        (`user.id`, unless allowed): with it, an application with more users than `MAX_SHAPES` would build the
        same series again on almost every call."""
        shape: tuple[Any, ...] = (
            record.provider,
            record.request.model,
            record.response.model,
            record.server_address,
            record.batch,
        )
        if record.attribution:
            allowed = self.allowed
            shape += tuple([item for item in record.attribution.items() if item[0] in allowed])
        found = self.shapes.get(shape)
        if found is None:
            base = self.base_attributes(record)
            limits = tuple(
                (name, value)
                for name, value in base.items()
                if name in (n.PROVIDER, n.REQUEST_MODEL, n.RESPONSE_MODEL, n.SERVER_ADDRESS)
            )
            found = Series(
                tuple(base.items()),
                limits,
                base,
                {**base, n.TOKEN_TYPE: "input"},
                {**base, n.TOKEN_TYPE: "output"},
            )
            if len(self.shapes) >= MAX_SHAPES:
                self.shapes.clear()
            self.shapes[shape] = found
        return found

    def base_attributes(self, record: CallRecord) -> dict[str, Any]:
        """The attributes of every measurement of `record`, in a fixed order (they key the tally's series)."""
        attributes: dict[str, Any] = {n.OPERATION: "chat", n.PROVIDER: record.provider}
        if (model := record.request.model) is not None:
            attributes[n.REQUEST_MODEL] = model
        if (model := record.response.model) is not None:
            attributes[n.RESPONSE_MODEL] = model
        if record.server_address is not None:
            attributes[n.SERVER_ADDRESS] = record.server_address
        if record.batch:
            attributes[n.BATCH] = True
        attributes.update(self.low_cardinality(record.attribution))
        return attributes

    def low_cardinality(self, values: Mapping[str, str]) -> list[tuple[str, str]]:
        return sorted((key, value) for key, value in values.items() if key in self.allowed)

    def __call__(self, record: CallRecord) -> None:
        """Records `record`. Never raises (`Telemetry.finish` guards each sink)."""
        series = self.series(record)
        usage = record.response.usage
        updates = [(TOKEN_SUMS[kind], count) for kind, count in token_counts(usage).items()]
        if usage.web_search or usage.web_fetch:
            for tool, count in ((SERVER_TOOLS[0], usage.web_search), (SERVER_TOOLS[1], usage.web_fetch)):
                if count:
                    updates.append((SERVER_TOOL_SUMS[tool], count))
        cost = record.cost
        if isinstance(cost, Cost):
            for kind, amount in cost.pico.items():
                if amount:
                    updates.append((COST_SUMS[kind], amount))
            if cost.savings_pico:
                updates.append((SAVINGS_SUM, cost.savings_pico))
            if cost.batch_savings_pico:
                updates.append((BATCH_SAVINGS_SUM, cost.batch_savings_pico))
        elif isinstance(cost, Unpriced):
            updates.append((unpriced_sum(cost.reason), 1))
            self.warn_unpriced(cost)
        if record.batch:  # a call made on Anthropic's side: no duration, no attempts of ours
            self.tally.add(series.key, updates)
            return

        if usage.total_input is not None:
            self.token_usage.record(usage.total_input, series.input, context=NO_TRACE)
        if usage.output is not None:
            self.token_usage.record(usage.output, series.output, context=NO_TRACE)
        base = series.base
        # The call's span as the context: the duration point's exemplar links the latency panel to the trace.
        self.duration.record(
            record.duration,
            base if record.error_type is None else {**base, n.ERROR_TYPE: record.error_type},
            context=record.span.context() if record.span is not None else NO_TRACE,
        )
        if record.time_to_first_chunk is not None:
            self.first_chunk.record(record.time_to_first_chunk, base, context=NO_TRACE)
        if record.response.stop_reason is not None:
            updates.append((stop_reason_sum(record.response.stop_reason), 1))
        for attempt in record.attempts:
            updates.append((attempt_sum(attempt.retried, attempt.status_code, attempt.error_type), 1))
        # Counted from a series' first call, at 0 until an anomaly: a counter that first appears at 1 has no
        # `increase()` in Prometheus, so the alert would miss the first anomaly of every model and feature.
        updates.append((ANOMALIES_SUM, 0 if record.anomaly is None else 1))
        self.tally.add(series.key, updates, record.headers, series.limits)

    def warn_unpriced(self, unpriced: Unpriced) -> None:
        key = f"{unpriced.model}/{unpriced.reason}"
        if key not in self.warned and len(self.warned) < 100:
            self.warned.add(key)
            log.warning(
                "anthropic_otel: no price for model %r (%s); its calls record no cost. Add it to a price file "
                "(ANTHROPIC_OTEL_PRICES): see README, 'Extending the price table'",
                unpriced.model,
                unpriced.reason,
            )
