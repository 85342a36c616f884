"""The Prometheus and Alertmanager side of the bundle, checked by the real promtool and amtool.

The unit tests in fixtures/alerts.yml give each alert a fault that must fire it and a healthy day that must fire
none; the expected annotations are filled from the definitions, so a description that renders a wrong figure
fails as surely as an alert that does not fire.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from anthropic_otel.ops import ALERTS, RECORDING_RULES, Params
from anthropic_otel.ops.alerts import alerts_in, fill_text
from anthropic_otel.ops.bundle import DEFAULT_GRAFANA_URL, render
from anthropic_otel.ops.prometheus import PROMETHEUS_VALUES, dashboard_url

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
RULES = ROOT / "prometheus" / "rules" / "anthropic.yml"
ALERTMANAGER = ROOT / "alertmanager" / "alertmanager.yml"
RECORDS = [r.record for r in RECORDING_RULES]


def tool(name: str) -> str:
    """A binary from `.tools/bin`, else from PATH; missing fails under CI and skips elsewhere."""
    local = ROOT / ".tools" / "bin" / name
    found = str(local) if local.is_file() else shutil.which(name)
    if found:
        return found
    message = f"{name} not found in .tools/bin or PATH (Debian: apt-get install prometheus prometheus-alertmanager)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def annotations(name: str, value: str, params: Params) -> dict[str, str]:
    """What Prometheus must render for alert `name` when its expression's value prints as `value`."""
    alert = next(a for a in ALERTS if a.name == name)
    template = PROMETHEUS_VALUES[alert.value_format]
    return {
        "summary": fill_text(alert.summary, alert, params, template),
        "description": fill_text(alert.description, alert, params, value),
        "runbook_url": alert.runbook_url,
        "dashboard_url": dashboard_url(DEFAULT_GRAFANA_URL, alert),
    }


def render_labels(text: str, labels: dict[str, str]) -> str:
    """Substitute `{{ $labels.x }}` as Prometheus does; a label the alert lacks renders empty."""
    for key, value in labels.items():
        text = text.replace("{{ $labels." + key + " }}", value)
    return re.sub(r"\{\{ \$labels\.\w+ \}\}", "", text)


def load_tests(rules: Path) -> dict[str, Any]:
    """fixtures/alerts.yml, pointed at the rule file under test."""
    tests = yaml.safe_load((FIXTURES / "alerts.yml").read_text())
    tests["rule_files"] = [str(rules)]
    return tests


def fill(tests: dict[str, Any], params: Params) -> dict[str, Any]:
    """Every expected alert's `value` turned into the annotations Prometheus must render with it."""
    for group in tests["tests"]:
        for case in group.get("alert_rule_test", []):
            for expected in case["exp_alerts"]:
                value = expected.pop("value")
                expected["exp_annotations"] = {
                    key: render_labels(text, expected["exp_labels"]).replace("\0", value)
                    for key, text in annotations(case["alertname"], "\0", params).items()
                }
    return tests


