"""`anthropic-otel demo`, run for real in fast mode: the real SDK against the fake API, the real OpenTelemetry SDK.

The report must be what the telemetry says. These tests recompute its figures another way, from the spans the
run exported (each call's cost, error, retry events, anomaly event), and require the metric-based figures to
match; they check that a seed fixes every figure, and what the command prints when stdout is not a terminal.
"""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import anthropic_otel
from anthropic_otel import names as n
from anthropic_otel.demo import alerting, duration, plan, replay, report
from anthropic_otel.demo.pipeline import Point, Sample
from anthropic_otel.ops.alerts import ALERTS, Params
from anthropic_otel.testing import FakeAnthropic, Reply
from otlp_receiver import Receiver

HOURS = 4
SEED = 5
HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def runs() -> Iterator[list[report.RunData]]:
    played = replay.play(seed=SEED, duration=HOURS * 3600, speed=0)
    yield played
    anthropic_otel.instrument()  # the session's instrumentation (conftest), which the demo replaced for its runs


@pytest.fixture(scope="module")
def result(runs: list[report.RunData]) -> dict[str, Any]:
    return report.build(*runs, params=Params(budget_usd=22.0), seed=SEED)


def calls(data: report.RunData) -> list[Any]:
    return report.call_spans(data.spans)


def cost(span: Any) -> float:
    return float((span.attributes or {}).get(n.COST_USD, 0.0))


def test_spend_is_what_the_spans_cost(runs: list[report.RunData], result: dict[str, Any]) -> None:
    before, after = runs
    # Before, every call is a span: the metric sum and the spans' costs are the same money.
    assert result["spend_usd"]["before"] == pytest.approx(sum(map(cost, calls(before))), abs=1e-9)
    # After, the batch's results are metered without spans (Anthropic made those calls): spans plus batch cost.
    assert result["batch"]["cost_usd"] > 0
    assert result["spend_usd"]["after"] == pytest.approx(
        sum(map(cost, calls(after))) + result["batch"]["cost_usd"], abs=1e-9
    )
    for feature in (*plan.CHAT_FEATURES, plan.SUMMARY_FEATURE):
        spent = sum(cost(span) for span in calls(before) if (span.attributes or {}).get(n.FEATURE) == feature)
        assert result["spend_by_feature"][feature]["before"] == pytest.approx(spent, abs=1e-9)


def test_savings_are_the_drop_in_each_levers_spend(result: dict[str, Any]) -> None:
    savings, spend = result["savings"], result["spend_usd"]
    assert savings["total"]["percent"] == round((1 - spend["after"] / spend["before"]) * 100, 2)
    assert savings["total"]["usd"] == pytest.approx(spend["before"] - spend["after"], abs=1e-9)
    for lever in ("caching", "batching", "input_validation"):
        features = savings[lever]["features"]
        before = sum(result["spend_by_feature"][feature]["before"] for feature in features)
        after = sum(result["spend_by_feature"][feature]["after"] for feature in features)
        assert savings[lever]["usd"] == pytest.approx(before - after, abs=1e-9)
        assert savings[lever]["usd"] > 0, lever
    # A batch result costs half of its synchronous price: what the batch saved is what it cost.
    assert result["batch"]["saved_usd"] == pytest.approx(result["batch"]["cost_usd"], abs=1e-9)
    assert 0 < result["cache"]["hit_ratio"] < 1
    assert result["cache"]["write_premium_usd"] > 0


def test_reliability_is_what_the_spans_say(runs: list[report.RunData], result: dict[str, Any]) -> None:
    spans = [span for data in runs for span in calls(data)]
    failed = [span for span in spans if n.ERROR_TYPE in (span.attributes or {})]
    retries = sum(1 for span in spans for event in span.events if event.name == n.RETRY_EVENT)
    reliability = result["reliability"]
    assert reliability["calls"] == len(spans)
    assert reliability["error_rate"] == len(failed) / len(spans)
    assert reliability["masked_error_rate"] == retries / len(spans)
    assert sum(reliability["retries_by_error_type"].values()) == retries
    assert set(reliability["retries_by_error_type"]) == {"api_error", "rate_limit_error", "overloaded_error"}
    cut = [span for span in spans if (span.attributes or {}).get(n.STOP_REASON) == "max_tokens"]
    stopped = [span for span in spans if n.STOP_REASON in (span.attributes or {})]
    assert reliability["max_tokens_share"] == len(cut) / len(stopped)
    assert 0 < reliability["error_rate"] < reliability["masked_error_rate"]
    latency = reliability["seconds"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]


