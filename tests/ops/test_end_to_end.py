"""End to end on loopback, every part real: the instrumented workload (tests/ops/e2e_workload.py: the plugin on the
real anthropic SDK against FakeAnthropic, OpenTelemetry SDK with OTLP exporters) -> the Collector with
collector-config/otel-collector.yaml -> Jaeger (traces) and Debian's Prometheus 2.42 (scraping the Collector's
prometheus exporter, exemplar storage on) with the rules `anthropic-otel bundle --time-scale 60 --budget-usd 1`
renders -> Debian's Alertmanager 0.25 with the bundle's configuration -> a webhook this test runs.

Two services run at once until the alerts have fired and reached the webhook (at most `RUN_SECONDS`).
`e2e-broken` is broken in the ways the bundle watches (see the workload's docstring for the cycle), so exactly
these alerts fire (`EXPECTED`):

* AnthropicErrorRateHigh: one call in 21 meets three 529s and fails after max_retries=2 (4.8% > 1%);
* AnthropicMaskedErrorRateHigh: 5 retried attempts a cycle (two 529s, one 429, two 500s absorbed by the retry) for
  21 calls (24% > 5%); the two 500s alone are 9.5% of the calls;
* AnthropicDailySpendOverBudget and AnthropicSpendBurnRateHigh: 0.05 to 0.1 USD a second against a budget of
  1 USD a (scaled) day of 1440 s; these two sum every service, so they carry no service label;
* AnthropicTokenAnomalies, for (claude-sonnet-4-5, search): a 20000-token outlier after three 500-token calls;
* AnthropicMaxTokensStopsHigh: 2 of 20 responses stop at max_tokens (10% > 5%);
* AnthropicUnpricedCalls, for claude-next-9.

And not AnthropicLatencyHigh (every call takes well under 30 s) nor AnthropicRateLimitHeadroomLow (the fake
API reports 3999 of 4000 requests left). `e2e-healthy` (two cheap, successful calls a second, 0.2x the budget's
pace) fires nothing.

Prometheus' rule windows at time scale 60: 5s for the error ratios (`for` 5s and 10s), 15s for max_tokens (`for`
15s) and anomalies, 1m for unpriced calls and the long burn-rate window, 24m for the day.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from binaries import (
    ROOT,
    WebhookReceiver,
    alertmanager,
    collector_env,
    eventually,
    free_ports,
    http_json,
    processes,
    prometheus,
    start_collector,
    start_jaeger,
)

from anthropic_otel.ops import ALERTS, Params
from anthropic_otel.ops.alerts import fill_text

WORKLOAD = Path(__file__).with_name("e2e_workload.py")
PICTURE = ROOT / "tools" / "dashboard_picture.py"
BROKEN, HEALTHY = "e2e-broken", "e2e-healthy"
ENVIRONMENT = "e2e"
SONNET, HAIKU, UNPRICED = "claude-sonnet-4-5", "claude-haiku-4-5", "claude-next-9"
TIME_SCALE = 60
BUDGET_USD = 1.0
RUN_SECONDS = 150.0
"""The longest the workloads run: they stop once the alerts have fired and reached the webhook (25 to 45 s on a
shared 2-core machine at a load average of 10 to 13; no quieter machine was measured)."""
PICTURE_TITLE = (
    f"Anthropic API dashboard, service {BROKEN}: the end-to-end run "
    f"(bundle --time-scale {TIME_SCALE} --budget-usd {BUDGET_USD:g}; windows scaled: 1h is 1m, the day 24m)"
)
PARAMS = Params(time_scale=TIME_SCALE, budget_usd=BUDGET_USD)

Key = tuple[str, str, str, str]
"""(alertname, service_name, gen_ai_request_model, app_feature); a label the alert lacks is ''."""
EXPECTED: set[Key] = {
    ("AnthropicErrorRateHigh", BROKEN, "", ""),
    ("AnthropicMaskedErrorRateHigh", BROKEN, "", ""),
    ("AnthropicDailySpendOverBudget", "", "", ""),
    ("AnthropicSpendBurnRateHigh", "", "", ""),
    ("AnthropicTokenAnomalies", BROKEN, SONNET, "search"),
    ("AnthropicMaxTokensStopsHigh", BROKEN, "", ""),
    ("AnthropicUnpricedCalls", BROKEN, UNPRICED, ""),
}
NEVER = {"AnthropicLatencyHigh", "AnthropicRateLimitHeadroomLow"}
BURN = ("AnthropicSpendBurnRateHigh", "", "", "")


def key(labels: dict[str, str]) -> Key:
    return (
        labels["alertname"],
        labels.get("service_name", ""),
        labels.get("gen_ai_request_model", ""),
        labels.get("app_feature", ""),
    )


@dataclass
class Run:
    prometheus: str
    alertmanager: str
    jaeger: str
    bundle: Path
    webhook: WebhookReceiver
    summaries: dict[str, dict[str, Any]]
    fired_at: float
    """When Prometheus first had exactly the expected alerts firing (epoch seconds); instant queries run at it."""
    firing: list[dict[str, Any]]
    """/api/v1/alerts at that moment."""
    delivered: set[Key]
    burn_in_alertmanager: list[dict[str, Any]]
    seen: list[dict[str, Any]] = field(default_factory=list)
    """Every alert /api/v1/alerts showed while the workloads ran, any state."""
    timings: dict[str, float] = field(default_factory=dict)

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        answer = api(self.prometheus, "query", query=expr, time=str(self.fired_at if at is None else at))
        assert answer["status"] == "success", (expr, answer)
        return list(answer["data"]["result"])

    def values(self, expr: str, *labels: str, at: float | None = None) -> dict[tuple[str, ...], float]:
        return {
            tuple(r["metric"].get(label, "") for label in labels): float(r["value"][1]) for r in self.query(expr, at=at)
        }


def api(base: str, path: str, **query: str) -> Any:
    return http_json(f"{base}/api/v1/{path}" + (f"?{urllib.parse.urlencode(query)}" if query else ""))


def render_bundle(out: Path, webhook_url: str) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "anthropic_otel", "bundle", "--out", str(out)),
            *("--time-scale", str(TIME_SCALE), "--budget-usd", str(BUDGET_USD), "--webhook-url", webhook_url),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


WORKLOAD_ENV = {
    "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment.name={ENVIRONMENT}",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    "OTEL_EXPORTER_OTLP_INSECURE": "true",
    "OTEL_METRIC_EXPORT_INTERVAL": "1000",
}


def workload_argv(service: str, otlp_grpc: int, *args: str) -> list[str]:
    """The workload under `env`: the test's own OTEL_* and ANTHROPIC_* variables unset (Process passes this
    environment on), then the deployed service's configuration set."""
    inherited = sorted(key for key in os.environ if key.startswith(("OTEL_", "ANTHROPIC_")))
    settings = {
        **WORKLOAD_ENV,
        "OTEL_SERVICE_NAME": service,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_grpc}",
    }
    return [
        "env",
        *(f"--unset={key}" for key in inherited),
        *(f"{key}={value}" for key, value in settings.items()),
        sys.executable,
        str(WORKLOAD),
        *args,
    ]


