"""The two runs of the day, before and after the three changes, each against a fresh fake API and its own
telemetry pipeline; what the in-process readers hold at the end of each is the report's only input."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from ..testing.fake_api import FakeClock
from . import plan
from .driver import Driver, Progress, fake_api
from .pipeline import Pipeline
from .report import RunData

DAY_START = 1_796_083_200.0
"""Midnight UTC on 2026-12-01, where the fake API's clock starts each run."""
VARIANTS: tuple[plan.Variant, ...] = ("before", "after")


def play(
    *,
    seed: int,
    duration: int,
    speed: float,
    scenarios: Sequence[str] = plan.SCENARIOS,
    otlp: str | None = None,
    on_progress: Callable[[Progress], None] = lambda progress: None,
    stop: threading.Event | None = None,
) -> list[RunData]:
    """Runs the day before and after; returns what each run's readers collected (only the runs that finished
    when `stop` is set)."""
    stop = stop or threading.Event()
    runs = []
    for variant in VARIANTS:
        if stop.is_set():
            break
        day = plan.build(seed, duration, variant, scenarios)
        clock = FakeClock(DAY_START)
        batch_seconds = max(plan.BATCH_POLL, plan.BATCH_SECONDS * duration / plan.DAY)
        pipeline = Pipeline(variant, otlp=otlp)
        with fake_api(seed, clock, batch_seconds) as api:
            pipeline.instrument()
            try:
                driver = Driver(api, clock, pipeline, speed=speed, on_progress=on_progress, stop=stop)
                with driver.running():
                    driver.run(day)
                last = pipeline.scrape(duration)
            finally:
                spans = pipeline.spans
                pipeline.close()
        if stop.is_set():  # a day cut short would report half a day as if it were one
            break
        runs.append(RunData(variant, duration, last.points, pipeline.samples, spans))
    return runs
