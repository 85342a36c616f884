"""The Collector configurations of collector-config/ run by the real Collector (`make collector`), with the real
plugin's telemetry: the series names Prometheus ends up with, the trace in Jaeger (`make jaeger`), and the
agent/gateway fleet (load balancing by trace ID, tail sampling, remote write into Debian's Prometheus).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from binaries import (
    COLLECTOR_CONFIG,
    collector_env,
    eventually,
    free_ports,
    http_get,
    otelcol,
    processes,
    start_collector,
    start_jaeger,
    start_prometheus,
)
from fleet_sink import TraceSink

WORKLOAD = Path(__file__).with_name("collector_workload.py")
CONFIGS = sorted(COLLECTOR_CONFIG.glob("*.yaml"))
OPENMETRICS = "application/openmetrics-text;version=1.0.0"

COMPONENTS = {
    "receivers": {"otlp"},
    "processors": {"memory_limiter", "tail_sampling"},
    "exporters": {"debug", "load_balancing", "otlp_grpc", "otlp_http", "prometheus", "prometheus_remote_write"},
    "extensions": {"health_check"},
    "connectors": set(),
}


def clean_env() -> dict[str, str]:
    """This environment without the configs' variables, so that their defaults apply."""
    return {key: value for key, value in os.environ.items() if not key.startswith(("OTELCOL_", "JAEGER_"))}


