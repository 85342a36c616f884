"""Which of the bundled alerts a run would have fired, evaluated in Python from the same alert definitions
(`ops.alerts.ALERTS`) that the Prometheus and Grafana rules are rendered from.

The run's collections (`pipeline.Sample`) are laid out as Prometheus would store a scrape every minute: each
series has a sample per minute from its first collection on (a gauge only while it is reported). Each alert's
`signal` is then computed as its PromQL `measure` would be, with Prometheus 2's semantics where they matter:
range selectors include both ends, `rate` and `increase` extrapolate to the window's edges as
`extrapolatedRate` does, a series needs two samples in the window, and an instant gauge looks back five minutes.
The rule is evaluated every minute; an alert fires once its condition has held for its `for`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .. import names as n
from ..ops.alerts import ALERTS, Alert, Params, format_number, parse_duration
from .pipeline import Attributes, Histogram, Point, Sample

STEP = 60
"""Seconds between scrapes and between rule evaluations."""
LOOKBACK = 300
"""Prometheus' lookback for an instant vector: a gauge not reported for five minutes is gone."""

CALLS = "gen_ai.client.operation.duration"
CALLS_COUNT = f"{CALLS}_count"
Group = tuple[tuple[str, str], ...]
"""The labels an alert is kept by, beyond service and environment (model, feature, limit kind)."""


@dataclass(frozen=True)
class Firing:
    """One episode of one alert: when it started to fire, when it stopped, and its worst value."""

    name: str
    group: Group
    fired_at: int
    """Seconds into the simulated day."""
    resolved_at: int | None
    value: float
    alert: Alert = field(repr=False)


