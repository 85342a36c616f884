"""`anthropic-otel demo`: a compressed day of production traffic through the real, instrumented SDK, against the
bundled fake API, twice: before and after prompt caching, Message Batches and input validation. The report says
what each change saved, how reliable the day was, and which bundled alerts would have fired, every figure read
from the telemetry the plugin emitted.

Modules: `plan` (the day), `text` (its words), `driver` (plays it), `pipeline` (the OpenTelemetry providers and
in-process readers), `replay` (the two runs), `report` (the figures), `alerting` (the bundled alerts, evaluated),
`display` (progress and tables).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import signal
import sys
import threading
from typing import Any

DEFAULT_SPEED = 2880.0
"""Simulated seconds per second: a day in 30 seconds, so the two runs take about a minute."""
LOOP_SPEED = 60.0
"""With `--loop`, a day every 24 minutes: live dashboards see traffic at a pace they can draw."""
DAILY_BUDGET_USD = 22.0
"""The daily budget the spend alerts are evaluated with: between the day's cost before and after the changes."""
WIDTH = 132
"""Columns of the report when stdout is not a terminal (a file or a pipe has no width to ask)."""
MISSING = "anthropic-otel demo needs {what}: pip install 'anthropic-otel[demo]'"

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(h|m|s)?$")


def duration(text: str) -> int:
    """`24h`, `90m`, `3600s` or a number of hours: simulated seconds, whole minutes, at least an hour."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 24h, 90m)")
    seconds = float(match.group(1)) * {"h": 3600, "m": 60, "s": 1, None: 3600}[match.group(2)]
    if seconds < 3600 or seconds > 7 * 86400:
        raise argparse.ArgumentTypeError("a duration from 1h to 7 days")
    return int(seconds) // 60 * 60


def scenarios(text: str) -> tuple[str, ...]:
    from .plan import SCENARIOS

    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [part for part in chosen if part not in SCENARIOS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"scenarios are a comma-separated choice of {', '.join(SCENARIOS)}")
    return chosen


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration", type=duration, default=86400, help="simulated length of each run (default 24h; e.g. 6h)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help=f"simulated seconds per second (default {DEFAULT_SPEED:g}, {LOOP_SPEED:g} with --loop; 0: unpaced)",
    )
    parser.add_argument("--seed", type=int, default=7, help="the day's random draws: the same seed, the same figures")
    parser.add_argument(
        "--scenarios",
        type=scenarios,
        default=None,
        help="comma-separated parts of the day: chat, summaries, job, incidents (default all)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE ('-' for stdout)")
    parser.add_argument(
        "--otlp",
        metavar="URL",
        help="also export spans, metrics and logs over OTLP/HTTP to URL (e.g. http://localhost:4318); "
        "the standard OTEL_EXPORTER_OTLP_* variables work too",
    )
    parser.add_argument("--loop", action="store_true", help="replay the day until stopped (for live dashboards)")
    parser.add_argument(
        "--budget-usd",
        type=float,
        default=DAILY_BUDGET_USD,
        help=f"the daily budget the spend alerts are evaluated with (default {DAILY_BUDGET_USD:g})",
    )


def missing() -> str | None:
    for module, what in (("rich", "rich"), ("opentelemetry.sdk", "the OpenTelemetry SDK"), ("anthropic", "anthropic")):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return MISSING.format(what=what)
    return None


def run(args: argparse.Namespace) -> int:
    problem = missing()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from rich.console import Console

    from ..ops.alerts import Params
    from . import display, plan, replay, report

    # With `--json -` stdout is the JSON's alone: progress and tables go to stderr.
    stream = sys.stderr if args.json == "-" else sys.stdout
    console = Console(file=stream) if stream.isatty() else Console(file=stream, width=WIDTH)
    chosen = args.scenarios or plan.SCENARIOS
    speed = args.speed if args.speed is not None else (LOOP_SPEED if args.loop else DEFAULT_SPEED)
    budget = args.budget_usd
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    seed = args.seed
    try:
        while True:
            live = display.Live(console)
            with live.showing():
                runs = replay.play(
                    seed=seed,
                    duration=args.duration,
                    speed=speed,
                    scenarios=chosen,
                    otlp=args.otlp,
                    on_progress=live,
                    stop=stop,
                )
            if len(runs) < 2:
                return 0
            result = report.build(*runs, params=Params(budget_usd=budget), seed=seed)
            if not args.loop:
                display.render(result, console)
                write_json(result, args.json)
                return 0
            total = result["savings"]["total"]
            console.print(
                f"day {seed}: ${result['spend_usd']['before']:.2f} before, ${result['spend_usd']['after']:.2f} after "
                f"(-{total['percent']:.1f}%), {len(result['alerts'])} alerts",
                highlight=False,
            )
            seed += 1
    except KeyboardInterrupt:
        return 130


def write_json(result: dict[str, Any], path: str | None) -> None:
    if not path:
        return
    text = json.dumps(result, indent=2, sort_keys=False) + "\n"
    if path == "-":
        sys.stdout.write(text)
        return
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)