@dataclass
class Stack:
    prometheus: str
    alertmanager: str
    jaeger: str
    otlp_grpc: int


def start_stack(start: Any, work: Path, bundle: Path) -> Stack:
    """Alertmanager, Jaeger, the Collector and Prometheus on free loopback ports, with the rendered bundle."""
    am_port, prom_port, grpc, http, scrape = free_ports(5)
    # Alertmanager with the bundle's configuration as rendered (its webhook is ours).
    am = start(
        "alertmanager",
        [
            str(alertmanager()),
            f"--config.file={bundle / 'alertmanager/alertmanager.yml'}",
            f"--storage.path={work / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ],
    )
    _, jaeger_env = start_jaeger(start)
    env = collector_env(
        otlp_grpc_endpoint=f"127.0.0.1:{grpc}",
        otlp_http_endpoint=f"127.0.0.1:{http}",
        prometheus_endpoint=f"127.0.0.1:{scrape}",
    )
    env["JAEGER_OTLP_GRPC_ENDPOINT"] = jaeger_env["JAEGER_OTLP_GRPC_ENDPOINT"]
    start_collector(start, "otelcol", "otel-collector.yaml", env)
    # The rendered prometheus.yml, pointed at our Collector and Alertmanager and at the rendered rule file.
    config = yaml.safe_load((bundle / "prometheus/prometheus.yml").read_text())
    config["scrape_configs"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{scrape}"]}]
    config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{am_port}"]}]
    config["rule_files"] = [str(bundle / "prometheus/rules/anthropic.yml")]
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    prom = start(
        "prometheus",
        [
            str(prometheus()),
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--enable-feature=exemplar-storage",
        ],
    )
    stack = Stack(
        f"http://127.0.0.1:{prom_port}",
        f"http://127.0.0.1:{am_port}",
        f"http://{jaeger_env['JAEGER_QUERY_HTTP_ENDPOINT']}",
        grpc,
    )
    am.wait_http(f"{stack.alertmanager}/-/ready")
    prom.wait_http(f"{stack.prometheus}/-/ready")
    return stack


@dataclass
class Watched:
    fired_at: float = 0.0
    firing: list[dict[str, Any]] = field(default_factory=list)
    delivered: set[Key] = field(default_factory=set)
    burn: list[dict[str, Any]] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)
    first_firing: dict[str, float] = field(default_factory=dict)


def watch(stack: Stack, webhook: WebhookReceiver, workloads: dict[str, Any], timings: dict[str, float]) -> Watched:
    """Polls Prometheus' alerts while the workloads run, until exactly the expected ones fire and Alertmanager has
    delivered them (and inhibited the burn rate); keeps every alert seen on the way."""
    launched = time.monotonic()
    watched = Watched()
    burn_filter = urllib.parse.urlencode({"filter": 'alertname="AnthropicSpendBurnRateHigh"'})
    while time.monotonic() < launched + RUN_SECONDS:
        for name, workload in workloads.items():
            assert workload.proc.poll() is None, f"{name} exited early:\n{workload.log()[-4000:]}"
        alerts = api(stack.prometheus, "alerts")["data"]["alerts"]
        watched.seen.extend(alerts)
        for alert in alerts:
            if alert["state"] == "firing":
                watched.first_firing.setdefault(alert["labels"]["alertname"], round(time.monotonic() - launched, 1))
        firing = {key(a["labels"]) for a in alerts if a["state"] == "firing"}
        # Fail at once on an alert that must not fire, or on anything at all for the healthy service.
        assert not firing - EXPECTED, f"unexpected alerts firing: {firing - EXPECTED}"
        healthy = sorted((*key(a["labels"]), a["state"]) for a in alerts if a["labels"].get("service_name") == HEALTHY)
        assert not healthy, f"alerts of the healthy service: {healthy}"
        if not watched.fired_at and firing == EXPECTED:
            watched.fired_at, watched.firing = time.time(), alerts
            timings["all expected alerts firing"] = time.monotonic() - launched
        if watched.fired_at:
            watched.delivered = {
                key(a["labels"]) for body in webhook.bodies() for a in body["alerts"] if a["status"] == "firing"
            }
            watched.burn = http_json(f"{stack.alertmanager}/api/v2/alerts?{burn_filter}")
            if EXPECTED - {BURN} <= watched.delivered and [b["status"]["state"] for b in watched.burn] == [
                "suppressed"
            ]:
                timings["delivered through Alertmanager"] = time.monotonic() - launched
                print(f"\nfirst firing (s after the workloads started): {watched.first_firing}")
                return watched
        time.sleep(0.5)
    last = sorted({(*key(a["labels"]), a["state"]) for a in watched.seen[-40:]})
    raise AssertionError(f"the expected alerts did not fire together and reach the webhook; last seen: {last}")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    work = tmp_path_factory.mktemp("e2e")
    timings: dict[str, float] = {}
    begun = time.monotonic()
    webhook = WebhookReceiver()
    bundle = work / "bundle"
    render_bundle(bundle, webhook.url)
    try:
        with processes(work) as start:
            stack = start_stack(start, work, bundle)
            timings["stack ready"] = time.monotonic() - begun
            summaries = {name: work / f"{name}.json" for name in (BROKEN, HEALTHY)}
            workloads = {
                name: start(
                    f"workload-{name}",
                    workload_argv(
                        name,
                        stack.otlp_grpc,
                        "broken" if name == BROKEN else "healthy",
                        *("--seconds", str(RUN_SECONDS), "--summary", str(summaries[name])),
                        *("--stop-file", str(work / "stop")),
                    ),
                )
                for name in (BROKEN, HEALTHY)
            }
            launched = time.monotonic()
            watched = watch(stack, webhook, workloads, timings)
            (work / "stop").touch()
            for name, workload in workloads.items():
                assert workload.proc.wait(RUN_SECONDS + 60) == 0, f"{name} failed:\n{workload.log()[-4000:]}"
            timings["workloads done"] = time.monotonic() - launched
            loaded = {name: json.loads(path.read_text()) for name, path in summaries.items()}
            result = Run(
                stack.prometheus,
                stack.alertmanager,
                stack.jaeger,
                bundle,
                webhook,
                loaded,
                watched.fired_at,
                watched.firing,
                watched.delivered,
                watched.burn,
                watched.seen,
                timings,
            )
            # The last export reaches Prometheus a scrape or two after the workloads end.
            deadline = time.monotonic() + 15
            for name in (BROKEN, HEALTHY):
                calls = f'sum(gen_ai_client_operation_duration_seconds_count{{service_name="{name}"}})'
                while result.values(calls, at=time.time()) != {(): loaded[name]["counts"]["calls"]}:
                    assert time.monotonic() < deadline, (name, result.values(calls, at=time.time()), loaded[name])
                    time.sleep(0.5)
            timings["final counts scraped"] = time.monotonic() - launched
            print(f"\nend-to-end timings (s): {json.dumps({k: round(v, 1) for k, v in timings.items()})}")
            yield result
    finally:
        webhook.close()


def test_exactly_the_expected_alerts_fire_for_the_broken_service(run: Run) -> None:
    assert {key(a["labels"]) for a in run.firing if a["state"] == "firing"} == EXPECTED
    assert {name for name, *_ in EXPECTED} | NEVER == {alert.name for alert in ALERTS}
    # Over the whole run, as Prometheus' ALERTS series kept it: nothing else fired, not even for a moment.
    ever = run.query('max_over_time(ALERTS{alertstate="firing"}[10m])', at=time.time())
    assert {key(r["metric"]) for r in ever} == EXPECTED
    assert {a["labels"]["severity"] for a in run.firing if a["labels"]["alertname"] == "AnthropicErrorRateHigh"} == {
        "critical"
    }


def test_alertmanager_posts_them_to_the_webhook(run: Run) -> None:
    """Every expected alert reaches the webhook; the burn-rate alert is inhibited once over budget (it may have
    gone out in the moments before the budget ran out, never after)."""
    assert EXPECTED - {BURN} <= run.delivered <= EXPECTED
    assert {body["receiver"] for body in run.webhook.bodies()} == {"webhook"}
    # Each as the bundle's rule renders it: the summary with this rendering's threshold, the runbook link.
    definitions = {alert.name: alert for alert in ALERTS}
    for body in run.webhook.bodies():
        for posted in body["alerts"]:
            alert = definitions[posted["labels"]["alertname"]]
            assert posted["labels"]["severity"] == alert.severity
            assert posted["annotations"]["summary"] == fill_text(alert.summary, alert, PARAMS, "")
            assert posted["annotations"]["runbook_url"] == alert.runbook_url
    assert [a["status"]["state"] for a in run.burn_in_alertmanager] == ["suppressed"]
    budget = [
        a["fingerprint"]
        for a in http_json(f"{run.alertmanager}/api/v2/alerts")
        if a["labels"]["alertname"] == "AnthropicDailySpendOverBudget"
    ]
    assert run.burn_in_alertmanager[0]["status"]["inhibitedBy"] == budget


def test_the_healthy_service_fires_nothing(run: Run) -> None:
    assert [a["labels"] for a in run.seen if a["labels"].get("service_name") == HEALTHY] == []
    assert run.query(f'max_over_time(ALERTS{{service_name="{HEALTHY}"}}[10m])', at=time.time()) == []
    # Not for want of data: its calls were scraped, and alone it stays under the budget and its pace.
    calls = f'sum(rate(gen_ai_client_operation_duration_seconds_count{{service_name="{HEALTHY}"}}[5s]))'
    assert run.values(calls)[()] > 1
    spend = f'sum(increase(anthropic_client_cost_USD_total{{service_name="{HEALTHY}"}}[24m]))'
    assert 0 < run.values(spend)[()] < BUDGET_USD / 10
    burn = f'sum(rate(anthropic_client_cost_USD_total{{service_name="{HEALTHY}"}}[1m])) * 1440 / {BUDGET_USD}'
    assert 0.05 < run.values(burn)[()] < 0.5


def counts_in_prometheus(run: Run, service: str) -> dict[str, Any]:
    sel = f'service_name="{service}"'
    now = time.time()
    return {
        "calls": run.values(f"sum(gen_ai_client_operation_duration_seconds_count{{{sel}}})", at=now)[()],
        "failed": run.values(
            f'sum by (error_type) (gen_ai_client_operation_duration_seconds_count{{{sel},error_type!=""}})',
            "error_type",
            at=now,
        ),
        "attempts": run.values(
            f"sum by (anthropic_attempt_retried, http_response_status_code) (anthropic_client_attempts_total{{{sel}}})",
            "anthropic_attempt_retried",
            "http_response_status_code",
            at=now,
        ),
        "stops": run.values(
            f"sum by (anthropic_message_stop_reason) (anthropic_client_stop_reasons_total{{{sel}}})",
            "anthropic_message_stop_reason",
            at=now,
        ),
        "anomalies": run.values(
            f"sum by (gen_ai_request_model, app_feature) (anthropic_client_token_anomalies_total{{{sel}}})",
            "gen_ai_request_model",
            "app_feature",
            at=now,
        ),
        "unpriced": run.values(
            f"sum by (gen_ai_request_model) (anthropic_client_cost_unpriced_total{{{sel}}})",
            "gen_ai_request_model",
            at=now,
        ),
        "batch_savings": run.values(f"sum(anthropic_client_batch_savings_USD_total{{{sel}}})", at=now),
    }


def test_prometheus_counts_exactly_what_the_broken_workload_did(run: Run) -> None:
    summary = run.summaries[BROKEN]
    done, cycles = summary["counts"], summary["cycles"]
    assert cycles >= 5, summary
    assert summary["call_spans"] == done["calls"] == 21 * cycles
    found = counts_in_prometheus(run, BROKEN)
    assert found.pop("batch_savings")[()] > 0
    assert found == {
        "calls": 21 * cycles,
        "failed": {("overloaded_error",): cycles},
        "attempts": {
            ("true", "529"): 2 * cycles,
            ("true", "429"): cycles,
            ("true", "500"): 2 * cycles,
            ("false", "529"): cycles,
            ("false", "200"): 20 * cycles,
        },
        "stops": {("end_turn",): 18 * cycles, ("max_tokens",): 2 * cycles},
        # Every outlier but the first, which came before the detector's warm-up ended; the other series of the
        # counter are there at 0, from their first call.
        "anomalies": {(SONNET, "search"): cycles - 1, (SONNET, "chat"): 0, (UNPRICED, "chat"): 0},
        "unpriced": {(UNPRICED,): cycles},
    }
    assert done["outliers_after_warmup"] == cycles - 1


def test_prometheus_counts_exactly_what_the_healthy_workload_did(run: Run) -> None:
    summary = run.summaries[HEALTHY]
    calls = summary["counts"]["calls"]
    assert calls == summary["cycles"] == summary["call_spans"] > 20
    assert counts_in_prometheus(run, HEALTHY) == {
        "calls": calls,
        "failed": {},
        "attempts": {("false", "200"): calls},
        "stops": {("end_turn",): calls},
        "anomalies": {(HAIKU, "faq"): 0},
        "unpriced": {},
        "batch_savings": {},
    }


def test_an_exemplar_of_the_latency_histogram_opens_its_trace_in_jaeger(run: Run) -> None:
    summary = run.summaries[BROKEN]
    answer = api(
        run.prometheus,
        "query_exemplars",
        query=f'gen_ai_client_operation_duration_seconds_bucket{{service_name="{BROKEN}"}}',
        start=str(summary["started"]),
        end=str(time.time()),
    )
    assert answer["status"] == "success", answer
    exemplars = [e["labels"] for series in answer["data"] for e in series["exemplars"]]
    assert exemplars, "no exemplar on gen_ai_client_operation_duration_seconds_bucket"
    assert all(set(e) == {"trace_id", "span_id"} for e in exemplars)
    assert {e["trace_id"] for e in exemplars} <= set(summary["trace_ids"])

    def in_jaeger(exemplar: dict[str, str]) -> dict[str, Any]:
        answer = http_json(f"{run.jaeger}/api/traces/{exemplar['trace_id']}")
        assert answer["data"], answer
        return answer

    # Every exemplar's trace, each with the span the exemplar names: the plugin's call span of this service.
    for exemplar in exemplars:
        traces = eventually(lambda e=exemplar: in_jaeger(e), timeout=15, what=f"trace {exemplar}")["data"]
        assert [t["traceID"] for t in traces] == [exemplar["trace_id"]]
        spans = {s["spanID"]: s for s in traces[0]["spans"]}
        span = spans[exemplar["span_id"]]
        assert span["operationName"] == "anthropic.messages.create"
        assert traces[0]["processes"][span["processID"]]["serviceName"] == BROKEN


# --- every query of the dashboard and of the Grafana rules, run by this Prometheus --------------------------------


def grafana_substitute(expr: str, rate_interval: str, range_: str, service: str = BROKEN) -> str:
    """Template variables as Grafana replaces them: one service, All (`.*`) for the multi-value ones,
    `$__rate_interval` as four scrape intervals (its floor), `$__interval` as one, `$__range` as the time range."""
    return (
        expr.replace("$__rate_interval", rate_interval)
        .replace("$__interval", rate_interval)
        .replace("$__range", range_)
        .replace("$service", service)
        .replace("$environment", ".*")
        .replace("$model", ".*")
        .replace("$feature", ".*")
    )


def renderings(run: Run) -> list[tuple[str, Path]]:
    return [("rendered", run.bundle), ("checked in", ROOT)]


def rate_interval(root: Path) -> str:
    """Grafana's floor for $__rate_interval: four times the datasource's scrape interval (timeInterval)."""
    from anthropic_otel.ops.alerts import format_duration, parse_duration

    sources = yaml.safe_load((root / "grafana/provisioning/datasources/datasources.yml").read_text())
    return format_duration(4 * parse_duration(sources["datasources"][0]["jsonData"]["timeInterval"]))


def no_data(run: Run, service: str) -> tuple[list[str], int]:
    """The dashboard queries (panels and variables, both renderings) that return nothing for `service`, named by
    panel, and how many queries ran."""
    empty: list[str] = []
    checked = 0
    range_ = f"{round(run.fired_at - run.summaries[BROKEN]['started'])}s"
    for where, root in renderings(run):
        interval = rate_interval(root)
        for path in sorted((root / "grafana/dashboards").glob("*.json")):
            board = json.loads(path.read_text())
            for panel in board["panels"]:
                if panel.get("datasource", {}).get("type") != "prometheus":
                    continue
                for target in panel["targets"]:
                    checked += 1
                    if not run.query(grafana_substitute(target["expr"], interval, range_, service)):
                        empty.append(f"{where} {path.name}: panel {panel['id']} {panel['title']!r} {target['refId']}")
            for variable in board["templating"]["list"]:
                metric, label = variable["query"].removeprefix("label_values(").removesuffix(")").rsplit(", ", 1)
                series = api(run.prometheus, "series", **{"match[]": grafana_substitute(metric, interval, "", service)})
                checked += 1
                if not {s.get(label) for s in series["data"]} - {None}:
                    empty.append(f"{where} {path.name}: variable ${variable['name']}")
    return empty, checked


def test_every_dashboard_query_returns_data(run: Run) -> None:
    empty, checked = no_data(run, BROKEN)
    assert not empty, f"No data: {empty}"
    assert checked == 2 * (25 + 4)  # 25 Prometheus targets and 4 variables in each rendering


def test_the_no_data_check_sees_what_the_healthy_service_lacks(run: Run) -> None:
    """The same check on the healthy service finds exactly the panels that need a fault, a stream, the cache or a
    batch: so an empty panel does fail the test above."""
    empty, _ = no_data(run, HEALTHY)
    lacking = {
        # Not the cache hit ratio: the plugin counts cache reads of 0 tokens too, so it is 0%, not "No data".
        (8, "A"),  # cache savings: no cache reads
        (8, "B"),  # batch savings
        (6, "A"),  # unpriced calls
        (23, "A"),  # time to first token: no streams
        (23, "B"),
        (30, "A"),  # errors
        (31, "A"),  # retries
        (32, "A"),
        # Not token anomalies: their counter is reported at 0 from a series' first call, so the panel shows 0.
    }
    board = json.loads((ROOT / "grafana/dashboards/anthropic-otel.json").read_text())
    titles = {panel["id"]: panel["title"] for panel in board["panels"]}
    expected = [
        f"{where} anthropic-otel.json: panel {panel} {titles[panel]!r} {ref}"
        for where, _ in renderings(run)
        for panel, ref in lacking
    ]
    assert sorted(empty) == sorted(expected)


def test_every_grafana_rule_query_returns_data_and_the_conditions_pick_the_expected_alerts(run: Run) -> None:
    empty: list[str] = []
    for where, root, params in (("rendered", run.bundle, PARAMS), ("checked in", ROOT, Params())):
        rules = yaml.safe_load((root / "grafana/provisioning/alerting/rules.yml").read_text())["groups"][0]["rules"]
        assert [rule["title"] for rule in rules] == [alert.name for alert in ALERTS]
        for rule, alert in zip(rules, ALERTS, strict=True):
            condition = rule["data"][0]["model"]["expr"]
            assert condition == alert.expr_raw(params), (where, alert.name)
            # The measure each condition compares (both windows of the burn rate), for the broken service.
            for window in alert.windows_in(params) or [None]:
                measure = alert.measure_in(params, window)
                found = run.query(measure)
                if not [r for r in found if r["metric"].get("service_name", BROKEN) == BROKEN]:
                    empty.append(f"{where}: {alert.name} [{window}]: {measure}")
        if where == "rendered":
            picked = {
                key({"alertname": rule["title"], **r["metric"]})
                for rule in rules
                for r in run.query(rule["data"][0]["model"]["expr"])
            }
            assert picked == EXPECTED
    assert not empty, f"No data: {empty}"


def test_dashboard_picture(run: Run) -> None:
    """With ANTHROPIC_OTEL_PICTURE=docs/dashboard.png, draws the dashboard's main panels from this run's
    Prometheus (tools/dashboard_picture.py, needs matplotlib); without it there is nothing to check."""
    out = os.environ.get("ANTHROPIC_OTEL_PICTURE")
    if not out:
        pytest.skip("set ANTHROPIC_OTEL_PICTURE=docs/dashboard.png to draw the dashboard from this run")
    summary = run.summaries[BROKEN]
    done = subprocess.run(
        [
            sys.executable,
            str(PICTURE),
            *("--prometheus", run.prometheus, "--service", BROKEN),
            *("--dashboard", str(run.bundle / "grafana/dashboards/anthropic-otel.json")),
            *("--rate-interval", rate_interval(run.bundle)),
            *("--start", str(summary["started"]), "--end", str(summary["ended"])),
            *("--out", str(ROOT / out), "--title", PICTURE_TITLE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (ROOT / out).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
