"""docker-compose.yml for the whole stack, and the Dockerfile of its demo workload.

Every image is pinned; every port is bound to 127.0.0.1, so the stack is reachable from the machine it runs on
and from nowhere else. The Collector's configuration is written by its own owners at
collector-config/otel-collector.yaml; the Compose file mounts that exact path.
"""

from __future__ import annotations

import json
from typing import Any

from anthropic_otel.ops.params import Params
from anthropic_otel.ops.prometheus import GENERATED, dump_yaml

COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib:0.161.0"
# The releases the tests run (Debian bookworm's prometheus and prometheus-alertmanager packages).
PROMETHEUS_IMAGE = "prom/prometheus:v2.42.0"
ALERTMANAGER_IMAGE = "prom/alertmanager:v0.25.0"
# Jaeger v2.13.0 is the release built from the module version v1.76.0.
JAEGER_IMAGE = "jaegertracing/jaeger:2.13.0"
GRAFANA_IMAGE = "grafana/grafana:11.6.0"
PYTHON_IMAGE = "python:3.12.11-slim-bookworm"
ANTHROPIC_SDK = "anthropic==2.15.0"
COLLECTOR_CONFIG = "./collector-config/otel-collector.yaml"
DOCKERFILE = "Dockerfile.demo"
# The demo workload's command, in Compose and as the image's default.
DEMO_COMMAND = ("python", "-m", "anthropic_otel", "demo", "--loop", "--otlp", "http://otel-collector:4318")
# Where each service finds its configuration inside its container; the bundle's file is mounted there.
COLLECTOR_CONFIG_IN = "/etc/otelcol-contrib/config.yaml"
PROMETHEUS_CONFIG_IN = "/etc/prometheus/prometheus.yml"
ALERTMANAGER_CONFIG_IN = "/etc/alertmanager/alertmanager.yml"


def _port(host: int, container: int | None = None) -> str:
    return f"127.0.0.1:{host}:{container or host}"


def _mount(host: str, container: str) -> str:
    """A read-only bind mount: the stack reads the bundle's files and never writes them."""
    return f"{host}:{container}:ro"


def _service(**fields: Any) -> dict[str, Any]:
    """A service that restarts unless it was stopped."""
    return {**fields, "restart": "unless-stopped"}


def compose(params: Params, webhook_url: str) -> dict[str, Any]:
    return {
        "name": "anthropic-otel",
        "services": {
            "otel-collector": _service(
                image=COLLECTOR_IMAGE,
                command=[f"--config={COLLECTOR_CONFIG_IN}"],
                volumes=[_mount(COLLECTOR_CONFIG, COLLECTOR_CONFIG_IN)],
                ports=[_port(4317), _port(4318), _port(8889)],
                depends_on=["jaeger"],
            ),
            "prometheus": _service(
                image=PROMETHEUS_IMAGE,
                command=[
                    f"--config.file={PROMETHEUS_CONFIG_IN}",
                    "--storage.tsdb.path=/prometheus",
                    "--enable-feature=exemplar-storage",
                    "--web.enable-remote-write-receiver",
                    "--web.enable-lifecycle",
                ],
                volumes=[
                    _mount("./prometheus/prometheus.yml", PROMETHEUS_CONFIG_IN),
                    _mount("./prometheus/rules", "/etc/prometheus/rules"),
                ],
                ports=[_port(9090)],
                depends_on=["otel-collector", "alertmanager"],
            ),
            "alertmanager": _service(
                image=ALERTMANAGER_IMAGE,
                command=[f"--config.file={ALERTMANAGER_CONFIG_IN}"],
                volumes=[_mount("./alertmanager/alertmanager.yml", ALERTMANAGER_CONFIG_IN)],
                ports=[_port(9093)],
            ),
            "jaeger": _service(image=JAEGER_IMAGE, ports=[_port(16686)]),
            "grafana": _service(
                image=GRAFANA_IMAGE,
                environment={
                    "GF_SECURITY_ADMIN_PASSWORD": "${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD}",
                    "GF_AUTH_ANONYMOUS_ENABLED": "true",
                    "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
                    "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": "/var/lib/grafana/dashboards/anthropic-otel.json",
                    "ALERT_WEBHOOK_URL": "${ALERT_WEBHOOK_URL:-" + webhook_url + "}",
                },
                volumes=[
                    _mount("./grafana/provisioning", "/etc/grafana/provisioning"),
                    _mount("./grafana/dashboards", "/var/lib/grafana/dashboards"),
                ],
                ports=[_port(3000)],
                depends_on=["prometheus", "jaeger"],
            ),
            "demo": _service(
                # The source is the checkout this file lives in, or ANTHROPIC_OTEL_SRC for a bundle rendered elsewhere.
                build={"context": "${ANTHROPIC_OTEL_SRC:-.}", "dockerfile": DOCKERFILE},
                command=list(DEMO_COMMAND),
                environment={
                    "OTEL_SERVICE_NAME": "anthropic-otel-demo",
                    "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=demo",
                },
                depends_on=["otel-collector"],
            ),
        },
    }


def dockerfile() -> str:
    return f"""# Generated by `anthropic-otel bundle`: the demo workload of docker-compose.yml, built from a checkout.
FROM {PYTHON_IMAGE}
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir ".[demo]" {ANTHROPIC_SDK}
USER nobody
CMD {json.dumps(list(DEMO_COMMAND))}
"""


def files(params: Params, webhook_url: str) -> dict[str, str]:
    return {"docker-compose.yml": dump_yaml(compose(params, webhook_url), GENERATED), DOCKERFILE: dockerfile()}
