"""Grafana-managed alert rules, rendered from the same definitions as the Prometheus alerts, and the contact
point and notification policy Grafana sends them through.

Grafana's rules evaluate the raw measure rather than Prometheus' recording rules, so they keep working against
a Prometheus that was never given the rule file; both read the same thresholds, windows and `for`. The builders'
output is the HTTP API's JSON, so `alert_rule` drops the fields that a provisioning file keeps on the group.
"""

from __future__ import annotations

import json
import math
from typing import Any

from grafana_foundation_sdk.builders import alerting, prometheus
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.alerting import RelativeTimeRange

from anthropic_otel.ops.alerts import ALERTS, DASHBOARD_UID
from anthropic_otel.ops.definition import Alert, fill_text, value_templates
from anthropic_otel.ops.grafana_provisioning import FOLDER, PROMETHEUS, PROMETHEUS_UID, FixedQuery, provisioning_file
from anthropic_otel.ops.params import Params, format_duration, format_number, parse_duration
from anthropic_otel.ops.prometheus import CRITICAL_REPEAT_INTERVAL, NOTIFY_GROUP_BY, NOTIFY_INTERVALS

CONTACT_POINT = "webhook"
# Grafana evaluates rules on a 10 s grid; a scaled interval is rounded up to it.
GRAFANA_BASE_INTERVAL_MS = 10_000
# A Grafana-managed rule holds its value in query A's result.
GRAFANA_VALUES = value_templates("$values.A.Value")
ALERTING_DIR = "grafana/provisioning/alerting"
# Grafana's server-side expressions, a datasource of their own.
_EXPR = {"type": "__expr__", "uid": "__expr__"}
# Query A looks back at least this far, whatever the alert's windows.
_MIN_LOOKBACK_SECONDS = 600
# Fields of a rule that live on its group in a provisioning file.
_GROUP_FIELDS = ("folderUID", "ruleGroup", "orgID")


def alert_rule(alert: Alert, params: Params) -> dict[str, Any]:
    """One Grafana-managed rule: A is the condition over raw series (Prometheus filters the series that break
    the threshold), B repeats the threshold as a Grafana expression so a series is firing only when it holds."""
    rule = (
        alerting.Rule(alert.name)
        .uid(alert.anchor)
        .condition("B")
        .with_query(_condition_query(alert, params))
        .with_query(_threshold_query(alert, params))
        .for_val(alert.for_in(params))
        .no_data_state("OK")
        .exec_err_state("Error")
        .labels({"severity": alert.severity})
        .annotations(_annotations(alert, params))
    )
    built = json.loads(json.dumps(rule.build(), cls=JSONEncoder))
    for key in _GROUP_FIELDS:
        built.pop(key, None)
    return built


def _condition_query(alert: Alert, params: Params) -> alerting.Query:
    """Query A: the condition over raw series, as an instant query over the alert's longest window."""
    lookback = max([parse_duration(w) // 1000 for w in alert.windows_in(params)] + [_MIN_LOOKBACK_SECONDS])
    query = prometheus.Dataquery().expr(alert.expr_raw(params)).instant().ref_id("A").datasource(PROMETHEUS)
    return (
        alerting.Query("A")
        .datasource_uid(PROMETHEUS_UID)
        .relative_time_range(RelativeTimeRange(from_val=lookback, to=0))
        .model(query)
    )


def _threshold_query(alert: Alert, params: Params) -> alerting.Query:
    """Query B: the threshold as a server-side math expression, the form Grafana's rule editor writes."""
    threshold = format_number(alert.threshold_in(params))
    expression = {"refId": "B", "type": "math", "expression": f"$A {alert.op} {threshold}", "datasource": _EXPR}
    return alerting.Query("B").datasource_uid(_EXPR["uid"]).model(FixedQuery(expression))


def _annotations(alert: Alert, params: Params) -> dict[str, str]:
    """Summary, description and runbook, and the dashboard panel Grafana links the alert to."""
    value = GRAFANA_VALUES[alert.value_format]
    return {
        "summary": fill_text(alert.summary, alert, params, value),
        "description": fill_text(alert.description, alert, params, value),
        "runbook_url": alert.runbook_url,
        "__dashboardUid__": DASHBOARD_UID,
        "__panelId__": str(alert.panel),
    }


def rule_interval(params: Params) -> str:
    """A minute, divided by the time scale, rounded up to Grafana's evaluation grid."""
    millis = round(60_000 / params.time_scale)
    millis = max(GRAFANA_BASE_INTERVAL_MS, math.ceil(millis / GRAFANA_BASE_INTERVAL_MS) * GRAFANA_BASE_INTERVAL_MS)
    return format_duration(millis)


def _rule_group(params: Params) -> dict[str, Any]:
    return {
        "orgId": 1,
        "name": "anthropic-otel",
        "folder": FOLDER,
        "interval": rule_interval(params),
        "rules": [alert_rule(a, params) for a in ALERTS],
    }


def _contact_point() -> dict[str, Any]:
    return {
        "orgId": 1,
        "name": CONTACT_POINT,
        "receivers": [
            {
                "uid": "anthropic-otel-webhook",
                "type": "webhook",
                # Grafana expands $ALERT_WEBHOOK_URL from its environment (set in docker-compose.yml).
                "settings": {"url": "$ALERT_WEBHOOK_URL", "httpMethod": "POST"},
                "disableResolveMessage": False,
            }
        ],
    }


def _policy() -> dict[str, Any]:
    """The notification policy: Alertmanager's grouping and repeats, as they are written, not time-scaled."""
    return {
        "orgId": 1,
        "receiver": CONTACT_POINT,
        "group_by": list(NOTIFY_GROUP_BY),
        **NOTIFY_INTERVALS,
        "routes": [
            {
                "receiver": CONTACT_POINT,
                "object_matchers": [["severity", "=", "critical"]],
                "repeat_interval": CRITICAL_REPEAT_INTERVAL,
            }
        ],
    }


def alerting_files(params: Params) -> dict[str, str]:
    """The rules, the contact point and the notification policy, by path in the bundle."""
    return {
        f"{ALERTING_DIR}/rules.yml": provisioning_file("groups", [_rule_group(params)]),
        f"{ALERTING_DIR}/contact-points.yml": provisioning_file("contactPoints", [_contact_point()]),
        f"{ALERTING_DIR}/policies.yml": provisioning_file("policies", [_policy()]),
    }
