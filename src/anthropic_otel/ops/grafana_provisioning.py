"""What Grafana provisions when it starts, besides its alerting: the Prometheus and Jaeger datasources under fixed
uids, and the provider that loads the dashboard into the bundle's folder.

The uids are fixed because the dashboard's panels, the Grafana-managed rules and the exemplar links name their
datasource by uid. `FixedQuery` is a query of a datasource the SDK has no builder for (Jaeger, and Grafana's
server-side expressions), written as the JSON Grafana stores.
"""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model

from anthropic_otel.ops.params import Params
from anthropic_otel.ops.prometheus import GENERATED, dump_yaml, scrape_interval

PROMETHEUS_UID = "prometheus"
JAEGER_UID = "jaeger"
PROMETHEUS = model.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
JAEGER = model.DataSourceRef(type_val="jaeger", uid=JAEGER_UID)
# The folder of the dashboard and of the Grafana-managed rules.
FOLDER = "Anthropic"
DATASOURCES_FILE = "grafana/provisioning/datasources/datasources.yml"
DASHBOARDS_FILE = "grafana/provisioning/dashboards/anthropic-otel.yml"


class FixedQuery(cogbuilder.Builder[cogvariants.Dataquery]):
    """A query given as its JSON, for the datasources the SDK ships no builder for."""

    def __init__(self, payload: dict[str, object]) -> None:
        self._query = _FixedDataquery(payload)

    def build(self) -> cogvariants.Dataquery:
        return self._query


class _FixedDataquery(cogvariants.Dataquery):
    def __init__(self, payload: dict[str, object]) -> None:
        self.payload = payload

    def to_json(self) -> dict[str, object]:
        return dict(self.payload)


def provisioning_file(key: str, entries: list[dict[str, Any]]) -> str:
    """A provisioning file: its entries (datasources, providers, rule groups...) under `key`, in version 1."""
    return dump_yaml({"apiVersion": 1, key: entries}, GENERATED)


def datasources(params: Params) -> str:
    """Prometheus, the default, at the scrape interval, with exemplars that open their trace in Jaeger."""
    prometheus = {
        "name": "Prometheus",
        "type": "prometheus",
        "uid": PROMETHEUS_UID,
        "access": "proxy",
        "url": "http://prometheus:9090",
        "isDefault": True,
        "jsonData": {
            "timeInterval": scrape_interval(params),
            # An exemplar's trace_id opens the trace in Jaeger.
            "exemplarTraceIdDestinations": [{"name": "trace_id", "datasourceUid": JAEGER_UID}],
        },
    }
    jaeger = {"name": "Jaeger", "type": "jaeger", "uid": JAEGER_UID, "access": "proxy", "url": "http://jaeger:16686"}
    return provisioning_file("datasources", [prometheus, jaeger])


def dashboard_provider() -> str:
    """The dashboards mounted at /var/lib/grafana/dashboards, in the bundle's folder, not editable in the UI."""
    provider = {
        "name": "anthropic-otel",
        "folder": FOLDER,
        "type": "file",
        "disableDeletion": True,
        "allowUiUpdates": False,
        "options": {"path": "/var/lib/grafana/dashboards"},
    }
    return provisioning_file("providers", [provider])


def files(params: Params) -> dict[str, str]:
    """The datasources' and the dashboard provider's provisioning files, by path in the bundle."""
    return {DATASOURCES_FILE: datasources(params), DASHBOARDS_FILE: dashboard_provider()}
