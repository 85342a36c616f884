"""What a team tunes when it renders the bundle (`Params`), and the duration arithmetic that `--time-scale` needs.

Every renderer reads its thresholds, its service selector and its scaled windows from one `Params`, so the
Prometheus rules, the Grafana rules, the dashboard and an in-process evaluator agree on them. Durations are
Prometheus durations of one unit (`5m`, `1d`), kept whole to the millisecond when scaled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DAY_SECONDS = 86400

_UNITS = (("d", 86400_000), ("h", 3600_000), ("m", 60_000), ("s", 1000), ("ms", 1))
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
# A `--service` with one of these is label matchers rather than a service name.
_MATCHER = re.compile(r"[=~!]")


def parse_duration(text: str) -> int:
    """A Prometheus duration of one unit (`5m`, `1d`, `500ms`) in milliseconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration of one unit: {text!r}")
    return int(match.group(1)) * dict(_UNITS)[match.group(2)]


def format_duration(millis: int) -> str:
    """Milliseconds as a Prometheus duration in the largest unit that divides them (`86400000` -> `1d`)."""
    if millis == 0:
        return "0s"
    for unit, size in _UNITS:
        if millis % size == 0:
            return f"{millis // size}{unit}"
    raise AssertionError("unreachable: every whole number of milliseconds divides by 1")


def format_number(value: float) -> str:
    """A threshold as PromQL and YAML show it: `0.01`, `100`, never `100.0`."""
    return format(value, ".12g")


@dataclass(frozen=True)
class Params:
    """What a team tunes: the thresholds, the services watched, and a time scale for tests.

    `time_scale` divides every window and `for` (60 turns 5m into 5s, and the day into 24 minutes), so a
    Prometheus started by a test reaches the same verdicts in seconds.
    """

    budget_usd: float = 100.0
    error_rate: float = 0.01
    masked_error_rate: float = 0.05
    latency_seconds: float = 30.0
    max_tokens_rate: float = 0.05
    headroom: float = 0.10
    service: str | None = None
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if self.budget_usd <= 0:
            raise ValueError("budget_usd must be positive")

    @property
    def _service_name(self) -> str | None:
        """The service, when `service` names one plainly rather than giving label matchers."""
        return self.service if self.service and not _MATCHER.search(self.service) else None

    @property
    def selector(self) -> str:
        """Label matchers for every raw series: a plain name picks one service, matchers pass as they are."""
        if not self.service:
            return 'service_name!=""'
        name = self._service_name
        return f'service_name="{name}"' if name else self.service

    @property
    def static_labels(self) -> dict[str, str]:
        """Labels for the label-less aggregates (spend, budget): the service, when one is named plainly."""
        name = self._service_name
        return {"service_name": name} if name else {}

    def scale(self, duration: str) -> str:
        """A duration divided by the time scale, to the millisecond."""
        return format_duration(round(parse_duration(duration) / self.time_scale))

    @property
    def day_seconds(self) -> str:
        return format_number(DAY_SECONDS / self.time_scale)