def test_anomalies_are_the_spans_with_an_anomaly_event(runs: list[report.RunData], result: dict[str, Any]) -> None:
    before = runs[0]
    flagged = [report.trace_id(span) for span in calls(before) if any(e.name == n.ANOMALY_EVENT for e in span.events)]
    assert flagged
    assert sorted(item["trace_id"] for item in result["anomalies"]) == sorted(flagged)
    assert all(HEX32.match(item["trace_id"]) for item in result["anomalies"])
    assert {item["feature"] for item in result["anomalies"]} == {plan.SUMMARY_FEATURE}
    # The metric counts the same requests; truncated inputs leave the after run without any.
    assert result["runs"]["before"]["token_anomalies"] == len(flagged)
    assert result["runs"]["after"]["token_anomalies"] == 0


def test_alerts_name_bundle_alerts_with_an_example_trace(result: dict[str, Any]) -> None:
    names = {alert.name for alert in ALERTS}
    fired = {(item["run"], item["name"]) for item in result["alerts"]}
    assert all(item["name"] in names for item in result["alerts"])
    # The rate-limit storm, and the wordy answers after lunch, happen in both runs.
    for run in ("before", "after"):
        for name in ("AnthropicRateLimitHeadroomLow", "AnthropicErrorRateHigh", "AnthropicMaxTokensStopsHigh"):
            assert (run, name) in fired
    assert ("after", "AnthropicTokenAnomalies") not in fired
    for item in result["alerts"]:
        assert re.match(r"^\d\d:\d\d$", item["fired_at"])
        assert item["trace_id"] is None or HEX32.match(item["trace_id"])
        assert item["reason"]
    storm = next(item for item in result["alerts"] if item["name"] == "AnthropicErrorRateHigh")
    assert storm["trace_id"] is not None


def test_the_first_anomaly_of_a_series_is_invisible_to_increase() -> None:
    """As in Prometheus: the anomalies counter of a (model, feature) is born at 1 with its first anomaly, so
    `increase` sees nothing until the second."""
    anomalies = next(alert for alert in ALERTS if alert.name == "AnthropicTokenAnomalies")
    labels = ((n.FEATURE, "ticket-summary"), (n.REQUEST_MODEL, "claude-sonnet-5-5"))
    samples = [Sample(10 * 60, [Point("anthropic.client.token_anomalies", labels, 1.0)])]
    assert alerting.evaluate(samples, 3600, Params(), [anomalies]) == []
    samples.append(Sample(20 * 60, [Point("anthropic.client.token_anomalies", labels, 2.0)]))
    [firing] = alerting.evaluate(samples, 3600, Params(), [anomalies])
    assert (firing.fired_at, firing.resolved_at, firing.group) == (20 * 60, 35 * 60, labels[::-1])


# -- the evaluator, on series written by hand --------------------------------------------------------------------


def test_extrapolated_increase_follows_prometheus() -> None:
    # Samples at 60..300 s of a counter going 10 -> 14 over a 5-minute window ending at 300 s: the window starts
    # at 0, a minute before the first sample, which is within 1.1 x the sample spacing: extrapolated to the start,
    # but no further than where the counter would have been 0 (which is 150 s back, further than 60).
    samples = [(60, 10.0), (120, 11.0), (180, 12.0), (240, 13.0), (300, 14.0)]
    assert alerting.extrapolated(samples, 300, 300, rate=False) == pytest.approx(4 * 300 / 240)
    assert alerting.extrapolated(samples, 300, 300, rate=True) == pytest.approx(4 / 240)
    assert alerting.extrapolated(samples[:1], 300, 300, rate=False) is None


