"""The rendered bundle: up to date in the repository, options reaching the right places, the Compose file loaded
by a real Compose implementation, and every dashboard query and Grafana rule run by a real Prometheus.

The live tests start Alertmanager and Prometheus on loopback with the bundle's own configuration at
`--time-scale 60`, Prometheus scraping a small exporter that plays two services: `checkout`, broken in every way
an alert watches, and `search`, healthy. Every alert must fire for checkout and none for search, reach the
webhook through Alertmanager (the burn rate inhibited once over budget), and the Grafana rules' raw conditions
must pick the same alerts, so the two renderings of one definition are checked against each other on one data set.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from anthropic_otel.ops import ALERTS, Params
from anthropic_otel.ops.alerts import PANEL_ANOMALIES, PANEL_HEADROOM, PANEL_LATENCY, format_number
from anthropic_otel.ops.bundle import DEFAULT_WEBHOOK_URL, render
from anthropic_otel.ops.grafana import JAEGER_UID, PROMETHEUS_UID

ROOT = Path(__file__).resolve().parents[2]
TIME_SCALE = 60


def tool(name: str) -> str:
    """A binary from `.tools/bin`, else from PATH; missing fails under CI and skips elsewhere."""
    local = ROOT / ".tools" / "bin" / name
    found = str(local) if local.is_file() else shutil.which(name)
    if found:
        return found
    message = f"{name} not found in .tools/bin or PATH"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def render_cli(out: Path, *options: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ALERT_WEBHOOK_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "anthropic_otel", "bundle", "--out", str(out), *options],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_checked_in_rendering_is_up_to_date(tmp_path: Path) -> None:
    render_cli(tmp_path)
    rendered = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert rendered, "the bundle wrote nothing"
    stale = [
        str(p) for p in rendered if not (ROOT / p).is_file() or (ROOT / p).read_bytes() != (tmp_path / p).read_bytes()
    ]
    assert not stale, f"out of date, run `make bundle`: {stale}"
    # A file the bundle no longer renders must not linger in the checkout either.
    checked_in = {
        p.relative_to(ROOT) for folder in ("prometheus", "grafana", "alertmanager") for p in (ROOT / folder).rglob("*")
    }
    leftover = sorted(str(p) for p in checked_in if (ROOT / p).is_file() and p not in rendered)
    assert not leftover, f"no longer rendered: {leftover}"


def test_options_reach_the_rules(tmp_path: Path) -> None:
    render_cli(
        tmp_path,
        *("--budget-usd", "250", "--error-rate", "0.02", "--masked-error-rate", "0.1", "--latency-seconds", "12"),
        *("--max-tokens-rate", "0.08", "--headroom", "0.2", "--service", "checkout", "--time-scale", "60"),
        *("--webhook-url", "http://127.0.0.1:8080/hook"),
    )
    rules = yaml.safe_load((tmp_path / "prometheus/rules/anthropic.yml").read_text())
    assert len(rules["groups"]) == 1
    records = {r["record"]: r for r in rules["groups"][0]["rules"] if "record" in r}
    alerts = {r["alert"]: r for r in rules["groups"][0]["rules"] if "alert" in r}
    assert records["anthropic:budget_usd:daily"] == {
        "record": "anthropic:budget_usd:daily",
        "expr": "vector(250)",
        "labels": {"service_name": "checkout"},
    }
    assert records["anthropic:spend_usd:increase24m"]["expr"] == (
        'sum(increase(anthropic_client_cost_USD_total{service_name="checkout"}[24m]))'
    )
    assert records["anthropic:spend_burn_rate:rate1m"]["expr"] == (
        'sum(rate(anthropic_client_cost_USD_total{service_name="checkout"}[1m])) * 1440'
        " / on() anthropic:budget_usd:daily"
    )
    assert {name: (a["expr"], a.get("for")) for name, a in alerts.items()} == {
        "AnthropicErrorRateHigh": ("anthropic:error_ratio:rate5s > 0.02", "5s"),
        "AnthropicMaskedErrorRateHigh": ("anthropic:masked_error_ratio:rate5s > 0.1", "10s"),
        "AnthropicDailySpendOverBudget": (
            "anthropic:spend_usd:increase24m > on() anthropic:budget_usd:daily",
            None,
        ),
        "AnthropicSpendBurnRateHigh": (
            "anthropic:spend_burn_rate:rate1m > 1 and anthropic:spend_burn_rate:rate5s > 1",
            "2s",
        ),
        "AnthropicTokenAnomalies": (
            "sum by (service_name, deployment_environment_name, gen_ai_request_model, app_feature) "
            '(increase(anthropic_client_token_anomalies_total{service_name="checkout"}[15s])) > 0',
            None,
        ),
        "AnthropicMaxTokensStopsHigh": ("anthropic:max_tokens_ratio:rate15s > 0.08", "15s"),
        "AnthropicRateLimitHeadroomLow": ("anthropic:ratelimit_headroom_ratio:min < 0.2", "5s"),
        "AnthropicLatencyHigh": ("anthropic:operation_duration_seconds:p95_rate5s > 12", "10s"),
        "AnthropicUnpricedCalls": (
            "sum by (service_name, deployment_environment_name, gen_ai_request_model) "
            '(increase(anthropic_client_cost_unpriced_total{service_name="checkout"}[1m])) > 0',
            None,
        ),
    }
    assert alerts["AnthropicErrorRateHigh"]["annotations"]["summary"] == "More than 2% of Anthropic API calls fail."
    prometheus = yaml.safe_load((tmp_path / "prometheus/prometheus.yml").read_text())
    assert prometheus["global"] == {"scrape_interval": "1s", "evaluation_interval": "1s"}
    alertmanager = yaml.safe_load((tmp_path / "alertmanager/alertmanager.yml").read_text())
    assert alertmanager["receivers"][0]["webhook_configs"][0]["url"] == "http://127.0.0.1:8080/hook"
    compose = yaml.safe_load((tmp_path / "docker-compose.yml").read_text())
    assert compose["services"]["grafana"]["environment"]["ALERT_WEBHOOK_URL"] == (
        "${ALERT_WEBHOOK_URL:-http://127.0.0.1:8080/hook}"
    )
    grafana_rules = yaml.safe_load((tmp_path / "grafana/provisioning/alerting/rules.yml").read_text())
    group = grafana_rules["groups"][0]
    assert group["interval"] == "10s"  # Grafana's 10 s grid, not 1s
    assert {r["title"]: r["for"] for r in group["rules"]} == {name: a.get("for", "0s") for name, a in alerts.items()}


def test_invalid_options_are_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "anthropic_otel", "bundle", "--out", str(tmp_path), "--time-scale", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (2, "anthropic-otel bundle: time_scale must be positive")
    assert not any(tmp_path.iterdir())


def test_compose_file_loads_in_compose_go_and_every_mount_exists() -> None:
    checker = tool("composecheck")
    env = {**os.environ, "GRAFANA_ADMIN_PASSWORD": "not-a-real-password"}
    env.pop("ALERT_WEBHOOK_URL", None)
    result = subprocess.run(
        [checker, str(ROOT / "docker-compose.yml")], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    sources = [Path(line) for line in result.stdout.splitlines()]
    assert ROOT / "collector-config/otel-collector.yaml" in sources
    assert ROOT / "prometheus/rules" in sources
    missing = [str(s.relative_to(ROOT)) for s in sources if not s.exists()]
    if missing == ["collector-config/otel-collector.yaml"] and os.environ.get("CI") != "true":
        pytest.skip("collector-config/otel-collector.yaml is not in this checkout yet")
    assert not missing


def test_compose_refuses_to_start_grafana_without_an_admin_password() -> None:
    checker = tool("composecheck")
    env = {k: v for k, v in os.environ.items() if k != "GRAFANA_ADMIN_PASSWORD"}
    result = subprocess.run(
        [checker, str(ROOT / "docker-compose.yml")], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "set GRAFANA_ADMIN_PASSWORD" in result.stderr


def test_compose_pins_images_and_binds_loopback() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    images = {name: s.get("image") for name, s in services.items()}
    assert images == {
        "otel-collector": "otel/opentelemetry-collector-contrib:0.161.0",
        "prometheus": "prom/prometheus:v2.42.0",
        "alertmanager": "prom/alertmanager:v0.25.0",
        "jaeger": "jaegertracing/jaeger:2.13.0",
        "grafana": "grafana/grafana:11.6.0",
        "demo": None,
    }
    ports = [p for s in services.values() for p in s.get("ports", [])]
    assert ports and all(p.startswith("127.0.0.1:") for p in ports)
    assert "--enable-feature=exemplar-storage" in services["prometheus"]["command"]
    assert "--web.enable-remote-write-receiver" in services["prometheus"]["command"]
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == (
        "${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD}"
    )
    assert services["demo"]["command"] == [
        *("python", "-m", "anthropic_otel", "demo", "--loop", "--otlp", "http://otel-collector:4318")
    ]
    dockerfile = ROOT / services["demo"]["build"]["dockerfile"]
    copied = [
        source
        for line in dockerfile.read_text().splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    ]
    assert copied == ["pyproject.toml", "README.md", "src"]
    assert all((ROOT / source).exists() for source in copied)
    assert "USER nobody" in dockerfile.read_text().splitlines()


def dashboard() -> dict[str, Any]:
    return json.loads((ROOT / "grafana/dashboards/anthropic-otel.json").read_text())


def test_dashboard_panels_variables_and_alert_links() -> None:
    board = dashboard()
    panels = board["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    assert {a.panel for a in ALERTS} <= set(ids)
    assert [v["name"] for v in board["templating"]["list"]] == ["service", "environment", "model", "feature"]
    jaeger_tables = [p for p in panels if p.get("datasource", {}).get("uid") == JAEGER_UID]
    assert [(p["type"], p["targets"][0]["queryType"]) for p in jaeger_tables] == [("table", "search")] * 2
    by_id = {p["id"]: p for p in panels}
    assert by_id[PANEL_HEADROOM]["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == 0.1
    assert "anthropic_client_token_anomalies_total" in by_id[PANEL_ANOMALIES]["targets"][0]["expr"]
    graphs = [p for p in panels if p["type"] == "timeseries"]
    assert all(p["options"]["legend"]["showLegend"] for p in graphs)
    rows = [p["title"] for p in panels if p["type"] == "row"]
    assert rows == ["Spend", "Traffic", "Errors and limits", "Traces"]


def test_datasources_link_exemplars_to_jaeger() -> None:
    config = yaml.safe_load((ROOT / "grafana/provisioning/datasources/datasources.yml").read_text())
    by_uid = {d["uid"]: d for d in config["datasources"]}
    assert set(by_uid) == {PROMETHEUS_UID, JAEGER_UID}
    prometheus_yml = yaml.safe_load((ROOT / "prometheus/prometheus.yml").read_text())
    assert by_uid[PROMETHEUS_UID]["jsonData"] == {
        "timeInterval": prometheus_yml["global"]["scrape_interval"],
        "exemplarTraceIdDestinations": [{"name": "trace_id", "datasourceUid": JAEGER_UID}],
    }


def test_grafana_rules_mirror_the_prometheus_alerts() -> None:
    prom = [
        rule
        for rule in yaml.safe_load((ROOT / "prometheus/rules/anthropic.yml").read_text())["groups"][0]["rules"]
        if "alert" in rule
    ]
    grafana = yaml.safe_load((ROOT / "grafana/provisioning/alerting/rules.yml").read_text())["groups"][0]["rules"]
    assert [r["title"] for r in grafana] == [r["alert"] for r in prom] == [a.name for a in ALERTS]
    for alert, rule, prom_rule in zip(ALERTS, grafana, prom, strict=True):
        assert rule["labels"] == prom_rule["labels"] == {"severity": alert.severity}
        assert rule["for"] == prom_rule.get("for", "0s") == alert.for_
        math = rule["data"][1]["model"]
        assert math["expression"] == f"$A {alert.op} {format_number(alert.threshold)}"
        assert rule["annotations"]["runbook_url"] == prom_rule["annotations"]["runbook_url"] == alert.runbook_url
    contact = yaml.safe_load((ROOT / "grafana/provisioning/alerting/contact-points.yml").read_text())
    assert contact["contactPoints"][0]["receivers"][0]["settings"]["url"] == "$ALERT_WEBHOOK_URL"
    policies = yaml.safe_load((ROOT / "grafana/provisioning/alerting/policies.yml").read_text())
    assert policies["policies"][0]["receiver"] == contact["contactPoints"][0]["name"]


def test_default_webhook_is_the_documented_one() -> None:
    assert render(Params(), DEFAULT_WEBHOOK_URL)["alertmanager/alertmanager.yml"].count(DEFAULT_WEBHOOK_URL) == 1


# --- live: a real Prometheus with the bundle's configuration ---------------------------------------------------

BUCKETS = (1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)


class Workload:
    """Cumulative series of two services as the Collector's exporter would show them, as a function of time."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def text(self) -> str:
        t = time.monotonic() - self.start
        lines: list[str] = []
        for service, broken in (("checkout", True), ("search", False)):
            base = (
                f'service_name="{service}",deployment_environment_name="prod",'
                'gen_ai_request_model="claude-sonnet-4-5",app_feature="chat"'
            )
            calls = 10 * t
            failed = calls * (0.05 if broken else 0.0)
            lines.append(f"gen_ai_client_operation_duration_seconds_count{{{base}}} {calls - failed}")
            lines.append(
                f'gen_ai_client_operation_duration_seconds_count{{{base},error_type="overloaded_error"}} {failed}'
            )
            for le in BUCKETS:
                share = (0.5 if le < 20 else 0.8 if le < 40 else 1.0) if broken else (0.9 if le < 2 else 1.0)
                lines.append(f'gen_ai_client_operation_duration_seconds_bucket{{{base},le="{le}"}} {calls * share}')
                lines.append(
                    f'gen_ai_client_operation_time_to_first_chunk_seconds_bucket{{{base},le="{le}"}} {calls * share}'
                )
            lines.append(f'gen_ai_client_operation_duration_seconds_bucket{{{base},le="+Inf"}} {calls}')
            lines.append(f'gen_ai_client_operation_time_to_first_chunk_seconds_bucket{{{base},le="+Inf"}} {calls}')
            lines.append(f"gen_ai_client_operation_duration_seconds_sum{{{base}}} {calls * 2}")
            for kind, per_call in (("input", 900), ("output", 300)):
                lines.append(f'gen_ai_client_token_usage_sum{{{base},gen_ai_token_type="{kind}"}} {calls * per_call}')
                lines.append(f'gen_ai_client_token_usage_count{{{base},gen_ai_token_type="{kind}"}} {calls}')
            dollars = (10.0 if broken else 0.001) * t
            for kind, share in (("input", 0.2), ("cache_read", 0.1), ("cache_write_5m", 0.2), ("output", 0.5)):
                labels = f'{base},anthropic_token_type="{kind}"'
                lines.append(f"anthropic_client_cost_USD_total{{{labels}}} {dollars * share}")
                lines.append(f"anthropic_client_tokens_total{{{labels}}} {calls * 1000 * share}")
            lines.append(f"anthropic_client_cache_savings_USD{{{base}}} {dollars * 0.05}")
            lines.append(f"anthropic_client_batch_savings_USD_total{{{base}}} {dollars * 0.01}")
            retried = calls * (0.1 if broken else 0.01)
            lines.append(
                f'anthropic_client_attempts_total{{{base},http_response_status_code="200",'
                f'anthropic_attempt_retried="false"}} {calls}'
            )
            lines.append(
                f'anthropic_client_attempts_total{{{base},http_response_status_code="529",error_type="overloaded_error",'
                f'anthropic_attempt_retried="true"}} {retried}'
            )
            stopped_short = calls * (0.1 if broken else 0.01)
            lines.append(
                f'anthropic_client_stop_reasons_total{{{base},anthropic_message_stop_reason="end_turn"}} '
                f"{calls - stopped_short}"
            )
            lines.append(
                f'anthropic_client_stop_reasons_total{{{base},anthropic_message_stop_reason="max_tokens"}} '
                f"{stopped_short}"
            )
            lines.append(f"anthropic_client_token_anomalies_total{{{base}}} {int(t / 2) if broken else 0}")
            lines.append(f"anthropic_client_cost_unpriced_total{{{base}}} {int(t) if broken else 0}")
            for kind, left in (("requests", 0.8), ("tokens", 0.05 if broken else 0.6)):
                lines.append(f'anthropic_ratelimit_headroom_ratio{{{base},anthropic_ratelimit_kind="{kind}"}} {left}')
        return "\n".join(lines) + "\n"


TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def exemplar_body(started: float = time.monotonic()) -> str:
    """Slow calls of the broken service in OpenMetrics, a bucket carrying the trace as the Collector's exporter does.
    Buckets only, no count: the calls are the workload's, this adds the exemplar and keeps p95 above 30 s."""
    calls = int(time.monotonic() - started) + 1
    base = 'service_name="checkout",deployment_environment_name="prod",gen_ai_request_model="claude-sonnet-4-5"'
    exemplar = f'# {{trace_id="{TRACE_ID}",span_id="b7ad6b7169203331"}} 35.2'
    name = "gen_ai_client_operation_duration_seconds"
    return (
        f"# TYPE {name} histogram\n"
        f'{name}_bucket{{{base},le="20.48"}} 0\n'
        f'{name}_bucket{{{base},le="40.96"}} {calls} {exemplar}\n'
        f'{name}_bucket{{{base},le="+Inf"}} {calls}\n'
        f"{name}_sum{{{base}}} {calls * 35.2}\n"
        "# EOF\n"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """An HTTP server on loopback in a thread: the workload's /metrics, or the webhook Alertmanager posts to."""

    def __init__(self, get_body: Any = None, content_type: str = "text/plain; version=0.0.4") -> None:
        self.posted: list[Any] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = get_body().encode()
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                server.posted.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.http.server_address[1])
        threading.Thread(target=self.http.serve_forever, daemon=True).start()


