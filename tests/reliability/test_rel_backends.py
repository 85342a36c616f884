"""A telemetry back end that refuses, hangs or is slow: calls are not slowed (export runs off the call path), memory
stays bounded, and the process exits within the exporters' configured timeouts, also with the plugin's metrics and
logs switched off (options and environment). Each application is a subprocess (`exporting_app.py`); the figures
are printed (`pytest -s`) for the README."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

APP = Path(__file__).with_name("exporting_app.py")
TIMEOUT = 1.0
"""OTEL_EXPORTER_OTLP_TIMEOUT, seconds: how long one exporter may wait at shutdown."""
EXPORTERS = 3
"""Spans, metrics, logs: each shuts down with its own timeout."""
MARGIN = 4.0
"""Interpreter teardown on a loaded machine (2.5 s was exceeded at a load average of 10 on 2 cores). The limit,
7 s, stays below one exporter's default timeout (10 s): an exporter that ignored the configured one fails."""
CALLS = 300

CASES: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {
    "drop": ("drop", {}, {}),
    "refuse": ("refuse", {}, {}),
    "hang": ("hang", {}, {}),
    "slow": ("slow", {}, {}),
    "hang, metrics and logs off": ("hang", {"metrics": False, "logs": False}, {}),
    "hang, metrics and logs off by env": (
        "hang",
        {},
        {"ANTHROPIC_OTEL_METRICS": "false", "ANTHROPIC_OTEL_LOGS": "false"},
    ),
}


@pytest.fixture(scope="module")
def runs() -> dict[str, dict[str, Any]]:
    """Every case at once (they wait on sockets, not on the CPU), each with its exit wait: from the moment its
    last call returned to the moment the process was gone."""
    started: dict[str, subprocess.Popen[str]] = {}
    for name, (backend, options, env) in CASES.items():
        environment = {**os.environ, "OTEL_EXPORTER_OTLP_TIMEOUT": str(TIMEOUT), **env}
        started[name] = subprocess.Popen(
            [sys.executable, str(APP), backend, str(CALLS), json.dumps(options)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
    found: dict[str, dict[str, Any]] = {}

    def follow(name: str, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        line = process.stdout.readline()
        process.wait(timeout=60)
        # `done` is the child's wall clock after its last call; its exit is seen here, on the same clock.
        gone = time.time()
        stderr = process.stderr.read() if process.stderr else ""
        found[name] = {"line": line, "returncode": process.returncode, "stderr": stderr, "gone": gone}

    followers = [threading.Thread(target=follow, args=item) for item in started.items()]
    for follower in followers:
        follower.start()
    for follower in followers:
        follower.join()
    for name, seen in found.items():
        assert seen["returncode"] == 0, seen["stderr"]
        figures = json.loads(seen["line"])
        figures["exit_wait_s"] = seen["gone"] - figures["done"]
        found[name] = figures
    baseline = found["drop"]["median_us"]
    print()
    for name, figures in found.items():
        print(
            f"{name:36} median {figures['median_us']:8.1f} us (x{figures['median_us'] / baseline:.2f}), "
            f"rss +{figures['rss_growth_kib'] / 1024:.1f} MiB, exit waits {figures['exit_wait_s']:.2f} s"
        )
    return found


@pytest.mark.parametrize("name", [name for name in CASES if name != "drop"])
def test_calls_are_not_slowed_by_a_bad_back_end(runs: dict[str, dict[str, Any]], name: str) -> None:
    # A generous bound: the ratio is printed; a call path blocked on the back end would be over 100 times slower.
    assert runs[name]["median_us"] < 3 * runs["drop"]["median_us"]


@pytest.mark.parametrize("name", list(CASES))
def test_memory_stays_bounded(runs: dict[str, dict[str, Any]], name: str) -> None:
    # The batch processors drop beyond their queue (2,048 spans, 2,048 log records): nothing piles up per call.
    assert runs[name]["rss_growth_kib"] < 64 * 1024


@pytest.mark.parametrize("name", list(CASES))
def test_exit_waits_at_most_the_exporters_timeouts(runs: dict[str, dict[str, Any]], name: str) -> None:
    assert runs[name]["exit_wait_s"] <= EXPORTERS * TIMEOUT + MARGIN
