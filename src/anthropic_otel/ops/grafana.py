"""Grafana: the dashboard "Anthropic API", built with the official grafana-foundation-sdk, and `files`, every
Grafana file of the bundle.

The datasources and the dashboard's provider are provisioned by `grafana_provisioning`, the Grafana-managed
alert rules rendered by `grafana_alerting`; their names are re-exported here. Panel ids are fixed, since alerts
link to them: `alerts.PANEL_*` for the panels an alert opens, the others below.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode, LegendDisplayMode, LegendPlacement

from anthropic_otel.ops import alerts as defs
from anthropic_otel.ops import grafana_provisioning as provisioning
from anthropic_otel.ops.alerts import ALERTS, DASHBOARD_UID
from anthropic_otel.ops.grafana_alerting import (
    CONTACT_POINT,
    GRAFANA_BASE_INTERVAL_MS,
    GRAFANA_VALUES,
    alert_rule,
    alerting_files,
    rule_interval,
)
from anthropic_otel.ops.grafana_provisioning import (
    FOLDER,
    JAEGER,
    JAEGER_UID,
    PROMETHEUS,
    PROMETHEUS_UID,
    FixedQuery,
    dashboard_provider,
    datasources,
)
from anthropic_otel.ops.params import Params

__all__ = [
    "CALLS",
    "CONTACT_POINT",
    "DASHBOARD_FILE",
    "FOLDER",
    "GRAFANA_BASE_INTERVAL_MS",
    "GRAFANA_VALUES",
    "JAEGER",
    "JAEGER_UID",
    "PROMETHEUS",
    "PROMETHEUS_UID",
    "RATE",
    "F",
    "JaegerQuery",
    "alert_rule",
    "alerting_files",
    "build_dashboard",
    "dashboard_provider",
    "datasources",
    "files",
    "graph",
    "query",
    "rule_interval",
    "threshold_of",
    "traces_table",
]

DASHBOARD_FILE = "grafana/dashboards/anthropic-otel.json"

# Every panel's filter: the dashboard's template variables, as Grafana substitutes them.
F = (
    'service_name=~"$service",deployment_environment_name=~"$environment",'
    'gen_ai_request_model=~"$model",app_feature=~"$feature"'
)
CALLS = f"gen_ai_client_operation_duration_seconds_count{{{F}}}"
RATE = "$__rate_interval"


class JaegerQuery(FixedQuery):
    """A Jaeger search of the selected service's traces; the SDK ships no builder for the Jaeger datasource."""

    def __init__(self, ref_id: str, **fields: object) -> None:
        super().__init__({"refId": ref_id, "datasource": JAEGER.to_json(), "queryType": "search", **fields})


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


def files(params: Params, grafana_url: str = "") -> dict[str, str]:
    """Every Grafana file of the bundle, by path: the dashboard, its provisioning, and the alerting."""
    return {
        DASHBOARD_FILE: json.dumps(build_dashboard(params), indent=2, sort_keys=True) + "\n",
        **provisioning.files(params),
        **alerting_files(params),
    }