def test_an_alert_fires_after_its_for() -> None:
    max_tokens = next(alert for alert in ALERTS if alert.name == "AnthropicMaxTokensStopsHigh")
    samples = []
    for minute in range(1, 61):
        cut = max(0, minute - 20)  # from minute 21 on, one call a minute stops at max_tokens
        samples.append(
            Sample(
                minute * 60,
                [
                    Point("anthropic.client.stop_reasons", ((n.STOP_REASON, "end_turn"),), float(minute * 4)),
                    Point("anthropic.client.stop_reasons", ((n.STOP_REASON, "max_tokens"),), float(cut)),
                ],
            )
        )
    firings = alerting.evaluate(samples, 3600, Params(), [max_tokens])
    # Over 15 minutes, 60 answers end their turn; k cut answers make k / (60 + k), above 5% from k = 4: at 24 min.
    # Held for the alert's 15 minutes, it fires at 39 min, and is still firing at the end.
    assert [(firing.name, firing.fired_at, firing.resolved_at) for firing in firings] == [
        ("AnthropicMaxTokensStopsHigh", 39 * 60, None)
    ]


def test_a_histogram_quantile_interpolates_within_its_bucket() -> None:
    buckets = [(0.1, 50.0), (0.2, 90.0), (0.4, 100.0), (math.inf, 100.0)]
    assert alerting.quantile(0.95, buckets) == pytest.approx(0.3)
    assert alerting.quantile(0.5, buckets) == pytest.approx(0.1)


# -- the command ---------------------------------------------------------------------------------------------------


