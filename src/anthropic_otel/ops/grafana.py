"""Grafana: the dashboard "Anthropic API", and `files`, every Grafana file of the bundle.

This module says what the dashboard shows: its filters, and each row's panels with their queries. The kinds of
panel are built in `grafana_panels`, the datasources and the dashboard's provider provisioned by
`grafana_provisioning`, the Grafana-managed alert rules rendered by `grafana_alerting`; their names are
re-exported here. Panel ids are fixed, since alerts link to them: `alerts.PANEL_*` for the panels an alert
opens, the others below.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from grafana_foundation_sdk.builders import dashboard, stat
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

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
from anthropic_otel.ops.grafana_panels import (
    RATE,
    JaegerQuery,
    PanelBuilder,
    by_labels,
    graph,
    quantiles,
    query,
    traces_table,
)
from anthropic_otel.ops.grafana_provisioning import (
    FOLDER,
    JAEGER,
    JAEGER_UID,
    PROMETHEUS,
    PROMETHEUS_UID,
    dashboard_provider,
    datasources,
)
from anthropic_otel.ops.params import Params, format_number

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
    "ROWS",
    "VARIABLES",
    "F",
    "JaegerQuery",
    "PanelBuilder",
    "alert_rule",
    "alerting_files",
    "build_dashboard",
    "by_labels",
    "daily_pace",
    "dashboard_provider",
    "datasources",
    "files",
    "graph",
    "quantiles",
    "query",
    "rule_interval",
    "series",
    "threshold_of",
    "traces_table",
]

DASHBOARD_FILE = "grafana/dashboards/anthropic-otel.json"

# The dashboard's template variables: name, label, and the series label each one picks. The first picks one
# service among every one that calls; the others list what that service reports, several values at a time.
VARIABLES = (
    ("service", "Service", "service_name"),
    ("environment", "Environment", "deployment_environment_name"),
    ("model", "Model", "gen_ai_request_model"),
    ("feature", "Feature", "app_feature"),
)
# Every panel's filter: the dashboard's template variables, as Grafana substitutes them.
F = ",".join(f'{series_label}=~"${name}"' for name, _, series_label in VARIABLES)


def series(metric: str, *matchers: str) -> str:
    """`metric` under the dashboard's filter, after any matchers of its own."""
    return f"{metric}{{{','.join((*matchers, F))}}}"


CALLS = series(defs.CALLS)
_FAILED_CALLS = series(defs.CALLS, 'error_type!=""')
_RETRIED_ATTEMPTS = series("anthropic_client_attempts_total", 'anthropic_attempt_retried="true"')
_COST = series("anthropic_client_cost_USD_total")
_TOKENS = series("anthropic_client_tokens_total")
_CACHE_READS = series("anthropic_client_tokens_total", 'anthropic_token_type="cache_read"')
# Every input token: uncached, read from the cache, and written to it.
_INPUT_TOKENS = series("anthropic_client_tokens_total", 'anthropic_token_type=~"input|cache_read|cache_write_.*"')
_DURATION = series("gen_ai_client_operation_duration_seconds_bucket")
_TIME_TO_FIRST_CHUNK = series("gen_ai_client_operation_time_to_first_chunk_seconds_bucket")
_STOP_REASONS = series("anthropic_client_stop_reasons_total")
_BUDGET = f"max({defs.BUDGET_RECORD})"
# What a ratio of calls divides by: every call, of every series the filter picks.
_PER_CALL = f" / scalar(sum(rate({CALLS}[{RATE}])))"
# Money per second, shown per hour.
_PER_HOUR = " * 3600"


def daily_pace(params: Params, window: str) -> str:
    """Spend per day at the pace of the last `window`."""
    return f"sum(rate({_COST}[{window}])) * {params.day_seconds}"


def threshold_of(name: str, params: Params) -> float:
    """The threshold of the alert `name`, for the line its panel draws."""
    return next(a for a in ALERTS if a.name == name).threshold_in(params)


def _variable(name: str, label: str, values: str) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(PROMETHEUS)
        .query(f"label_values({values})")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )


def _variables() -> list[dashboard.QueryVariable]:
    """The service first, one at a time; then the filters, listing what the chosen service reports."""
    (service, service_label, service_series_label), *filters = VARIABLES
    within = f'{defs.CALLS}{{{service_series_label}=~"${service}"}}'
    return [
        _variable(service, service_label, f"{defs.CALLS}, {service_series_label}"),
        *(
            _variable(name, label, f"{within}, {series_label}").multi(True).include_all(True).all_value(".*")
            for name, label, series_label in filters
        ),
    ]