class Series:
    """One series' per-minute samples, indexed so that a window's first and last sample, its sample count and its
    counter resets are found in constant time, whatever the window's length (a day is 1,440 samples)."""

    def __init__(self, values: list[float | None]) -> None:
        self.values = values
        size = len(values)
        self.count = [0] * (size + 1)
        """`count[i]`: samples before index i."""
        self.resets = [0.0] * (size + 1)
        """`resets[i]`: what counter resets before index i added back (the value before each drop)."""
        self.next = [size] * (size + 1)
        self.last = [-1] * size
        previous: float | None = None
        for index, value in enumerate(values):
            self.count[index + 1] = self.count[index] + (value is not None)
            correction = 0.0
            if value is not None:
                if previous is not None and value < previous:
                    correction = previous
                previous = value
            self.resets[index + 1] = self.resets[index] + correction
            self.last[index] = index if value is not None else (self.last[index - 1] if index else -1)
        for index in range(size - 1, -1, -1):
            self.next[index] = index if values[index] is not None else self.next[index + 1]

    def extrapolated(self, step: int, window: int, *, rate: bool) -> float | None:
        """`increase` (or `rate`) over the samples in [t - window, t], both ends included (Prometheus 2)."""
        first = self.next[max(step - window // STEP, 0)]
        last = self.last[step]
        if first > last or self.count[last + 1] - self.count[first] < 2:
            return None
        value_first, value_last = self.values[first], self.values[last]
        assert value_first is not None and value_last is not None
        increase = value_last - value_first + self.resets[last + 1] - self.resets[first + 1]
        return extrapolate(
            increase,
            ((first + 1) * STEP, value_first),
            (last + 1) * STEP,
            self.count[last + 1] - self.count[first],
            (step + 1) * STEP,
            window,
            rate=rate,
        )


class Store:
    """Every series of a run as one sample a minute: `values[key][i]` at `(i + 1) * STEP` seconds, or None."""

    def __init__(self, samples: Sequence[Sample], duration: int) -> None:
        self.steps = max(duration // STEP, 1)
        values: dict[tuple[str, Attributes], list[float | Histogram | None]] = {}
        ordered = sorted(samples, key=lambda sample: sample.at)
        index = 0
        latest: list[Point] = []
        for step in range(self.steps):
            at = (step + 1) * STEP
            while index < len(ordered) and ordered[index].at <= at:
                latest = ordered[index].points
                index += 1
            for point in latest:
                key = (point.name, point.attributes)
                found = values.get(key)
                if found is None:
                    found = values[key] = [None] * self.steps
                found[step] = point.value
        self.by_name: dict[str, list[tuple[dict[str, object], Series]]] = {}
        for (name, attributes), series in values.items():
            labels = dict(attributes)
            histograms = [value if isinstance(value, Histogram) else None for value in series]
            if any(value is not None for value in histograms):
                counts = [float(value.count) if value is not None else None for value in histograms]
                self.by_name.setdefault(f"{name}_count", []).append((labels, Series(counts)))
                bounds = next(value.bounds for value in histograms if value is not None)
                for bucket, upper in enumerate([*bounds, math.inf]):
                    cumulative = [float(sum(value.buckets[: bucket + 1])) if value else None for value in histograms]
                    self.by_name.setdefault(f"{name}_bucket", []).append(({**labels, "le": upper}, Series(cumulative)))
            else:
                numbers = [None if value is None or isinstance(value, Histogram) else float(value) for value in series]
                self.by_name.setdefault(name, []).append((labels, Series(numbers)))
        self.groups: dict[tuple[str, Callable[[dict[str, object]], bool], tuple[str, ...]], list] = {}
        self.selected: dict[
            tuple[str, Callable[[dict[str, object]], bool]], list[tuple[dict[str, object], Series]]
        ] = {}

    def time(self, step: int) -> int:
        return (step + 1) * STEP

    def series(self, name: str, where: Callable[[dict[str, object]], bool] | None = None) -> list:
        """(labels, `Series`) of `name`; a histogram's are `<name>_count` and `<name>_bucket` (with `le`)."""
        key = (name, where or everything)
        found = self.selected.get(key)
        if found is None:
            found = self.selected[key] = [
                (labels, series) for labels, series in self.by_name.get(name, []) if key[1](labels)
            ]
        return found

    def grouped(
        self, name: str, where: Callable[[dict[str, object]], bool] | None, by: tuple[str, ...]
    ) -> list[tuple[Group, Series]]:
        """The series of `name` that `where` picks, each with its group of the `by` labels (computed once)."""
        key = (name, where or everything, by)
        found = self.groups.get(key)
        if found is None:
            found = self.groups[key] = [
                (tuple((label, str(labels.get(label, ""))) for label in by), series)
                for labels, series in self.series(name, where)
            ]
        return found


def everything(labels: dict[str, object]) -> bool:
    return True


def is_failed(labels: dict[str, object]) -> bool:
    return n.ERROR_TYPE in labels


def is_retried(labels: dict[str, object]) -> bool:
    return labels.get(n.ATTEMPT_RETRIED) is True


def is_cut(labels: dict[str, object]) -> bool:
    return labels.get(n.STOP_REASON) == "max_tokens"


def extrapolate(  # noqa: PLR0917 (the terms of Prometheus' formula)
    increase: float, first: tuple[int, float], last_t: int, samples: int, end: int, window: int, *, rate: bool
) -> float:
    """Prometheus 2's `extrapolatedRate`: the increase between the first and last samples of a window, stretched to
    the window's edges where the samples come close enough to them, and no further back than where the counter
    would have been 0."""
    first_t, first_value = first
    to_start = first_t - (end - window)
    to_end = end - last_t
    sampled = last_t - first_t
    average = sampled / (samples - 1)
    if increase > 0 and first_value >= 0:
        to_start = min(to_start, sampled * (first_value / increase))
    threshold = average * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average / 2
    interval += to_end if to_end < threshold else average / 2
    increase *= interval / sampled
    return increase / window if rate else increase


def extrapolated(samples: list[tuple[int, float]], end: int, window: int, *, rate: bool) -> float | None:
    """`increase` (or `rate`) of a counter's (seconds, value) samples in the window ending at `end`, counter
    resets included. None with fewer than two samples."""
    if len(samples) < 2:
        return None
    result = samples[-1][1] - samples[0][1]
    previous = samples[0][1]
    for _, value in samples[1:]:
        if value < previous:
            result += previous
        previous = value
    return extrapolate(result, (samples[0][0], samples[0][1]), samples[-1][0], len(samples), end, window, rate=rate)


def summed(
    store: Store,
    name: str,
    step: int,
    window: int,
    *,
    rate: bool,
    where: Callable[[dict[str, object]], bool] | None = None,
    by: Sequence[str] = (),
) -> dict[Group, float]:
    """`sum by (by) (rate|increase(name{where}[window]))` at `step`: groups with no computable series are absent."""
    found: dict[Group, float] = {}
    for group, series in store.grouped(name, where, tuple(by)):
        result = series.extrapolated(step, window, rate=rate)
        if result is not None:
            found[group] = found.get(group, 0.0) + result
    return found


def ratio(numerator: dict[Group, float], denominator: dict[Group, float]) -> dict[Group, float]:
    """PromQL division of two vectors: only groups on both sides; x / 0 is NaN (or Inf), which compares false."""
    result: dict[Group, float] = {}
    for group, value in numerator.items():
        if group in denominator:
            below = denominator[group]
            result[group] = value / below if below else (math.nan if value == 0 else math.inf)
    return result


def quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' `histogram_quantile` over (upper bound, cumulative count) pairs, +Inf last."""
    if len(buckets) < 2 or buckets[-1][1] == 0:
        return math.nan
    rank = q * buckets[-1][1]
    for index, (bound, count) in enumerate(buckets):
        if count >= rank:
            if math.isinf(bound):
                return buckets[-2][0]
            lower, below = (0.0, 0.0) if index == 0 else buckets[index - 1]
            if index == 0 and bound <= 0:
                return bound
            return lower + (bound - lower) * ((rank - below) / (count - below)) if count > below else bound
    return math.nan


def duration_p95(store: Store, step: int, window: int) -> dict[Group, float]:
    """`histogram_quantile(0.95, sum by (le) (rate(<duration>_bucket[window])))`."""
    if not any(summed(store, CALLS_COUNT, step, window, rate=True).values()):
        return {}  # no call in the window: every bucket's rate is 0, and the quantile NaN
    totals = summed(store, f"{CALLS}_bucket", step, window, rate=True, by=("le",))
    if not totals:
        return {}
    value = quantile(0.95, sorted((float(group[0][1]), total) for group, total in totals.items()))
    return {} if math.isnan(value) else {(): value}


def headroom(store: Store, step: int) -> dict[Group, float]:
    """`min by (model, kind) (anthropic_ratelimit_headroom_ratio)`: the latest value within the lookback."""
    found: dict[Group, float] = {}
    back = LOOKBACK // STEP
    for labels, series in store.series("anthropic.ratelimit.headroom"):
        last = series.last[step]
        if last < 0 or step - last > back:
            continue
        latest = series.values[last]
        assert latest is not None
        group = (
            (n.REQUEST_MODEL, str(labels.get(n.REQUEST_MODEL, ""))),
            (n.RATELIMIT_KIND, str(labels.get(n.RATELIMIT_KIND, ""))),
        )
        found[group] = min(found.get(group, math.inf), float(latest))
    return found


def measure(alert: Alert, params: Params, store: Store, step: int) -> list[dict[Group, float]]:
    """The alert's quantity per group at `step`, one dict per window it reads (long first)."""
    windows = [parse_duration(window) // 1000 for window in alert.windows_in(params)] or [0]
    results = []
    for window in windows:
        if alert.signal == "error_ratio":
            failed = summed(store, CALLS_COUNT, step, window, rate=True, where=is_failed)
            result = ratio(failed, summed(store, CALLS_COUNT, step, window, rate=True))
        elif alert.signal == "masked_error_ratio":
            retried = summed(
                store,
                "anthropic.client.attempts",
                step,
                window,
                rate=True,
                where=is_retried,
            )
            result = ratio(retried, summed(store, CALLS_COUNT, step, window, rate=True))
        elif alert.signal == "spend_usd":
            result = summed(store, "anthropic.client.cost", step, window, rate=False)
        elif alert.signal == "spend_burn_rate":
            spent = summed(store, "anthropic.client.cost", step, window, rate=True)
            result = {group: value * 86400 / params.budget_usd for group, value in spent.items()}
        elif alert.signal == "token_anomalies":
            result = summed(
                store, "anthropic.client.token_anomalies", step, window, rate=False, by=(n.REQUEST_MODEL, n.FEATURE)
            )
        elif alert.signal == "max_tokens_ratio":
            name = "anthropic.client.stop_reasons"
            cut = summed(store, name, step, window, rate=True, where=is_cut)
            result = ratio(cut, summed(store, name, step, window, rate=True))
        elif alert.signal == "ratelimit_headroom_min":
            result = headroom(store, step)
        elif alert.signal == "duration_p95_seconds":
            result = duration_p95(store, step, window)
        elif alert.signal == "unpriced_calls":
            result = summed(store, "anthropic.client.cost.unpriced", step, window, rate=False, by=(n.REQUEST_MODEL,))
        else:
            raise ValueError(f"no evaluator for signal {alert.signal!r}")
        results.append(result)
    return results


def holds(op: str, value: float, threshold: float) -> bool:
    return value > threshold if op == ">" else value < threshold if op == "<" else False


def evaluate(
    samples: Sequence[Sample], duration: int, params: Params, alerts: Iterable[Alert] = ALERTS
) -> list[Firing]:
    """Every firing episode of every alert over the run, in the order they started."""
    store = Store(samples, duration)
    firings: list[Firing] = []
    for alert in alerts:
        threshold = alert.threshold_in(params)
        hold = parse_duration(alert.for_in(params)) // 1000
        active: dict[Group, int] = {}
        fired: dict[Group, tuple[int, float]] = {}
        for step in range(store.steps):
            now = store.time(step)
            windows = measure(alert, params, store, step)
            true: dict[Group, float] = {}
            for group, value in windows[0].items():
                if holds(alert.op, value, threshold) and all(
                    group in other and holds(alert.op, other[group], threshold) for other in windows[1:]
                ):
                    true[group] = value
            for group in list(active):
                if group not in true:
                    if group in fired:
                        start, worst = fired.pop(group)
                        firings.append(Firing(alert.name, group, start, now, worst, alert))
                    del active[group]
            for group, value in true.items():
                active.setdefault(group, now)
                if group in fired:
                    start, worst = fired[group]
                    fired[group] = (start, max(worst, value) if alert.op == ">" else min(worst, value))
                elif now - active[group] >= hold:
                    fired[group] = (now, value)
        for group, (start, worst) in fired.items():
            firings.append(Firing(alert.name, group, start, None, worst, alert))
    return sorted(firings, key=lambda firing: (firing.fired_at, firing.name, firing.group))


def shown(alert: Alert, value: float) -> str:
    """A value as the alert's panel shows it."""
    if alert.value_format == "percent":
        return f"{value * 100:.1f}%"
    if alert.value_format == "usd":
        return f"${value:,.2f}"
    if alert.value_format == "seconds":
        return f"{value:.2f} s"
    if alert.value_format == "ratio":
        return f"{value:.1f}x"
    return format_number(round(value, 2))