def demo(tmp_path: Path, name: str, *extra: str) -> tuple[str, dict[str, Any]]:
    path = tmp_path / f"{name}.json"
    command = [sys.executable, "-m", "anthropic_otel", "demo", "--duration", "2h", "--speed", "0", "--seed", "11"]
    done = subprocess.run(
        [*command, "--json", str(path), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(path.read_text())


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """The report without what a run cannot repeat: wall-clock latencies and random trace ids."""
    kept = json.loads(json.dumps(result))
    for reliability in [kept["reliability"], *kept["reliability"]["by_run"].values()]:
        for key in ("seconds", "time_to_first_token_seconds"):
            reliability.pop(key)
    for item in kept["anomalies"] + kept["alerts"]:
        item.pop("trace_id")
    return kept


def test_the_same_seed_gives_the_same_figures_and_plain_output(tmp_path: Path) -> None:
    first_out, first = demo(tmp_path, "first")
    _, second = demo(tmp_path, "second")
    assert figures(first) == figures(second)

    assert "\x1b[" not in first_out  # no colours, no cursor movement: stdout is a pipe
    lines = first_out.splitlines()
    assert lines[0].startswith("before ") and "calls" in lines[0] and "spend $" in lines[0]
    for title in ("Spend by feature", "Savings", "Reliability", "Token anomalies", "Alerts that would have fired"):
        assert any(line.startswith(title) for line in lines), title
    assert f"-{first['savings']['total']['percent']:.1f}%" in lines[-1]

    for key in ("before", "after"):
        assert isinstance(first["spend_usd"][key], float)
    for lever in ("caching", "batching", "input_validation", "total"):
        assert set(first["savings"][lever]) >= {"usd", "percent"}
    assert {"calls", "error_rate", "masked_error_rate"} <= set(first["reliability"])
    assert all(set(item) >= {"name", "fired_at", "reason", "trace_id"} for item in first["alerts"])
    assert all(HEX32.match(item["trace_id"]) for item in first["anomalies"])


def test_a_scenario_left_out_is_not_played() -> None:
    command = [sys.executable, "-m", "anthropic_otel", "demo", "--duration", "2h", "--speed", "0", "--json", "-"]
    done = subprocess.run([*command, "--scenarios", "chat"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # stdout is the JSON's alone; progress and tables went to stderr
    assert "Spend by feature" in done.stderr
    assert plan.CHAT_FEATURES[0] in result["spend_by_feature"]
    assert set(result["spend_by_feature"]) <= {*plan.CHAT_FEATURES, plan.TRIAGE_FEATURE}
    assert result["reliability"]["masked_error_rate"] == 0
    assert result["savings"]["batching"]["usd"] == 0


def test_what_went_out_over_otlp_is_what_the_report_shows(tmp_path: Path) -> None:
    with Receiver() as receiver:
        _, result = demo(tmp_path, "otlp", "--otlp", receiver.endpoint)
        latest: dict[tuple[Any, ...], tuple[int, float]] = {}
        for request in receiver.received["/v1/metrics"]:
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        if metric.name != "anthropic.client.cost":
                            continue
                        for point in metric.sum.data_points:
                            key = tuple(sorted((a.key, str(a.value)) for a in point.attributes))
                            if point.time_unix_nano >= latest.get(key, (0, 0.0))[0]:
                                latest[key] = (point.time_unix_nano, point.as_double)
        spans = receiver.spans()
        logs = receiver.log_events()
    exported = {"before": 0.0, "after": 0.0}
    for key, (_, value) in latest.items():
        exported[dict(key)["app.run"].split('"')[1]] += value
    assert exported["before"] == pytest.approx(result["spend_usd"]["before"], abs=1e-9)
    assert exported["after"] == pytest.approx(result["spend_usd"]["after"], abs=1e-9)
    assert len([span for span in spans if span.name == n.SPAN_NAME]) == result["reliability"]["calls"]
    assert logs.count(n.LOG_EVENT) == result["reliability"]["calls"]


def test_loop_replays_the_day_until_stopped() -> None:
    command = [sys.executable, "-m", "anthropic_otel", "demo", "--loop", "--duration", "1h", "--speed", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        days: list[str] = []
        for line in iter(process.stdout.readline, ""):
            if line.startswith("day "):
                days.append(line)
                break
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0, process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
    assert days[0].startswith("day 7: $") and "before" in days[0]


def test_durations_and_scenarios_are_checked() -> None:
    assert duration("24h") == 86400
    assert duration("90m") == 5400
    assert duration("6") == 21600
    for bad in ("30m", "soon", "9d"):
        with pytest.raises(Exception, match="duration"):
            duration(bad)


# -- spend() ------------------------------------------------------------------------------------------------------


def test_spend_reads_the_tallies_the_metrics_report() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    start = anthropic_otel.spend()
    anthropic_otel.uninstrument()
    anthropic_otel.instrument(meter_provider=provider)
    try:
        with FakeAnthropic() as api, anthropic.Anthropic(base_url=api.base_url, api_key="k", max_retries=2) as client:
            api.enqueue(
                Reply.rate_limited(retry_after=0.01),
                Reply.message("ok", input_tokens=1000, output_tokens=100, cache_read_input_tokens=2000),
                Reply.error(500, "api_error", retry_after=0.01),
                Reply.error(500, "api_error", retry_after=0.01),
                Reply.error(500, "api_error", retry_after=0.01),
            )
            with anthropic_otel.attribution(feature="support"):
                client.messages.create(
                    model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
                )
                with pytest.raises(anthropic.InternalServerError):
                    client.messages.create(
                        model="claude-sonnet-4-6", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
                    )
        now = anthropic_otel.spend()
    finally:
        anthropic_otel.uninstrument()
        anthropic_otel.instrument()
    # $3/M input, $0.30/M cache reads, $15/M output on Sonnet 4.6
    assert now.cost_usd - start.cost_usd == pytest.approx(1000 * 3e-6 + 2000 * 0.3e-6 + 100 * 15e-6)
    assert now.cost_by_feature["support"] - start.cost_by_feature.get("support", 0) == pytest.approx(0.0051)
    assert now.cache_savings_usd - start.cache_savings_usd == pytest.approx(2000 * 2.7e-6)
    assert (now.calls - start.calls, now.failed_calls - start.failed_calls) == (2, 1)
    assert now.attempts - start.attempts == 5
    retried = {key: value - start.retries_by_error.get(key, 0) for key, value in now.retries_by_error.items()}
    assert {key: value for key, value in retried.items() if value} == {"rate_limit_error": 1, "api_error": 2}
    assert now.tokens["cache_read"] - start.tokens.get("cache_read", 0) == 2000
    data = reader.get_metrics_data()
    reported = sum(
        point.value
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "anthropic.client.cost"
        for point in metric.data.data_points
    )
    assert reported == pytest.approx(0.0051)
