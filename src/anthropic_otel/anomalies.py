"""Token anomalies: a request whose input is far above what its (model, feature) usually sends.

Per (model, feature) the detector keeps a running average of input tokens (cache included): the plain mean over
the first `warmup` requests, then an exponential moving average with weight `1 / warmup`, so that it follows
a workload that changes slowly. After the warm-up, a request above `factor` x the average is an anomaly: the
alert says it happened, the span event on that request says which one. The anomalous request still feeds the
average, damped like any other.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(slots=True)
class Anomaly:
    tokens: int
    average: float
    factor: float


class AnomalyDetector:
    def __init__(self, factor: float, warmup: int) -> None:
        self.factor = factor
        self.warmup = max(warmup, 1)
        self._state: dict[tuple[str, str], tuple[int, float]] = {}
        self._lock = threading.Lock()

    def observe(self, model: str | None, feature: str | None, tokens: int | None) -> Anomaly | None:
        """Takes in one request's input tokens; returns the anomaly it is, if it is one."""
        if tokens is None:
            return None
        key = (model or "", feature or "")
        with self._lock:
            count, average = self._state.get(key, (0, 0.0))
            anomaly = None
            if count >= self.warmup and tokens > self.factor * average:
                anomaly = Anomaly(tokens, average, self.factor)
            count += 1
            weight = 1 / count if count <= self.warmup else 1 / self.warmup
            self._state[key] = (count, average + (tokens - average) * weight)
        return anomaly
