"""The demo's verdict on the bundled alerts agrees with Prometheus': the same workload, the same rules.

The demo evaluates the alerts in Python (`anthropic_otel.demo.alerting`) from its minute-by-minute metric
collections. Here the same collections become promtool input series, named as the Collector's Prometheus exporter
names them, and the rules rendered with the demo's budget are evaluated by the real promtool; at every time an
alert starts or stops firing in Python, and a minute before each start, Prometheus must count the same alerts
firing.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_rules import tool

from anthropic_otel.demo import alerting, replay
from anthropic_otel.ops import ALERTS, Params
from anthropic_otel.ops.bundle import render

SERVICE = "anthropic-otel-demo"
PARAMS = Params(budget_usd=22.0)
HOURS = 6
UNITS = {"anthropic.client.cost": "_USD"}


def prometheus_name(name: str, kind: str) -> str:
    """The Collector's Prometheus exporter's name: dots to underscores, the unit, and `_total` for counters."""
    base = name.replace(".", "_") + UNITS.get(name, "")
    if name == "gen_ai.client.operation.duration":
        return f"{base}_seconds_{kind}"
    if name == "anthropic.ratelimit.headroom":
        return f"{base}_ratio"
    return f"{base}_total"


def label_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def selector(name: str, labels: dict[str, Any]) -> str:
    pairs = {"service_name": SERVICE, **{key.replace(".", "_"): label_value(value) for key, value in labels.items()}}
    inner = ",".join(f'{key}="{value}"' for key, value in sorted(pairs.items()))
    return f"{name}{{{inner}}}"


def values(series: list[float | None]) -> str:
    """A sample a minute from 1m on (promtool's series start at 0, where nothing was collected yet)."""
    return " ".join(["_", *("_" if value is None else repr(float(value)) for value in series)])


def input_series(store: alerting.Store) -> list[dict[str, str]]:
    found = []
    for name, entries in store.by_name.items():
        if name.endswith(("_count", "_bucket")):
            base, kind = name.rsplit("_", 1)
        else:
            base, kind = name, ""
        for labels, series in entries:
            shown = dict(labels)
            if "le" in shown:
                shown["le"] = "+Inf" if math.isinf(float(shown["le"])) else repr(float(shown["le"])).removesuffix(".0")
            found.append({"series": selector(prometheus_name(base, kind), shown), "values": values(series.values)})
    return found


def firing_at(firings: list[alerting.Firing], name: str, at: int) -> int:
    return sum(
        1
        for firing in firings
        if firing.name == name and firing.fired_at <= at and (firing.resolved_at is None or at < firing.resolved_at)
    )


@pytest.fixture(scope="module")
def runs() -> list[Any]:
    import anthropic_otel

    played = replay.play(seed=7, duration=HOURS * 3600, speed=0)
    anthropic_otel.instrument()
    return played


def test_prometheus_fires_what_the_demo_says(runs: list[Any], tmp_path: Path) -> None:
    rules = tmp_path / "anthropic.yml"
    rules.write_text(render(PARAMS, "http://127.0.0.1:9/")["prometheus/rules/anthropic.yml"])
    tests = []
    checked = 0
    for data in runs:
        store = alerting.Store(data.samples, data.duration)
        firings = alerting.evaluate(data.samples, data.duration, PARAMS)
        assert firings, data.run
        times = sorted(
            {
                at
                for firing in firings
                for at in (firing.fired_at - 60, firing.fired_at, firing.resolved_at)
                if at is not None and 0 < at <= data.duration
            }
        )
        expressions = []
        for at in times:
            for alert in ALERTS:
                count = firing_at(firings, alert.name, at)
                expressions.append(
                    {
                        "expr": f'count(ALERTS{{alertname="{alert.name}",alertstate="firing"}})',
                        "eval_time": f"{at // 60}m",
                        "exp_samples": [{"labels": "{}", "value": count}] if count else [],
                    }
                )
                checked += 1
        tests.append(
            {
                "name": f"the demo's {data.run} run",
                "interval": "1m",
                "input_series": input_series(store),
                "promql_expr_test": expressions,
            }
        )
    test_file = tmp_path / "demo_test.yml"
    test_file.write_text(
        yaml.safe_dump({"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": tests}, sort_keys=False)
    )
    result = subprocess.run(
        [tool("promtool"), "test", "rules", str(test_file)], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-20000:]
    assert "SUCCESS" in result.stdout
    assert checked > 50
