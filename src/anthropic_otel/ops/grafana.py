"""Grafana: the dashboard (built with the official grafana-foundation-sdk), datasource and dashboard provisioning,
and Grafana-managed alert rules rendered from the same definitions as the Prometheus alerts.

Grafana's rules evaluate the raw measure rather than Prometheus' recording rules, so they keep working against
a Prometheus that was never given the rule file; both read the same thresholds, windows and `for`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from grafana_foundation_sdk.builders import alerting, common, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.alerting import RelativeTimeRange
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode, LegendDisplayMode, LegendPlacement

from anthropic_otel.ops import alerts as defs
from anthropic_otel.ops.alerts import ALERTS, DASHBOARD_UID, Alert, Params, fill_text, parse_duration
from anthropic_otel.ops.definition import value_templates
from anthropic_otel.ops.prometheus import GENERATED, dump_yaml, scrape_interval

PROMETHEUS_UID = "prometheus"
JAEGER_UID = "jaeger"
PROMETHEUS = model.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
JAEGER = model.DataSourceRef(type_val="jaeger", uid=JAEGER_UID)
FOLDER = "Anthropic"
CONTACT_POINT = "webhook"
DASHBOARD_FILE = "grafana/dashboards/anthropic-otel.json"
# Grafana evaluates rules on a 10 s grid; a scaled interval is rounded up to it.
GRAFANA_BASE_INTERVAL_MS = 10_000

# Every panel's filter: the dashboard's template variables, as Grafana substitutes them.
F = (
    'service_name=~"$service",deployment_environment_name=~"$environment",'
    'gen_ai_request_model=~"$model",app_feature=~"$feature"'
)
CALLS = f"gen_ai_client_operation_duration_seconds_count{{{F}}}"
RATE = "$__rate_interval"

# A Grafana-managed rule holds its value in query A's result.
GRAFANA_VALUES = value_templates("$values.A.Value")


class JaegerQuery(cogbuilder.Builder[cogvariants.Dataquery]):
    """A Jaeger search query; the SDK ships no builder for the Jaeger datasource."""

    def __init__(self, ref_id: str, **fields: object) -> None:
        self._query = _JaegerDataquery(ref_id, fields)

    def build(self) -> cogvariants.Dataquery:
        return self._query


class _JaegerDataquery(cogvariants.Dataquery):
    def __init__(self, ref_id: str, fields: dict[str, object]) -> None:
        self.ref_id = ref_id
        self.fields = fields

    def to_json(self) -> dict[str, object]:
        return {"refId": self.ref_id, "datasource": JAEGER.to_json(), "queryType": "search", **self.fields}


def query(expr: str, legend: str = "", ref_id: str = "A") -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend or "__auto")
        .ref_id(ref_id)
        .datasource(PROMETHEUS)
        .exemplar(True)
    )


def graph(
    panel_id: int,
    title: str,
    description: str,
    unit: str,
    *queries: prometheus.Dataquery,
    threshold: float | None = None,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .unit(unit)
        .span(12)
        .height(8)
        .legend(
            common.VizLegendOptions()
            .show_legend(True)
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
        )
    )
    for q in queries:
        panel = panel.with_target(q)
    if threshold is not None:
        steps = [model.Threshold(value=None, color="green"), model.Threshold(value=threshold, color="red")]
        panel = panel.thresholds(dashboard.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(steps))
        panel = panel.thresholds_style(common.GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.LINE))
    return panel


def threshold_of(name: str, params: Params) -> float:
    return next(a for a in ALERTS if a.name == name).threshold_in(params)


def traces_table(panel_id: int, title: str, description: str, **fields: object) -> table.Panel:
    return (
        table.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(JAEGER)
        .with_target(JaegerQuery("A", service="$service", limit=20, **fields))
        .span(12)
        .height(9)
    )


def build_dashboard(params: Params) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model. Panel ids are fixed: alerts link to them."""
    cost = f"anthropic_client_cost_USD_total{{{F}}}"
    tokens = f"anthropic_client_tokens_total{{{F}}}"
    duration = f"gen_ai_client_operation_duration_seconds_bucket{{{F}}}"
    ttft = f"gen_ai_client_operation_time_to_first_chunk_seconds_bucket{{{F}}}"
    stops = f"anthropic_client_stop_reasons_total{{{F}}}"
    day = defs.format_number(defs.DAY_SECONDS / params.time_scale)
    day_window = params.scale("1d")
    hour_window = params.scale("1h")
    short_window = params.scale("5m")
    calls_rate = f"sum(rate({CALLS}[{RATE}]))"

    def variable(name: str, label: str, source: str, *, multi: bool) -> dashboard.QueryVariable:
        var = (
            dashboard.QueryVariable(name)
            .label(label)
            .datasource(PROMETHEUS)
            .query(f"label_values({source})")
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(model.VariableSort.ALPHABETICAL_ASC)
        )
        if multi:
            var = var.multi(True).include_all(True).all_value(".*")
        return var

    builder = (
        dashboard.Dashboard("Anthropic API")
        .uid(DASHBOARD_UID)
        .description("Spend, traffic, latency and errors of the Anthropic API calls made through anthropic-otel.")
        .tags(["anthropic", "gen-ai", "opentelemetry"])
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .with_variable(
            variable("service", "Service", "gen_ai_client_operation_duration_seconds_count, service_name", multi=False)
        )
        .with_variable(
            variable(
                "environment",
                "Environment",
                'gen_ai_client_operation_duration_seconds_count{service_name=~"$service"}, deployment_environment_name',
                multi=True,
            )
        )
        .with_variable(
            variable(
                "model",
                "Model",
                'gen_ai_client_operation_duration_seconds_count{service_name=~"$service"}, gen_ai_request_model',
                multi=True,
            )
        )
        .with_variable(
            variable(
                "feature",
                "Feature",
                'gen_ai_client_operation_duration_seconds_count{service_name=~"$service"}, app_feature',
                multi=True,
            )
        )
        .with_row(dashboard.Row("Spend").id(1))
        .with_panel(
            graph(
                defs.PANEL_SPEND,
                "Spend in the last day vs budget",
                "Spend over the last day (what AnthropicDailySpendOverBudget compares), the budget, and the spend a "
                "day at the last hour's pace.",
                "currencyUSD",
                query(f"sum(increase({cost}[{day_window}]))", "spend, last day"),
                query(f"max({defs.BUDGET_RECORD})", "budget", "B"),
                query(f"sum(rate({cost}[{hour_window}])) * {day}", "forecast at the last hour's pace", "C"),
            )
        )
        .with_panel(
            graph(
                defs.PANEL_BURN,
                "Burn rate",
                "Spend pace as a multiple of the daily budget over the alert's long and short windows: above 1 "
                "the budget runs out before the day ends.",
                "x",
                query(f"sum(rate({cost}[{hour_window}])) * {day} / on() max({defs.BUDGET_RECORD})", f"{hour_window}"),
                query(
                    f"sum(rate({cost}[{short_window}])) * {day} / on() max({defs.BUDGET_RECORD})",
                    f"{short_window}",
                    "B",
                ),
                threshold=threshold_of("AnthropicSpendBurnRateHigh", params),
            )
        )
        .with_panel(
            graph(
                4,
                "Cost by feature",
                "USD per hour by app.feature (empty: calls made outside an attribution block).",
                "currencyUSD",
                query(f"sum by (app_feature) (rate({cost}[{RATE}])) * 3600", "{{app_feature}}"),
            )
        )
        .with_panel(
            graph(
                5,
                "Cost by model and token type",
                "USD per hour; cache writes and output are usually where the money goes.",
                "currencyUSD",
                query(
                    f"sum by (gen_ai_request_model, anthropic_token_type) (rate({cost}[{RATE}])) * 3600",
                    "{{gen_ai_request_model}} {{anthropic_token_type}}",
                ),
            )
        )
        .with_panel(
            graph(
                7,
                "Cache hit ratio",
                "Input tokens read from the cache, of all input tokens (uncached, cache reads and writes).",
                "percentunit",
                query(
                    f'sum(rate(anthropic_client_tokens_total{{anthropic_token_type="cache_read",{F}}}[{RATE}])) / '
                    f'sum(rate(anthropic_client_tokens_total{{anthropic_token_type=~"input|cache_read|cache_write_.*",'
                    f"{F}}}[{RATE}]))",
                    "cache hit ratio",
                ),
            )
        )
        .with_panel(
            graph(
                8,
                "Cache and batch savings",
                "What cache reads saved against the uncached price, minus the cache-write premium (negative when "
                "writes are never read back), and what Message Batches saved.",
                "currencyUSD",
                query(f"sum(anthropic_client_cache_savings_USD{{{F}}})", "cache savings"),
                query(f"sum(anthropic_client_batch_savings_USD_total{{{F}}})", "batch savings", "B"),
            )
        )
        .with_panel(
            graph(
                defs.PANEL_UNPRICED,
                "Unpriced calls",
                "Calls on a model the price table does not know: they record no cost.",
                "short",
                query(
                    f"sum by (gen_ai_request_model) (increase(anthropic_client_cost_unpriced_total{{{F}}}[{RATE}]))",
                    "{{gen_ai_request_model}}",
                ),
            )
        )
        .with_panel(
            stat.Panel()
            .id(9)
            .title("Spend in the last day")
            .datasource(PROMETHEUS)
            .unit("currencyUSD")
            .span(12)
            .height(8)
            .with_target(query(f"sum(increase({cost}[{day_window}]))", "spend"))
        )
        .with_row(dashboard.Row("Traffic").id(10))
        .with_panel(
            graph(
                defs.PANEL_CALLS,
                "Calls",
                "Calls per second by model, failed ones included.",
                "reqps",
                query(f"sum by (gen_ai_request_model) (rate({CALLS}[{RATE}]))", "{{gen_ai_request_model}}"),
            )
        )
        .with_panel(
            graph(
                defs.PANEL_LATENCY,
                "Call duration",
                "The whole call, retries and the reading of a stream included. Exemplars link to the trace.",
                "s",
                *[
                    query(
                        f"histogram_quantile({q}, sum by (le) (rate({duration}[{RATE}])))",
                        f"p{round(q * 100)}",
                        ref,
                    )
                    for q, ref in ((0.5, "A"), (0.95, "B"), (0.99, "C"))
                ],
                threshold=threshold_of("AnthropicLatencyHigh", params),
            )
        )
        .with_panel(
            graph(
                22,
                "Tokens",
                "Tokens per second by type: uncached input, cache reads and writes, output.",
                "short",
                query(f"sum by (anthropic_token_type) (rate({tokens}[{RATE}]))", "{{anthropic_token_type}}"),
            )
        )
        .with_panel(
            graph(
                23,
                "Time to first token",
                "Streams: from the start of the call to the first content delta.",
                "s",
                *[
                    query(f"histogram_quantile({q}, sum by (le) (rate({ttft}[{RATE}])))", f"p{round(q * 100)}", ref)
                    for q, ref in ((0.5, "A"), (0.95, "B"))
                ],
            )
        )
        .with_row(dashboard.Row("Errors and limits").id(29))
        .with_panel(
            graph(
                defs.PANEL_ERRORS,
                "Error rate by error type",
                "Failed calls (after the SDK's retries), of all calls.",
                "percentunit",
                query(
                    f'sum by (error_type) (rate(gen_ai_client_operation_duration_seconds_count{{error_type!="",{F}}}'
                    f"[{RATE}])) / scalar({calls_rate})",
                    "{{error_type}}",
                ),
                threshold=threshold_of("AnthropicErrorRateHigh", params),
            )
        )
        .with_panel(
            graph(
                defs.PANEL_MASKED,
                "Masked error rate by error type",
                "Failed attempts the SDK retried, of all calls: problems that retries hide from the error rate.",
                "percentunit",
                query(
                    f'sum by (error_type) (rate(anthropic_client_attempts_total{{anthropic_attempt_retried="true",{F}}}'
                    f"[{RATE}])) / scalar({calls_rate})",
                    "{{error_type}}",
                ),
                threshold=threshold_of("AnthropicMaskedErrorRateHigh", params),
            )
        )
        .with_panel(
            graph(
                32,
                "Retries by status code",
                "Retried attempts per second by HTTP status (429 rate limited, 529 overloaded, empty: no response).",
                "reqps",
                query(
                    f"sum by (http_response_status_code) "
                    f'(rate(anthropic_client_attempts_total{{anthropic_attempt_retried="true",{F}}}[{RATE}]))',
                    "{{http_response_status_code}}",
                ),
            )
        )
        .with_panel(
            graph(
                defs.PANEL_STOP_REASONS,
                "Stop reasons",
                "Responses per second by stop reason; max_tokens means the answer was cut off.",
                "reqps",
                query(
                    f"sum by (anthropic_message_stop_reason) (rate({stops}[{RATE}]))",
                    "{{anthropic_message_stop_reason}}",
                ),
            )
        )
        .with_panel(
            graph(
                defs.PANEL_ANOMALIES,
                "Token anomalies",
                "Requests above the anomaly factor times their average input, by model and feature; the span "
                "event anthropic.token_anomaly marks each one.",
                "short",
                query(
                    f"sum by (gen_ai_request_model, app_feature) "
                    f"(increase(anthropic_client_token_anomalies_total{{{F}}}[{RATE}]))",
                    "{{gen_ai_request_model}} {{app_feature}}",
                ),
            )
        )
        .with_panel(
            graph(
                defs.PANEL_HEADROOM,
                "Rate-limit headroom",
                "Remaining / limit from the anthropic-ratelimit-* headers of the latest responses.",
                "percentunit",
                query(
                    f"min by (gen_ai_request_model, anthropic_ratelimit_kind) "
                    f"(anthropic_ratelimit_headroom_ratio{{{F}}})",
                    "{{gen_ai_request_model}} {{anthropic_ratelimit_kind}}",
                ),
                threshold=threshold_of("AnthropicRateLimitHeadroomLow", params),
            )
        )
        .with_row(dashboard.Row("Traces").id(39))
        .with_panel(
            traces_table(
                40,
                "Recent slow calls",
                "Traces of the selected service above the latency threshold, from Jaeger.",
                minDuration=f"{defs.format_number(threshold_of('AnthropicLatencyHigh', params))}s",
            )
        )
        .with_panel(
            traces_table(41, "Recent failed calls", "Traces with an error span, from Jaeger.", tags="error=true")
        )
    )
    return json.loads(json.dumps(builder.build(), cls=JSONEncoder))