def _spend_panels(params: Params) -> list[PanelBuilder]:
    day, hour, short = params.scale("1d"), params.scale("1h"), params.scale("5m")
    spent = f"sum(increase({_COST}[{day}]))"
    return [
        graph(
            defs.PANEL_SPEND,
            "Spend in the last day vs budget",
            "Spend over the last day (what AnthropicDailySpendOverBudget compares), the budget, and the spend a "
            "day at the last hour's pace.",
            "currencyUSD",
            query(spent, "spend, last day"),
            query(_BUDGET, "budget"),
            query(daily_pace(params, hour), "forecast at the last hour's pace"),
        ),
        graph(
            defs.PANEL_BURN,
            "Burn rate",
            "Spend pace as a multiple of the daily budget over the alert's long and short windows: above 1 "
            "the budget runs out before the day ends.",
            "x",
            *[query(f"{daily_pace(params, window)} / on() {_BUDGET}", window) for window in (hour, short)],
            threshold=threshold_of("AnthropicSpendBurnRateHigh", params),
        ),
        graph(
            4,
            "Cost by feature",
            "USD per hour by app.feature (empty: calls made outside an attribution block).",
            "currencyUSD",
            by_labels(("app_feature",), f"rate({_COST}[{RATE}])", then=_PER_HOUR),
        ),
        graph(
            5,
            "Cost by model and token type",
            "USD per hour; cache writes and output are usually where the money goes.",
            "currencyUSD",
            by_labels(("gen_ai_request_model", "anthropic_token_type"), f"rate({_COST}[{RATE}])", then=_PER_HOUR),
        ),
        graph(
            7,
            "Cache hit ratio",
            "Input tokens read from the cache, of all input tokens (uncached, cache reads and writes).",
            "percentunit",
            query(f"sum(rate({_CACHE_READS}[{RATE}])) / sum(rate({_INPUT_TOKENS}[{RATE}]))", "cache hit ratio"),
        ),
        graph(
            8,
            "Cache and batch savings",
            "What cache reads saved against the uncached price, minus the cache-write premium (negative when "
            "writes are never read back), and what Message Batches saved.",
            "currencyUSD",
            query(f"sum({series('anthropic_client_cache_savings_USD')})", "cache savings"),
            query(f"sum({series('anthropic_client_batch_savings_USD_total')})", "batch savings"),
        ),
        graph(
            defs.PANEL_UNPRICED,
            "Unpriced calls",
            "Calls on a model the price table does not know: they record no cost.",
            "short",
            by_labels(("gen_ai_request_model",), f"increase({series('anthropic_client_cost_unpriced_total')}[{RATE}])"),
        ),
        stat.Panel()
        .id(9)
        .title("Spend in the last day")
        .datasource(PROMETHEUS)
        .unit("currencyUSD")
        .span(12)
        .height(8)
        .with_target(query(spent, "spend")),
    ]


def _traffic_panels(params: Params) -> list[PanelBuilder]:
    return [
        graph(
            defs.PANEL_CALLS,
            "Calls",
            "Calls per second by model, failed ones included.",
            "reqps",
            by_labels(("gen_ai_request_model",), f"rate({CALLS}[{RATE}])"),
        ),
        graph(
            defs.PANEL_LATENCY,
            "Call duration",
            "The whole call, retries and the reading of a stream included. Exemplars link to the trace.",
            "s",
            *quantiles(_DURATION, 0.5, 0.95, 0.99),
            threshold=threshold_of("AnthropicLatencyHigh", params),
        ),
        graph(
            22,
            "Tokens",
            "Tokens per second by type: uncached input, cache reads and writes, output.",
            "short",
            by_labels(("anthropic_token_type",), f"rate({_TOKENS}[{RATE}])"),
        ),
        graph(
            23,
            "Time to first token",
            "Streams: from the start of the call to the first content delta.",
            "s",
            *quantiles(_TIME_TO_FIRST_CHUNK, 0.5, 0.95),
        ),
    ]