def run_workload(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(WORKLOAD), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------------------------------
# The distribution and its configs
# --------------------------------------------------------------------------------------------------------------------


def test_components_are_exactly_those_the_configs_use() -> None:
    done = subprocess.run([str(otelcol()), "components"], capture_output=True, text=True, timeout=60, check=True)
    listed = yaml.safe_load(done.stdout)
    found = {kind: {component["name"] for component in listed.get(kind) or ()} for kind in COMPONENTS}
    assert found == COMPONENTS
    assert listed["buildinfo"]["version"] == "0.161.0"
    assert {provider["scheme"] for provider in listed["providers"]} == {"env", "file", "yaml"}


@pytest.mark.parametrize("config", CONFIGS, ids=[path.name for path in CONFIGS])
def test_config_validates_with_its_defaults(config: Path) -> None:
    done = subprocess.run(
        [str(otelcol()), "validate", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert {path.name for path in CONFIGS} == {"agent.yaml", "gateway.yaml", "otel-collector.yaml"}


def test_validate_rejects_an_unknown_component(tmp_path: Path) -> None:
    """`validate` is not vacuous: a component the distribution lacks fails it."""
    broken = tmp_path / "broken.yaml"
    broken.write_text((COLLECTOR_CONFIG / "otel-collector.yaml").read_text().replace("otlp_grpc/jaeger", "zipkin/x"))
    done = subprocess.run(
        [str(otelcol()), "validate", "--config", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )
    assert done.returncode != 0
    assert "zipkin" in done.stderr


# --------------------------------------------------------------------------------------------------------------------
# Single node: the plugin -> Collector -> Prometheus exposition and Jaeger
# --------------------------------------------------------------------------------------------------------------------

Sample = tuple[str, dict[str, str], float, dict[str, str]]
"""(name, labels, value, exemplar labels)"""
SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*?)\})? (\S+)(?: \S+)?(?: # \{(.*?)\} (\S+).*)?$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text: str) -> list[Sample]:
    """(name, labels, value, exemplar labels) of every sample of an OpenMetrics exposition."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        found = SERIES.match(line)
        assert found, line
        name, labels, value, exemplar, _ = found.groups()
        samples.append((name, dict(LABEL.findall(labels or "")), float(value), dict(LABEL.findall(exemplar or ""))))
    return samples


def total(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(value for found, got, value, _ in samples if found == name and labels.items() <= got.items())


@dataclass
class SingleNode:
    samples: list[Sample]
    """What the Collector's prometheus exporter exposed, OpenMetrics."""
    calls: dict[str, list[str]]
    """The trace IDs of the workload's calls, by scenario."""
    jaeger_query: str
    probe: str
    """The trace in which the workload measured ops.probe.duration."""

    @property
    def plugin(self) -> list[Sample]:
        return [sample for sample in self.samples if sample[0].startswith(("gen_ai_", "anthropic_"))]

    def total(self, name: str, **labels: str) -> float:
        return total(self.samples, name, **labels)

    def labels(self, name: str, label: str) -> set[str]:
        return {labels[label] for found, labels, *_ in self.plugin if found == name}


@pytest.fixture(scope="module")
def single_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SingleNode]:
    """Jaeger and otel-collector.yaml on loopback, the plugin's workload sent through them once, then scraped."""
    with processes(tmp_path_factory.mktemp("single-node")) as start:
        _, jaeger_env = start_jaeger(start)
        grpc, http, scrape = free_ports(3)
        env = collector_env(
            otlp_grpc_endpoint=f"127.0.0.1:{grpc}",
            otlp_http_endpoint=f"127.0.0.1:{http}",
            prometheus_endpoint=f"127.0.0.1:{scrape}",
        )
        env["JAEGER_OTLP_GRPC_ENDPOINT"] = jaeger_env["JAEGER_OTLP_GRPC_ENDPOINT"]
        start_collector(start, "otelcol", "otel-collector.yaml", env)
        # Traces over OTLP/gRPC, metrics over OTLP/HTTP: both receivers of the config.
        made = run_workload(
            "calls",
            "--traces-endpoint", f"127.0.0.1:{grpc}",
            "--metrics-protocol", "http", "--metrics-endpoint", f"http://127.0.0.1:{http}",
            "--service-name", "ops-single", "--environment", "ci",
        )  # fmt: skip

        def scraped() -> list[Sample]:
            status, body = http_get(f"http://127.0.0.1:{scrape}/metrics", headers={"Accept": OPENMETRICS})
            assert status == 200
            samples = parse_exposition(body.decode())
            assert total(samples, "anthropic_client_stop_reasons_total", anthropic_message_stop_reason="max_tokens")
            return samples

        samples = eventually(scraped, timeout=20, what="the plugin's series in the exposition")
        yield SingleNode(samples, made["calls"], jaeger_env["JAEGER_QUERY_HTTP_ENDPOINT"], made["probe"])


def test_single_node_series_names(single_node: SingleNode) -> None:
    expected = {
        *(f"gen_ai_client_operation_duration_seconds_{s}" for s in ("bucket", "count", "sum")),
        *(f"gen_ai_client_token_usage_{s}" for s in ("bucket", "count", "sum")),
        *(f"gen_ai_client_operation_time_to_first_chunk_seconds_{s}" for s in ("bucket", "count", "sum")),
        "anthropic_client_tokens_total",
        "anthropic_client_cost_USD_total",
        "anthropic_client_cache_savings_USD",
        "anthropic_client_cost_unpriced_total",
        "anthropic_client_attempts_total",
        "anthropic_client_stop_reasons_total",
        "anthropic_client_token_anomalies_total",
        "anthropic_ratelimit_headroom_ratio",
        "anthropic_ratelimit_limit",
        "anthropic_ratelimit_remaining",
        "anthropic_client_batch_savings_USD_total",
    }
    assert {name for name, *_ in single_node.plugin} == expected


def test_single_node_promotes_exactly_service_and_environment(single_node: SingleNode) -> None:
    """Two resource attributes, and only those, are labels on every series; job is the service, as usual."""
    assert single_node.plugin
    for name, labels, _, _ in single_node.plugin:
        assert labels["service_name"] == "ops-single", (name, labels)
        assert labels["deployment_environment_name"] == "ci", (name, labels)
        assert labels["job"] == "ops-single", (name, labels)
        assert not {"service_version", "host_name", "telemetry_sdk_name"} & labels.keys(), (name, labels)


def test_single_node_series_values(single_node: SingleNode) -> None:
    node = single_node
    count = "gen_ai_client_operation_duration_seconds_count"
    # 10 calls (the batch results are metered in tokens and cost, not in duration).
    assert node.total(count) == 10
    assert node.total(count, error_type="invalid_request_error") == 1
    assert node.total("gen_ai_client_operation_time_to_first_chunk_seconds_count") == 1
    assert node.labels("gen_ai_client_token_usage_count", "gen_ai_token_type") == {"input", "output"}
    attempts = "anthropic_client_attempts_total"
    assert node.total(attempts, http_response_status_code="429", anthropic_attempt_retried="true",
                      error_type="rate_limit_error") == 1  # fmt: skip
    assert node.total(attempts, http_response_status_code="400", anthropic_attempt_retried="false",
                      error_type="invalid_request_error") == 1  # fmt: skip
    assert node.total("anthropic_client_cost_unpriced_total", gen_ai_request_model="claude-fake-model") == 1
    assert node.total("anthropic_client_token_anomalies_total") == 1
    assert node.total("anthropic_client_stop_reasons_total", anthropic_message_stop_reason="max_tokens") == 1
    assert node.total("anthropic_client_stop_reasons_total", anthropic_message_stop_reason="end_turn") == 8
    assert node.total("anthropic_client_tokens_total", anthropic_token_type="cache_read") == 5000
    # 2 batch results x (1000 x $3 + 500 x $15) / 1e6, at half price.
    assert round(node.total("anthropic_client_cost_USD_total", anthropic_batch="true"), 9) == 0.0105
    assert node.total("anthropic_client_cache_savings_USD") > 0


def test_single_node_rate_limit_headroom(single_node: SingleNode) -> None:
    headroom = "anthropic_ratelimit_headroom_ratio"
    assert single_node.labels(headroom, "anthropic_ratelimit_kind") == {
        "requests",
        "tokens",
        "input-tokens",
        "output-tokens",
    }
    requests = {"anthropic_ratelimit_kind": "requests", "gen_ai_request_model": "claude-sonnet-4-5"}
    assert single_node.total(headroom, **requests) == 0.99975  # 3,999 of 4,000 requests left
    assert single_node.total("anthropic_ratelimit_limit", **requests) == 4000
    headroom_labels = [labels for name, labels, _, _ in single_node.samples if name == headroom]
    assert headroom_labels and all("app_feature" not in labels for labels in headroom_labels)


def test_single_node_exemplars_link_to_traces(single_node: SingleNode) -> None:
    """The OpenMetrics exposition carries exemplars: a bucket links to the trace its measurement was made in."""
    probe = [ex for name, _, _, ex in single_node.samples if name == "ops_probe_duration_seconds_bucket" and ex]
    assert [ex["trace_id"] for ex in probe] == [single_node.probe]
    # The plugin records a call's duration in the call's context: its buckets link to the calls' traces.
    made = {trace_id for ids in single_node.calls.values() for trace_id in ids}
    linked = {
        ex["trace_id"]
        for name, _, _, ex in single_node.plugin
        if ex and name == "gen_ai_client_operation_duration_seconds_bucket"
    }
    assert linked and linked <= made


def test_single_node_traces_reach_jaeger(single_node: SingleNode) -> None:
    query = single_node.jaeger_query
    retried = single_node.calls["retried"][0]

    def in_jaeger() -> dict[str, Any]:
        status, body = http_get(f"http://{query}/api/traces/{retried}")
        assert status == 200, body[:200]
        return json.loads(body)["data"][0]

    found = eventually(in_jaeger, timeout=20, what="the retried call's trace in Jaeger")
    assert found["traceID"] == retried
    assert "anthropic.messages.create" in {span["operationName"] for span in found["spans"]}
    assert {process["serviceName"] for process in found["processes"].values()} == {"ops-single"}
    _, body = http_get(f"http://{query}/api/services")
    assert "ops-single" in json.loads(body)["data"]
    made = {trace_id for ids in single_node.calls.values() for trace_id in ids}
    search = urllib.parse.urlencode({"service": "ops-single", "limit": 100})
    _, body = http_get(f"http://{query}/api/traces?{search}")
    assert made <= {item["traceID"] for item in json.loads(body)["data"]}


# --------------------------------------------------------------------------------------------------------------------
# Fleet: agent -> load_balancing -> two gateways (tail sampling) -> trace sinks and Prometheus remote write
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class Fleet:
    made: dict[str, list[str]]
    """The trace IDs the traces workload made, by kind: ok, error, slow."""
    received: list[dict[str, set[str]]]
    """Per gateway, what its trace sink received: trace ID -> span IDs."""
    telemetry: list[str]
    """Per gateway, the URL of its own metrics."""
    prometheus: str
    probe: str
    """The trace in which the calls workload measured ops.probe.duration."""

    def prometheus_api(self, path: str, **params: Any) -> Any:
        status, body = http_get(f"{self.prometheus}/api/v1/{path}?{urllib.parse.urlencode(params)}")
        assert status == 200, body[:300]
        return json.loads(body)["data"]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two gateways (tail sampling at 0 %, each exporting to a trace sink of its own, remote-writing to Debian's
    Prometheus) behind one agent; many synthetic traces, then the plugin's workload, sent to the agent."""
    work = tmp_path_factory.mktemp("fleet")
    with processes(work) as start, TraceSink() as sink_1, TraceSink() as sink_2:
        _, prometheus_url = start_prometheus(start, work)
        gateways: list[str] = []
        telemetry: list[str] = []
        for name, sink in (("gateway-1", sink_1), ("gateway-2", sink_2)):
            (port,) = free_ports(1)
            env = collector_env(
                otlp_grpc_endpoint=f"127.0.0.1:{port}",
                traces_otlp_endpoint=sink.endpoint,
                remote_write_url=f"{prometheus_url}/api/v1/write",
                sampling_decision_wait="1s",
                sampling_latency_threshold_ms=1000,
                sampling_percentage=0,
            )
            start_collector(start, name, "gateway.yaml", env)
            gateways.append(f"127.0.0.1:{port}")
            telemetry.append(f"http://127.0.0.1:{env['OTELCOL_TELEMETRY_PORT']}/metrics")
        grpc, http = free_ports(2)
        env = collector_env(
            otlp_grpc_endpoint=f"127.0.0.1:{grpc}",
            otlp_http_endpoint=f"127.0.0.1:{http}",
            gateway_hostnames="[" + ", ".join(gateways) + "]",
        )
        start_collector(start, "agent", "agent.yaml", env)

        made = run_workload(
            "traces", "--traces-endpoint", f"127.0.0.1:{grpc}", "--count", "100", "--spans-per-trace", "4",
            "--slow-ms", "1000", "--service-name", "ops-fleet", "--environment", "ci",
        )["traces"]  # fmt: skip
        kept = set(made["error"]) | set(made["slow"])
        eventually(
            lambda: kept <= sink_1.traces().keys() | sink_2.traces().keys(),
            timeout=30,
            what="every error and slow trace at a gateway's sink",
        )
        time.sleep(2.5)  # past the decision wait again: anything else that was going to arrive has

        calls = run_workload(
            "calls", "--traces-endpoint", f"127.0.0.1:{grpc}",
            "--service-name", "ops-fleet", "--environment", "ci",
        )  # fmt: skip
        yield Fleet(made, [sink_1.traces(), sink_2.traces()], telemetry, prometheus_url, calls["probe"])


def test_fleet_keeps_every_trace_whole_on_one_gateway(fleet: Fleet) -> None:
    """load_balancing by trace ID: each trace's spans, exported by the SDK in several batches, met at one gateway."""
    on_1, on_2 = fleet.received
    assert not on_1.keys() & on_2.keys()
    assert on_1 and on_2, "both gateways received traces"
    both = on_1 | on_2
    assert len(fleet.made["error"]) == 20
    for trace_id in fleet.made["error"]:
        assert len(both[trace_id]) == 4
    assert len(both[fleet.made["slow"][0]]) == 2


def test_fleet_tail_sampling_keeps_errors_and_slow_traces_only(fleet: Fleet) -> None:
    """At 0 %, exactly the traces with an error span and the one over the latency threshold are kept."""
    received = fleet.received[0].keys() | fleet.received[1].keys()
    assert received == set(fleet.made["error"]) | set(fleet.made["slow"])
    assert len(fleet.made["ok"]) == 80
    assert not set(fleet.made["ok"]) & received


def test_fleet_remote_writes_the_plugin_series(fleet: Fleet) -> None:
    def written() -> set[str]:
        series = fleet.prometheus_api("series", **{"match[]": '{__name__=~"gen_ai_.+|anthropic_.+"}'})
        for labels in series:
            assert labels["service_name"] == "ops-fleet", labels
            assert labels["deployment_environment_name"] == "ci", labels
            assert not {"service_version", "host_name"} & labels.keys(), labels
        names = {labels["__name__"] for labels in series}
        assert "anthropic_client_stop_reasons_total" in names and "anthropic_ratelimit_headroom_ratio" in names
        return names

    names = eventually(written, timeout=30, what="the plugin's series in Prometheus")
    assert {
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_client_operation_duration_seconds_count",
        "gen_ai_client_token_usage_sum",
        "gen_ai_client_operation_time_to_first_chunk_seconds_count",
        "anthropic_client_tokens_total",
        "anthropic_client_cost_USD_total",
        "anthropic_client_cache_savings_USD",
        "anthropic_client_cost_unpriced_total",
        "anthropic_client_attempts_total",
        "anthropic_client_token_anomalies_total",
    } <= names
    result = fleet.prometheus_api("query", query='sum(anthropic_client_stop_reasons_total{service_name="ops-fleet"})')
    assert float(result["result"][0]["value"][1]) == 9  # 8 end_turn + 1 max_tokens; the failed call has none


def test_fleet_routes_a_service_metrics_through_one_gateway(fleet: Fleet) -> None:
    """load_balancing by service: one gateway received every metric point of the service, the other none."""

    def accepted() -> list[float]:
        points = []
        for url in fleet.telemetry:
            _, body = http_get(url)
            points.append(total(parse_exposition(body.decode()), "otelcol_receiver_accepted_metric_points"))
        assert max(points) > 0
        return points

    assert sorted(eventually(accepted, timeout=30, what="metric points at a gateway"))[0] == 0


def test_fleet_remote_writes_exemplars(fleet: Fleet) -> None:
    """Exemplars travel by remote write too (Prometheus runs with exemplar-storage)."""

    def found() -> list[str]:
        data = fleet.prometheus_api(
            "query_exemplars", query="ops_probe_duration_seconds_bucket", start=0, end=time.time() + 60
        )
        return [ex["labels"]["trace_id"] for group in data for ex in group["exemplars"]]

    assert eventually(found, timeout=30, what="the probe's exemplar in Prometheus") == [fleet.probe]
