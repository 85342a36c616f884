"""The report: every figure computed from the telemetry a run emitted, never from the demo's own counts.

Inputs are what the in-process readers hold: the last collection of the `InMemoryMetricReader` (`Point`s), the
collections taken through the day (for the alerts) and the finished spans. Spend, savings, tokens, errors, retries
and stop reasons come from the metrics; latency percentiles, time to first token, anomalies and example trace ids
from the spans, which carry the exact durations and the trace ids that the metrics do not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from .. import names as n
from ..cost import PICO
from ..ops.alerts import SIGNALS, Params, parse_duration
from ..prices import PriceTable, default_table
from . import plan
from .alerting import Firing, evaluate, shown
from .pipeline import Histogram, Point, Sample

CASE_STUDY = {"caching": 25.0, "batching": 50.0, "input_validation": 10.0, "total": 35.0}
"""The case study's savings, in percent: caching on the chat requests, batching on the nightly job, input
validation on the ticket summaries, and the whole bill."""
LEVERS = {
    "caching": plan.CHAT_FEATURES,
    "batching": (plan.JOB_FEATURE,),
    "input_validation": (plan.SUMMARY_FEATURE,),
}
"""The features each lever changes: its saving is what those features' spend fell by."""
MASKED_NOTE = (
    "Retries hide these failures from the error rate, not from the bill: each costs latency and rate-limit quota, "
    "and a steady 10% absorbed by retries is a systematic fault that surfaces all at once when the retries run out."
)
SIGNAL_LABELS = {
    "error_ratio": "failed calls",
    "masked_error_ratio": "retried attempts per call",
    "spend_usd": "spend",
    "spend_burn_rate": "burn rate",
    "token_anomalies": "anomalous requests",
    "max_tokens_ratio": "responses cut at max_tokens",
    "ratelimit_headroom_min": "rate-limit headroom",
    "duration_p95_seconds": "p95 call duration",
    "unpriced_calls": "unpriced calls",
}
assert set(SIGNAL_LABELS) == set(SIGNALS)


@dataclass
class RunData:
    """What one run's in-process readers hold at its end."""

    run: str
    duration: int
    points: list[Point]
    samples: list[Sample]
    spans: list[ReadableSpan]


# -- metrics ----------------------------------------------------------------------------------------------------------


def total(points: Iterable[Point], name: str, where: Callable[[Point], bool] = lambda point: True) -> float:
    return sum(
        point.value
        for point in points
        if point.name == name and where(point) and not isinstance(point.value, Histogram)
    )  # type: ignore[misc]


def calls_of(points: Iterable[Point], where: Callable[[Point], bool] = lambda point: True) -> int:
    return sum(
        point.value.count
        for point in points
        if point.name == "gen_ai.client.operation.duration" and isinstance(point.value, Histogram) and where(point)
    )


def model_of(point: Point) -> str:
    return str(point.get(n.RESPONSE_MODEL) or point.get(n.REQUEST_MODEL) or "")