def promtool_test(tmp_path: Path, tests: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "alerts_test.yml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    return run(tool("promtool"), "test", "rules", str(test_file))


def test_checked_in_rules_pass_promtool_check() -> None:
    result = run(tool("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RECORDS) + len(ALERTS)} rules found" in result.stdout


@pytest.mark.parametrize(
    "params",
    [
        Params(time_scale=60),
        Params(service="checkout", budget_usd=250, headroom=0.2),
        Params(service='service_name=~"checkout|search",deployment_environment_name="prod"'),
    ],
    ids=["time-scale", "one service", "matchers"],
)
def test_rendered_variants_pass_promtool_check(tmp_path: Path, params: Params) -> None:
    rules = tmp_path / "anthropic.yml"
    rules.write_text(render(params, "http://127.0.0.1:9/")["prometheus/rules/anthropic.yml"])
    result = run(tool("promtool"), "check", "rules", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_passes_promtool_check(tmp_path: Path) -> None:
    """The checked-in prometheus.yml, with its rule glob pointed where the rules are, so promtool checks both."""
    loaded = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    assert loaded["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert loaded["scrape_configs"][0]["static_configs"][0]["targets"] == ["otel-collector:8889"]
    assert loaded["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    (tmp_path / "rules").mkdir()
    shutil.copyfile(RULES, tmp_path / "rules" / "anthropic.yml")
    loaded["rule_files"] = [str(tmp_path / "rules" / "*.yml")]
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(loaded))
    result = run(tool("promtool"), "check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RECORDS) + len(ALERTS)} rules found" in result.stdout


def test_every_alert_fires_on_its_fault_and_none_on_a_healthy_day(tmp_path: Path) -> None:
    tests = load_tests(RULES)
    fired = {c["alertname"] for g in tests["tests"] for c in g.get("alert_rule_test", []) if c["exp_alerts"]}
    healthy = next(g for g in tests["tests"] if g["name"] == "healthy")
    silent = {c["alertname"] for c in healthy["alert_rule_test"] if not c["exp_alerts"]}
    assert fired == silent == {alert.name for alert in ALERTS}

    result = promtool_test(tmp_path, fill(tests, Params()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_masked_errors_fire_without_the_error_rate(tmp_path: Path) -> None:
    """The case the masked-error alert exists for: every retry succeeds, so only it can tell."""
    tests = load_tests(RULES)
    masked = next(g for g in tests["tests"] if g["name"] == "masked errors")
    verdicts = {c["alertname"]: bool(c["exp_alerts"]) for c in masked["alert_rule_test"]}
    assert verdicts == {"AnthropicMaskedErrorRateHigh": True, "AnthropicErrorRateHigh": False}
    tests["tests"] = [masked]
    result = promtool_test(tmp_path, fill(tests, Params()))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_lower_budget_fires_on_the_healthy_day(tmp_path: Path) -> None:
    """`--budget-usd` reaches the rules: the healthy day's 72 USD is over a 50 USD budget, and its pace (0.72x
    of 100) is 1.44x of 50, so the burn-rate pair fires too."""
    params = Params(budget_usd=50)
    rules = tmp_path / "anthropic.yml"
    rules.write_text(render(params, "http://127.0.0.1:9/")["prometheus/rules/anthropic.yml"])
    tests = load_tests(rules)
    healthy = next(g for g in tests["tests"] if g["name"] == "healthy")
    expected = {
        "AnthropicDailySpendOverBudget": [{"exp_labels": {"severity": "critical"}, "value": "72.00"}],
        "AnthropicSpendBurnRateHigh": [{"exp_labels": {"severity": "warning"}, "value": "1.44"}],
    }
    for case in healthy["alert_rule_test"]:
        case["exp_alerts"] = expected.get(case["alertname"], [])
    del healthy["promql_expr_test"]
    tests["tests"] = [healthy]
    result = promtool_test(tmp_path, fill(tests, params))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_config_passes_amtool() -> None:
    result = run(tool("amtool"), "check-config", str(ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    config = yaml.safe_load(ALERTMANAGER.read_text())
    assert config["receivers"] == [
        {"name": "webhook", "webhook_configs": [{"url": "http://127.0.0.1:9/alerts", "send_resolved": True}]}
    ]


def test_the_alert_interface_names_defaults_windows_and_for() -> None:
    """Names and defaults are an interface (dashboards, the README, a demo's evaluator read them): a change is
    deliberate, made here too."""
    from anthropic_otel.ops.alerts import SIGNALS

    table = {a.name: (a.signal, a.op, a.threshold, a.window, a.short_window, a.for_, a.severity) for a in ALERTS}
    assert table == {
        "AnthropicErrorRateHigh": ("error_ratio", ">", 0.01, "5m", None, "5m", "critical"),
        "AnthropicMaskedErrorRateHigh": ("masked_error_ratio", ">", 0.05, "5m", None, "10m", "warning"),
        "AnthropicDailySpendOverBudget": ("spend_usd", ">", 100.0, "1d", None, "0s", "critical"),
        "AnthropicSpendBurnRateHigh": ("spend_burn_rate", ">", 1.0, "1h", "5m", "2m", "warning"),
        "AnthropicTokenAnomalies": ("token_anomalies", ">", 0.0, "15m", None, "0s", "warning"),
        "AnthropicMaxTokensStopsHigh": ("max_tokens_ratio", ">", 0.05, "15m", None, "15m", "warning"),
        "AnthropicRateLimitHeadroomLow": ("ratelimit_headroom_min", "<", 0.1, None, None, "5m", "warning"),
        "AnthropicLatencyHigh": ("duration_p95_seconds", ">", 30.0, "5m", None, "10m", "warning"),
        "AnthropicUnpricedCalls": ("unpriced_calls", ">", 0.0, "1h", None, "0s", "warning"),
    }
    assert set(SIGNALS) == {a.signal for a in ALERTS}
    assert RECORDS == [
        "anthropic:budget_usd:daily",
        "anthropic:error_ratio:rate5m",
        "anthropic:masked_error_ratio:rate5m",
        "anthropic:spend_usd:increase1d",
        "anthropic:spend_burn_rate:rate1h",
        "anthropic:spend_burn_rate:rate5m",
        "anthropic:max_tokens_ratio:rate15m",
        "anthropic:ratelimit_headroom_ratio:min",
        "anthropic:operation_duration_seconds:p95_rate5m",
    ]
    params = Params()
    assert {a.name: a.threshold_in(params) for a in ALERTS} == {a.name: a.threshold for a in ALERTS}
    tuned = {a.name: a.threshold for a in alerts_in(Params(error_rate=0.02, budget_usd=250))}
    assert (tuned["AnthropicErrorRateHigh"], tuned["AnthropicDailySpendOverBudget"]) == (0.02, 250.0)
    assert tuned["AnthropicLatencyHigh"] == 30.0
    anchors = [a.runbook_url for a in ALERTS]
    assert anchors[0] == "https://github.com/anthropic-otel/anthropic-otel#alert-anthropicerrorratehigh"
    assert len(set(anchors)) == len(ALERTS)