def start(command: list[str], log: Path, ready_url: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(ready_url, timeout=1) as response:
                if response.status == 200:
                    return process
        except OSError:
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"{command[0]} did not become ready: {log.read_text()}"
        time.sleep(0.2)


class Stack:
    def __init__(self, prometheus: str, alertmanager: str, webhook: Server) -> None:
        self.prometheus = prometheus
        self.alertmanager = alertmanager
        self.webhook = webhook


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Alertmanager and Prometheus with the bundle's configuration at --time-scale 60, on loopback ports."""
    prometheus_binary = tool("prometheus")
    alertmanager_binary = tool("alertmanager") if shutil.which("alertmanager") else tool("prometheus-alertmanager")
    workdir = tmp_path_factory.mktemp("stack")
    workload = Workload()
    exporter = Server(workload.text)
    exemplars = Server(exemplar_body, "application/openmetrics-text; version=1.0.0; charset=utf-8")
    webhook = Server()
    files = render(Params(time_scale=TIME_SCALE), f"http://127.0.0.1:{webhook.port}/alerts")

    (workdir / "alertmanager.yml").write_text(files["alertmanager/alertmanager.yml"])
    am_port = free_port()
    alertmanager = start(
        [
            alertmanager_binary,
            f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ],
        workdir / "alertmanager.log",
        f"http://127.0.0.1:{am_port}/-/ready",
    )

    config = yaml.safe_load(files["prometheus/prometheus.yml"])
    config["scrape_configs"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{exporter.port}"]
    # A second target in OpenMetrics, the exposition that carries exemplars.
    config["scrape_configs"].append({**config["scrape_configs"][0], "job_name": "exemplars"})
    config["scrape_configs"][1]["static_configs"] = [{"targets": [f"127.0.0.1:{exemplars.port}"]}]
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{am_port}"]
    config["rule_files"] = [str(workdir / "anthropic.yml")]
    (workdir / "anthropic.yml").write_text(files["prometheus/rules/anthropic.yml"])
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    processes = [alertmanager]
    try:
        processes.append(
            start(
                [
                    prometheus_binary,
                    f"--config.file={workdir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--enable-feature=exemplar-storage",
                    "--web.enable-remote-write-receiver",
                ],
                workdir / "prometheus.log",
                f"http://127.0.0.1:{port}/-/ready",
            )
        )
        yield Stack(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{am_port}", webhook)
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)
        for server in (exporter, exemplars, webhook):
            server.http.shutdown()


def api(url: str, path: str, **query: str) -> Any:
    full = f"{url}/api/v1/{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    try:
        with urllib.request.urlopen(full, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


def firing(url: str) -> set[tuple[str, str]]:
    alerts = api(url, "alerts")["data"]["alerts"]
    return {(a["labels"]["alertname"], a["labels"].get("service_name", "")) for a in alerts if a["state"] == "firing"}


# The per-service alerts fire for checkout; spend and burn rate sum every service, so they carry none.
EXPECTED_FIRING = {(a.name, "" if a.labelless else "checkout") for a in ALERTS}


def wait_for_every_alert(live: Stack) -> None:
    deadline = time.monotonic() + 90
    while (now := firing(live.prometheus)) != EXPECTED_FIRING and time.monotonic() < deadline:
        assert not {s for _, s in now} - {"checkout", ""}, now
        time.sleep(1)
    assert firing(live.prometheus) == EXPECTED_FIRING


def test_live_prometheus_fires_every_alert_for_the_broken_service_only(live: Stack) -> None:
    wait_for_every_alert(live)


def test_alertmanager_posts_them_to_the_webhook_and_over_budget_inhibits_the_burn_rate(live: Stack) -> None:
    """Every alert reaches the webhook, except that once over budget, the burn-rate alert is suppressed: it may
    have been posted in the seconds before the budget ran out, never after."""
    wait_for_every_alert(live)
    expected = EXPECTED_FIRING - {("AnthropicSpendBurnRateHigh", "")}
    deadline = time.monotonic() + 30
    delivered: set[tuple[str, str]] = set()
    while not expected <= delivered and time.monotonic() < deadline:
        time.sleep(0.5)
        delivered = {
            (a["labels"]["alertname"], a["labels"].get("service_name", ""))
            for post in list(live.webhook.posted)
            for a in post["alerts"]
            if a["status"] == "firing"
        }
    assert expected <= delivered <= EXPECTED_FIRING
    assert {post["receiver"] for post in live.webhook.posted} == {"webhook"}
    query = urllib.parse.urlencode({"filter": 'alertname="AnthropicSpendBurnRateHigh"'})
    with urllib.request.urlopen(f"{live.alertmanager}/api/v2/alerts?{query}", timeout=10) as response:
        burn = json.loads(response.read())
    assert [a["status"]["state"] for a in burn] == ["suppressed"]
    budget_fingerprints = {
        a["fingerprint"]
        for a in json.loads(urllib.request.urlopen(f"{live.alertmanager}/api/v2/alerts", timeout=10).read())
        if a["labels"]["alertname"] == "AnthropicDailySpendOverBudget"
    }
    assert set(burn[0]["status"]["inhibitedBy"]) == budget_fingerprints


def test_latency_panel_exemplars_carry_the_trace_id_grafana_links_by(live: Stack) -> None:
    """Prometheus runs with exemplar storage as in Compose; the latency panel's query returns the exemplar, and its
    label is the `trace_id` the Prometheus datasource sends to Jaeger."""
    board = dashboard()
    latency = next(p for p in board["panels"] if p["id"] == PANEL_LATENCY)
    assert all(target["exemplar"] for target in latency["targets"])
    expr = grafana_substitute(latency["targets"][1]["expr"], "checkout")
    deadline = time.monotonic() + 30
    while True:
        now = time.time()
        answer = api(live.prometheus, "query_exemplars", query=expr, start=str(now - 300), end=str(now))
        assert answer["status"] == "success", answer
        if answer["data"] or time.monotonic() > deadline:
            break
        time.sleep(1)
    labels = [e["labels"] for series in answer["data"] for e in series["exemplars"]]
    assert labels and labels[0] == {"trace_id": TRACE_ID, "span_id": "b7ad6b7169203331"}
    datasources = yaml.safe_load((ROOT / "grafana/provisioning/datasources/datasources.yml").read_text())
    assert datasources["datasources"][0]["jsonData"]["exemplarTraceIdDestinations"][0]["name"] == "trace_id"


def grafana_substitute(expr: str, service: str) -> str:
    """Template variables as Grafana replaces them: one service, All as `.*`, the rate interval for 1 s scrapes."""
    return (
        expr.replace("$__rate_interval", "4s")
        .replace("$service", service)
        .replace("$environment", ".*")
        .replace("$model", ".*")
        .replace("$feature", ".*")
    )


def test_every_dashboard_query_runs_and_finds_its_series(live: Stack) -> None:
    wait_for_every_alert(live)
    live_prometheus = live.prometheus
    # The dashboard as rendered for this Prometheus, and as checked in (day-long windows over seconds of data).
    scaled = render(Params(time_scale=TIME_SCALE), DEFAULT_WEBHOOK_URL)["grafana/dashboards/anthropic-otel.json"]
    targets = [
        (panel["title"], target["expr"])
        for board in (json.loads(scaled), dashboard())
        for panel in board["panels"]
        for target in panel.get("targets", [])
        if panel.get("datasource", {}).get("uid") == PROMETHEUS_UID
    ]
    board = dashboard()
    variables = [v["query"] for v in board["templating"]["list"]]
    assert len(targets) > 20
    empty = []
    for title, expr in targets:
        answer = api(live_prometheus, "query", query=grafana_substitute(expr, "checkout"))
        assert answer["status"] == "success", (title, expr, answer)
        if not answer["data"]["result"]:
            empty.append(title)
    assert not empty, f"queries that found no series: {empty}"
    for query in variables:
        metric, label = query.removeprefix("label_values(").removesuffix(")").rsplit(", ", 1)
        answer = api(live_prometheus, "series", **{"match[]": grafana_substitute(metric, "checkout")})
        assert answer["status"] == "success" and any(label in s for s in answer["data"]), query


def test_grafana_rule_conditions_pick_the_same_alerts(live: Stack) -> None:
    """Each Grafana rule's condition A, run by Prometheus, finds exactly the series the Prometheus alert fires for."""
    wait_for_every_alert(live)
    live_prometheus = live.prometheus
    rules = yaml.safe_load(
        render(Params(time_scale=TIME_SCALE), DEFAULT_WEBHOOK_URL)["grafana/provisioning/alerting/rules.yml"]
    )
    picked = set()
    for rule in rules["groups"][0]["rules"]:
        answer = api(live_prometheus, "query", query=rule["data"][0]["model"]["expr"])
        assert answer["status"] == "success", (rule["title"], answer)
        picked |= {(rule["title"], r["metric"].get("service_name", "")) for r in answer["data"]["result"]}
    assert picked == EXPECTED_FIRING


def github_anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    import re

    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_readme_reference_anchors_are_the_runbook_urls() -> None:
    from anthropic_otel.ops import docs

    headings = [line.removeprefix("#### ") for line in docs.sections().splitlines() if line.startswith("#### ")]
    assert [github_anchor(h) for h in headings] == [a.anchor for a in ALERTS]
    rows = docs.table().splitlines()[2:]
    assert [row.split("|")[1].strip() for row in rows] == [f"[`{a.name}`](#{a.anchor})" for a in ALERTS]
    assert "| [`AnthropicLatencyHigh`](#alert-anthropiclatencyhigh) | warning |" in docs.table()
    assert "> 30 s | 5m | 10m | `--latency-seconds` |" in docs.table()


def test_without_the_ops_dependencies_the_command_says_what_to_install(tmp_path: Path) -> None:
    """The CLI builds every subcommand's parser: `bundle` must load without PyYAML and the Grafana SDK, and say
    what is missing when it runs."""
    script = (
        "import sys\n"
        "sys.modules['yaml'] = None\n"
        "sys.modules['grafana_foundation_sdk'] = None\n"
        "from anthropic_otel.cli import main\n"
        f"sys.exit(main(['bundle', '--out', {str(tmp_path)!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout.strip()) == (
        2,
        "anthropic-otel bundle needs yaml: pip install 'anthropic-otel[ops]'",
    ), result.stderr
    assert not any(tmp_path.iterdir())


def test_collector_config_is_copied_from_the_checkout_when_present(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anthropic_otel.ops import bundle

    checkout = tmp_path / "checkout"
    (checkout / "collector-config").mkdir(parents=True)
    (checkout / "collector-config" / "otel-collector.yaml").write_text("receivers: {}\n")
    (checkout / "collector-config" / "notes.txt").write_text("not a config\n")
    monkeypatch.setattr(bundle, "checkout_root", lambda: checkout)
    out = tmp_path / "out"
    written = bundle.write(out, {"docker-compose.yml": "services: {}\n"})
    assert sorted(p.relative_to(out).as_posix() for p in written) == [
        "collector-config/otel-collector.yaml",
        "docker-compose.yml",
    ]
    assert (out / "collector-config" / "otel-collector.yaml").read_text() == "receivers: {}\n"
    monkeypatch.setattr(bundle, "checkout_root", lambda: None)
    assert [p.name for p in bundle.write(tmp_path / "bare", {"a.yml": "a: 1\n"})] == ["a.yml"]


def test_the_readme_shows_the_alert_reference_as_the_definitions_render_it() -> None:
    from anthropic_otel.ops import docs

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert docs.table() in readme
    assert docs.sections() in readme