def by(points: Iterable[Point], name: str, key: Callable[[Point], str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for point in points:
        if point.name == name and not isinstance(point.value, Histogram):
            found[key(point)] = found.get(key(point), 0.0) + point.value
    return dict(sorted(found.items()))


def usd(value: float) -> float:
    """Dollars to the pico-dollar the plugin sums in."""
    return round(value, 12)


def spend_of(points: Sequence[Point], features: Sequence[str] | None = None) -> float:
    return usd(
        total(points, "anthropic.client.cost", lambda point: features is None or point.get(n.FEATURE) in features)
    )


def saving(before: float, after: float) -> dict[str, float]:
    saved = before - after
    return {"usd": usd(saved), "percent": round(saved / before * 100, 2) if before else 0.0}


def write_premium(points: Sequence[Point], prices: PriceTable) -> float:
    """What the cache writes cost above the uncached input price, from the write tokens and the price table."""
    pico = 0
    now = time.time_ns()
    for point in points:
        kind = point.get(n.ANTHROPIC_TOKEN_TYPE)
        if point.name != "anthropic.client.tokens" or kind not in ("cache_write_5m", "cache_write_1h"):
            continue
        found = prices.find(model_of(point))
        row = found.row_at(now) if found else None
        if row is None:
            continue
        rates = row.rates
        premium = (rates.cache_write_5m if kind == "cache_write_5m" else rates.cache_write_1h) - rates.input
        if point.get(n.BATCH):
            premium //= 2
        pico += int(point.value) * premium
    return usd(pico / PICO)


def tokens_by_type(points: Sequence[Point], features: Sequence[str] | None = None) -> dict[str, int]:
    found: dict[str, int] = {}
    for point in points:
        if point.name == "anthropic.client.tokens" and (features is None or point.get(n.FEATURE) in features):
            kind = str(point.get(n.ANTHROPIC_TOKEN_TYPE))
            found[kind] = found.get(kind, 0) + int(point.value)  # type: ignore[arg-type]
    return dict(sorted(found.items()))


# -- spans ------------------------------------------------------------------------------------------------------------


def call_spans(spans: Iterable[ReadableSpan]) -> list[ReadableSpan]:
    return [span for span in spans if span.name == n.SPAN_NAME and span.attributes is not None]


def trace_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


def seconds_of(span: ReadableSpan) -> int | None:
    """The simulated time of day the call was made at (`app.day_time`, set by the demo's attribution)."""
    value = (span.attributes or {}).get("app.day_time")
    if not isinstance(value, str) or ":" not in value:
        return None
    hours, minutes = value.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile: a value that was measured, not interpolated."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)]


def latency(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    durations = [
        (span.end_time - span.start_time) / 1e9 for span in spans if span.end_time and span.start_time is not None
    ]
    first = [
        float(value)
        for span in spans
        if isinstance(value := (span.attributes or {}).get(n.TIME_TO_FIRST_CHUNK), (int, float))
    ]
    return {
        "seconds": {f"p{q}": percentile(durations, q) for q in (50, 95, 99)},
        "time_to_first_token_seconds": {f"p{q}": percentile(first, q) for q in (50, 95, 99)},
        "streamed_calls": len(first),
    }


def anomalies(run: str, spans: Sequence[ReadableSpan]) -> list[dict[str, Any]]:
    found = []
    for span in spans:
        for event in span.events:
            if event.name == n.ANOMALY_EVENT:
                attributes = event.attributes or {}
                found.append(
                    {
                        "run": run,
                        "trace_id": trace_id(span),
                        "at": (span.attributes or {}).get("app.day_time"),
                        "feature": (span.attributes or {}).get(n.FEATURE),
                        "model": (span.attributes or {}).get(n.REQUEST_MODEL),
                        "input_tokens": attributes.get(n.ANOMALY_TOKENS),
                        "average_tokens": round(float(attributes.get(n.ANOMALY_AVERAGE, 0.0)), 1),
                        "factor": attributes.get(n.ANOMALY_FACTOR),
                    }
                )
    return sorted(found, key=lambda item: (str(item["at"]), item["trace_id"]))


# -- alerts -----------------------------------------------------------------------------------------------------------


def matches(signal: str, span: ReadableSpan, group: dict[str, str]) -> bool:
    attributes = span.attributes or {}
    events = {event.name for event in span.events}
    if signal == "error_ratio":
        return n.ERROR_TYPE in attributes
    if signal == "masked_error_ratio":
        return n.RETRY_EVENT in events and n.ERROR_TYPE not in attributes
    if signal == "token_anomalies":
        return n.ANOMALY_EVENT in events and all(
            attributes.get(key) == value for key, value in group.items() if key in (n.FEATURE, n.REQUEST_MODEL)
        )
    if signal == "max_tokens_ratio":
        return "max_tokens" in (attributes.get(n.FINISH_REASONS) or ())
    if signal == "ratelimit_headroom_min":
        return n.RETRY_EVENT in events or n.ERROR_TYPE in attributes
    if signal == "unpriced_calls":
        return n.UNPRICED in attributes
    return True  # spend, burn rate, latency: the most expensive or slowest call is the example


def example(firing: Firing, params: Params, spans: Sequence[ReadableSpan]) -> str | None:
    """The trace id of a call that shows why `firing` fired: in its window, the dearest (spend), the slowest
    (latency), or one that failed, retried, was cut or was anomalous, as the alert's signal says."""
    alert = firing.alert
    windows = alert.windows_in(params)
    window = parse_duration(windows[0]) // 1000 if windows else 300
    group = dict(firing.group)
    timed = [(seconds_of(span), span) for span in spans]
    candidates = [
        span for at, span in timed if at is not None and at <= firing.fired_at and matches(alert.signal, span, group)
    ]
    if not candidates:
        return None
    recent = [span for span in candidates if (seconds_of(span) or 0) >= firing.fired_at - window] or candidates
    if alert.signal in ("spend_usd", "spend_burn_rate"):
        chosen = max(recent, key=lambda span: float((span.attributes or {}).get(n.COST_USD, 0.0)))  # type: ignore[arg-type]
    elif alert.signal == "duration_p95_seconds":
        chosen = max(recent, key=lambda span: (span.end_time or 0) - (span.start_time or 0))
    else:
        chosen = recent[-1] if recent is not candidates else candidates[-1]
    return trace_id(chosen)


def alert_entries(data: RunData, params: Params, spans: Sequence[ReadableSpan]) -> list[dict[str, Any]]:
    from .driver import day_time

    entries: list[dict[str, Any]] = []
    episodes: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}
    for firing in evaluate(data.samples, data.duration, params):
        alert = firing.alert
        known = episodes.get((alert.name, firing.group))
        if known is not None:  # the first episode is reported; later ones are counted
            known["episodes"] += 1
            continue
        threshold = alert.threshold_in(params)
        windows = alert.windows_in(params)
        over = f" over {' and '.join(windows)}" if windows else ""
        labels = ", ".join(f"{value}" for _, value in firing.group if value)
        reason = (
            f"{SIGNAL_LABELS[alert.signal]}{f' ({labels})' if labels else ''} {shown(alert, firing.value)} "
            f"{alert.op} {shown(alert, threshold)}{over}, for {alert.for_in(params)}"
        )
        entries.append(
            {
                "name": alert.name,
                "run": data.run,
                "severity": alert.severity,
                "fired_at": day_time(firing.fired_at),
                "fired_at_seconds": firing.fired_at,
                "resolved_at": None if firing.resolved_at is None else day_time(firing.resolved_at),
                "value": firing.value,
                "threshold": threshold,
                "labels": dict(firing.group),
                "reason": reason,
                "trace_id": example(firing, params, spans),
                "episodes": 1,
            }
        )
        episodes[alert.name, firing.group] = entries[-1]
    return entries


# -- the whole report -------------------------------------------------------------------------------------------------


def reliability(points: Sequence[Point], spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    calls = calls_of(points)
    failed = calls_of(points, lambda point: point.get(n.ERROR_TYPE) is not None)
    retried = total(points, "anthropic.client.attempts", lambda point: point.get(n.ATTEMPT_RETRIED) is True)
    retries = by(
        [point for point in points if point.get(n.ATTEMPT_RETRIED) is True],
        "anthropic.client.attempts",
        lambda point: str(point.get(n.ERROR_TYPE, point.get(n.STATUS_CODE, "unknown"))),
    )
    failed_by = {}
    for point in points:
        if point.name == "gen_ai.client.operation.duration" and isinstance(point.value, Histogram):
            kind = point.get(n.ERROR_TYPE)
            if kind is not None:
                failed_by[str(kind)] = failed_by.get(str(kind), 0) + point.value.count
    stops = {
        key: int(value)
        for key, value in by(points, "anthropic.client.stop_reasons", lambda p: str(p.get(n.STOP_REASON))).items()
    }
    stopped = sum(stops.values())
    return {
        "calls": calls,
        "failed_calls": failed,
        "error_rate": failed / calls if calls else 0.0,
        "retried_attempts": int(retried),
        "masked_error_rate": retried / calls if calls else 0.0,
        "retries_by_error_type": {key: int(value) for key, value in retries.items()},
        "failed_by_error_type": dict(sorted(failed_by.items())),
        "stop_reasons": stops,
        "max_tokens_share": stops.get("max_tokens", 0) / stopped if stopped else 0.0,
        **latency(spans),
    }


def run_summary(data: RunData) -> dict[str, Any]:
    points = data.points
    return {
        "spend_usd": spend_of(points),
        "by_feature": {
            key: usd(value)
            for key, value in by(points, "anthropic.client.cost", lambda p: str(p.get(n.FEATURE, ""))).items()
        },
        "by_model": {key: usd(value) for key, value in by(points, "anthropic.client.cost", model_of).items()},
        "tokens": tokens_by_type(points),
        "cache_savings_usd": usd(total(points, "anthropic.client.cache.savings")),
        "batch_savings_usd": usd(total(points, "anthropic.client.batch.savings")),
        "token_anomalies": int(total(points, "anthropic.client.token_anomalies")),
    }


def build(
    before: RunData, after: RunData, *, params: Params, seed: int, prices: PriceTable | None = None
) -> dict[str, Any]:
    """The report of the two runs of the day, as the JSON `--json` writes (the terminal tables show the same)."""
    prices = prices or default_table()
    runs = {"before": run_summary(before), "after": run_summary(after)}
    savings = {
        lever: {
            **saving(spend_of(before.points, features), spend_of(after.points, features)),
            "features": list(features),
            "before_usd": spend_of(before.points, features),
            "after_usd": spend_of(after.points, features),
            "case_study_percent": CASE_STUDY[lever],
        }
        for lever, features in LEVERS.items()
    }
    savings["total"] = {
        **saving(runs["before"]["spend_usd"], runs["after"]["spend_usd"]),
        "before_usd": runs["before"]["spend_usd"],
        "after_usd": runs["after"]["spend_usd"],
        "case_study_percent": CASE_STUDY["total"],
    }
    cached = tokens_by_type(after.points, plan.CHAT_FEATURES)
    read = cached.get("cache_read", 0)
    written = cached.get("cache_write_5m", 0) + cached.get("cache_write_1h", 0)
    before_spans, after_spans = call_spans(before.spans), call_spans(after.spans)
    both = [*before.points, *after.points]
    report: dict[str, Any] = {
        "seed": seed,
        "duration_seconds": before.duration,
        "spend_usd": {"before": runs["before"]["spend_usd"], "after": runs["after"]["spend_usd"]},
        "spend_by_feature": {
            feature: {
                "before": runs["before"]["by_feature"].get(feature, 0.0),
                "after": runs["after"]["by_feature"].get(feature, 0.0),
            }
            for feature in sorted({*runs["before"]["by_feature"], *runs["after"]["by_feature"]})
        },
        "spend_by_model": {
            model: {
                "before": runs["before"]["by_model"].get(model, 0.0),
                "after": runs["after"]["by_model"].get(model, 0.0),
            }
            for model in sorted({*runs["before"]["by_model"], *runs["after"]["by_model"]})
        },
        "savings": savings,
        "cache": {
            "hit_ratio": read / (read + written) if read + written else 0.0,
            "read_tokens": read,
            "write_tokens": written,
            "write_premium_usd": write_premium(after.points, prices),
            "savings_usd": runs["after"]["cache_savings_usd"],
        },
        "batch": {
            "saved_usd": runs["after"]["batch_savings_usd"],
            "cost_usd": usd(total(after.points, "anthropic.client.cost", lambda point: point.get(n.BATCH) is True)),
        },
        "reliability": {
            **reliability(both, [*before_spans, *after_spans]),
            "note": MASKED_NOTE,
            "by_run": {
                "before": reliability(before.points, before_spans),
                "after": reliability(after.points, after_spans),
            },
        },
        "anomalies": [*anomalies("before", before_spans), *anomalies("after", after_spans)],
        "alerts": [*alert_entries(before, params, before_spans), *alert_entries(after, params, after_spans)],
        "alert_params": {"budget_usd": params.budget_usd, "time_scale": params.time_scale},
        "runs": runs,
    }
    return report