def _error_rate(
    panel_id: int, title: str, description: str, *, failures: str, alert: str, params: Params
) -> PanelBuilder:
    """`failures` by error type, as a fraction of all calls, with the line above which `alert` fires."""
    ratio = by_labels(("error_type",), f"rate({failures}[{RATE}])", then=_PER_CALL)
    return graph(panel_id, title, description, "percentunit", ratio, threshold=threshold_of(alert, params))


def _error_panels(params: Params) -> list[PanelBuilder]:
    return [
        _error_rate(
            defs.PANEL_ERRORS,
            "Error rate by error type",
            "Failed calls (after the SDK's retries), of all calls.",
            failures=_FAILED_CALLS,
            alert="AnthropicErrorRateHigh",
            params=params,
        ),
        _error_rate(
            defs.PANEL_MASKED,
            "Masked error rate by error type",
            "Failed attempts the SDK retried, of all calls: problems that retries hide from the error rate.",
            failures=_RETRIED_ATTEMPTS,
            alert="AnthropicMaskedErrorRateHigh",
            params=params,
        ),
        graph(
            32,
            "Retries by status code",
            "Retried attempts per second by HTTP status (429 rate limited, 529 overloaded, empty: no response).",
            "reqps",
            by_labels(("http_response_status_code",), f"rate({_RETRIED_ATTEMPTS}[{RATE}])"),
        ),
        graph(
            defs.PANEL_STOP_REASONS,
            "Stop reasons",
            "Responses per second by stop reason; max_tokens means the answer was cut off.",
            "reqps",
            by_labels(("anthropic_message_stop_reason",), f"rate({_STOP_REASONS}[{RATE}])"),
        ),
        graph(
            defs.PANEL_ANOMALIES,
            "Token anomalies",
            "Requests above the anomaly factor times their average input, by model and feature; the span "
            "event anthropic.token_anomaly marks each one.",
            "short",
            by_labels(
                ("gen_ai_request_model", "app_feature"),
                f"increase({series('anthropic_client_token_anomalies_total')}[{RATE}])",
            ),
        ),
        graph(
            defs.PANEL_HEADROOM,
            "Rate-limit headroom",
            "Remaining / limit from the anthropic-ratelimit-* headers of the latest responses.",
            "percentunit",
            by_labels(
                ("gen_ai_request_model", "anthropic_ratelimit_kind"),
                series("anthropic_ratelimit_headroom_ratio"),
                aggregate="min",
            ),
            threshold=threshold_of("AnthropicRateLimitHeadroomLow", params),
        ),
    ]


def _trace_panels(params: Params) -> list[PanelBuilder]:
    slow = f"{format_number(threshold_of('AnthropicLatencyHigh', params))}s"
    return [
        traces_table(
            40,
            "Recent slow calls",
            "Traces of the selected service above the latency threshold, from Jaeger.",
            minDuration=slow,
        ),
        traces_table(41, "Recent failed calls", "Traces with an error span, from Jaeger.", tags="error=true"),
    ]


# The rows, top to bottom: the row's panel id, its title, and what builds the panels under it.
ROWS: tuple[tuple[int, str, Callable[[Params], list[PanelBuilder]]], ...] = (
    (1, "Spend", _spend_panels),
    (10, "Traffic", _traffic_panels),
    (29, "Errors and limits", _error_panels),
    (39, "Traces", _trace_panels),
)


def build_dashboard(params: Params) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model. Panel ids are fixed: alerts link to them."""
    builder = (
        dashboard.Dashboard("Anthropic API")
        .uid(DASHBOARD_UID)
        .description("Spend, traffic, latency and errors of the Anthropic API calls made through anthropic-otel.")
        .tags(["anthropic", "gen-ai", "opentelemetry"])
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
    )
    for variable in _variables():
        builder = builder.with_variable(variable)
    for row_id, title, panels in ROWS:
        builder = builder.with_row(dashboard.Row(title).id(row_id))
        for panel in panels(params):
            builder = builder.with_panel(panel)
    return json.loads(json.dumps(builder.build(), cls=JSONEncoder))


def files(params: Params, grafana_url: str = "") -> dict[str, str]:
    """Every Grafana file of the bundle, by path: the dashboard, its provisioning, and the alerting."""
    return {
        DASHBOARD_FILE: json.dumps(build_dashboard(params), indent=2, sort_keys=True) + "\n",
        **provisioning.files(params),
        **alerting_files(params),
    }