def alert_rule(alert: Alert, params: Params) -> dict[str, Any]:
    """One Grafana-managed rule: A is the condition over raw series (Prometheus filters the series that break
    the threshold), B repeats the threshold as a Grafana expression so a series is firing only when it holds."""
    windows = alert.windows_in(params)
    lookback = max([parse_duration(w) // 1000 for w in windows] + [600])
    threshold = defs.format_number(alert.threshold_in(params))
    value = GRAFANA_VALUES[alert.value_format]
    rule = (
        alerting.Rule(alert.name)
        .uid(alert.anchor)
        .condition("B")
        .with_query(
            alerting.Query("A")
            .datasource_uid(PROMETHEUS_UID)
            .relative_time_range(_time_range(lookback))
            .model(prometheus.Dataquery().expr(alert.expr_raw(params)).instant().ref_id("A").datasource(PROMETHEUS))
        )
        .with_query(
            alerting.Query("B").datasource_uid("__expr__").model(_MathExpression("B", f"$A {alert.op} {threshold}"))
        )
        .for_val(alert.for_in(params))
        .no_data_state("OK")
        .exec_err_state("Error")
        .labels({"severity": alert.severity})
        .annotations(
            {
                "summary": fill_text(alert.summary, alert, params, value),
                "description": fill_text(alert.description, alert, params, value),
                "runbook_url": alert.runbook_url,
                "__dashboardUid__": DASHBOARD_UID,
                "__panelId__": str(alert.panel),
            }
        )
    )
    built = json.loads(json.dumps(rule.build(), cls=JSONEncoder))
    # Group-level fields live on the group in a provisioning file.
    for key in ("folderUID", "ruleGroup", "orgID"):
        built.pop(key, None)
    return built


def _time_range(seconds: int) -> RelativeTimeRange:
    return RelativeTimeRange(from_val=seconds, to=0)


class _MathExpression(cogbuilder.Builder[cogvariants.Dataquery]):
    """A server-side math expression, the form Grafana's rule editor writes."""

    def __init__(self, ref_id: str, expression: str) -> None:
        self._expr = _Expression({"refId": ref_id, "type": "math", "expression": expression, "datasource": _EXPR})

    def build(self) -> cogvariants.Dataquery:
        return self._expr


_EXPR = {"type": "__expr__", "uid": "__expr__"}


class _Expression(cogvariants.Dataquery):
    def __init__(self, payload: dict[str, object]) -> None:
        self.payload = payload

    def to_json(self) -> dict[str, object]:
        return dict(self.payload)


def rule_interval(params: Params) -> str:
    millis = round(60_000 / params.time_scale)
    millis = max(GRAFANA_BASE_INTERVAL_MS, math.ceil(millis / GRAFANA_BASE_INTERVAL_MS) * GRAFANA_BASE_INTERVAL_MS)
    return defs.format_duration(millis)


def alerting_files(params: Params) -> dict[str, str]:
    rules = {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "anthropic-otel",
                "folder": FOLDER,
                "interval": rule_interval(params),
                "rules": [alert_rule(a, params) for a in ALERTS],
            }
        ],
    }
    contact_points = {
        "apiVersion": 1,
        "contactPoints": [
            {
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
        ],
    }
    policies = {
        "apiVersion": 1,
        "policies": [
            {
                "orgId": 1,
                "receiver": CONTACT_POINT,
                "group_by": ["alertname", "service_name", "deployment_environment_name"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
                "routes": [
                    {
                        "receiver": CONTACT_POINT,
                        "object_matchers": [["severity", "=", "critical"]],
                        "repeat_interval": "1h",
                    }
                ],
            }
        ],
    }
    return {
        "grafana/provisioning/alerting/rules.yml": dump_yaml(rules, GENERATED),
        "grafana/provisioning/alerting/contact-points.yml": dump_yaml(contact_points, GENERATED),
        "grafana/provisioning/alerting/policies.yml": dump_yaml(policies, GENERATED),
    }


def datasources(params: Params) -> str:
    config = {
        "apiVersion": 1,
        "datasources": [
            {
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
            },
            {"name": "Jaeger", "type": "jaeger", "uid": JAEGER_UID, "access": "proxy", "url": "http://jaeger:16686"},
        ],
    }
    return dump_yaml(config, GENERATED)


def dashboard_provider() -> str:
    config = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "anthropic-otel",
                "folder": FOLDER,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": "/var/lib/grafana/dashboards"},
            }
        ],
    }
    return dump_yaml(config, GENERATED)


def files(params: Params, grafana_url: str = "") -> dict[str, str]:
    return {
        DASHBOARD_FILE: json.dumps(build_dashboard(params), indent=2, sort_keys=True) + "\n",
        "grafana/provisioning/datasources/datasources.yml": datasources(params),
        "grafana/provisioning/dashboards/anthropic-otel.yml": dashboard_provider(),
        **alerting_files(params),
    }
