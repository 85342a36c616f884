"""The alerts and recording rules of the operations bundle, as data.

Each alert keeps its plain parameters (threshold, window, `for`, comparison) beside its PromQL, so the same
definition renders the Prometheus rule, the Grafana-managed rule and the README table, and a Python evaluator
over in-process metrics can judge from the same numbers which alerts would have fired.

PromQL templates use `string.Template` placeholders, since PromQL itself is full of braces:

- `$sel`: the label matchers that pick the monitored services (never empty: `service_name!=""` by default);
- `$window`: the alert's range, after `--time-scale`;
- `$day`: the seconds in a day, after `--time-scale` (a burn rate of 1 spends the budget in exactly a day);
- `$budget`: the daily budget, either the number or the `anthropic:budget_usd:daily` recording rule.

The form of a definition and what it renders to are in `definition`, the tuning and its durations in `params`;
their names are re-exported here, so a reader of the definitions needs one import.
"""

from __future__ import annotations

from anthropic_otel.ops.definition import BUDGET_RECORD, REPOSITORY_URL, Alert, RecordingRule, fill_text
from anthropic_otel.ops.params import DAY_SECONDS, Params, format_duration, format_number, parse_duration

__all__ = [
    "ALERTS",
    "BUDGET_RECORD",
    "BY",
    "CALLS",
    "DASHBOARD_UID",
    "DAY_SECONDS",
    "PANEL_ANOMALIES",
    "PANEL_BURN",
    "PANEL_CALLS",
    "PANEL_ERRORS",
    "PANEL_HEADROOM",
    "PANEL_LATENCY",
    "PANEL_MASKED",
    "PANEL_SPEND",
    "PANEL_STOP_REASONS",
    "PANEL_UNPRICED",
    "RECORDING_RULES",
    "REPOSITORY_URL",
    "SIGNALS",
    "Alert",
    "Params",
    "RecordingRule",
    "alerts_in",
    "budget_rule",
    "fill_text",
    "format_duration",
    "format_number",
    "parse_duration",
    "recording_rules",
]

DASHBOARD_UID = "anthropic-otel"
# The labels every ratio is kept by: one alert per service and deployment environment.
BY = "service_name, deployment_environment_name"
CALLS = "gen_ai_client_operation_duration_seconds_count"

# Stable panel ids: alerts link to `viewPanel=<id>`, so a panel keeps its id when the layout changes.
PANEL_SPEND = 2
PANEL_BURN = 3
PANEL_CALLS = 20
PANEL_LATENCY = 21
PANEL_ERRORS = 30
PANEL_MASKED = 31
PANEL_STOP_REASONS = 33
PANEL_ANOMALIES = 34
PANEL_HEADROOM = 35
PANEL_UNPRICED = 6

# The quantities the alerts compare, by the name an in-process evaluator dispatches on.
SIGNALS = {
    "error_ratio": "failed calls / calls over the window (failed: error_type set)",
    "masked_error_ratio": "attempts with anthropic.attempt.retried=true / calls over the window",
    "spend_usd": "increase of anthropic.client.cost over the window, all selected series summed",
    "spend_burn_rate": "rate of anthropic.client.cost x seconds in a day / daily budget, per window",
    "token_anomalies": "increase of anthropic.client.token_anomalies over the window, per model and feature",
    "max_tokens_ratio": "stop_reason=max_tokens / all stop reasons over the window",
    "ratelimit_headroom_min": "lowest anthropic.ratelimit.headroom ratio, per model and limit kind, as last reported",
    "duration_p95_seconds": "95th percentile of gen_ai.client.operation.duration over the window",
    "unpriced_calls": "increase of anthropic.client.cost.unpriced over the window, per model",
}


def _ratio(numerator: str, denominator: str, by: str = BY) -> str:
    return f"sum by ({by}) ({numerator}) / sum by ({by}) ({denominator})"


ALERTS: tuple[Alert, ...] = (
    Alert(
        name="AnthropicErrorRateHigh",
        signal="error_ratio",
        severity="critical",
        summary="More than {threshold} of Anthropic API calls fail.",
        description=(
            "{value} of the calls of {{ $labels.service_name }} ({{ $labels.deployment_environment_name }}) "
            "failed over the last {window}, after the SDK's retries. Look first at the error rate by error_type "
            "on the dashboard: rate limits and overloads (429, 529) are capacity, 4xx from the request are a "
            "code change, timeouts and connection errors are the network; then open a failed trace from the "
            "table of recent failures."
        ),
        measure=_ratio(f'rate({CALLS}{{error_type!="",$sel}}[$window])', f"rate({CALLS}{{$sel}}[$window])"),
        op=">",
        threshold=0.01,
        param="error_rate",
        window="5m",
        for_="5m",
        record="anthropic:error_ratio:rate$w",
        panel=PANEL_ERRORS,
        value_format="percent",
    ),
    Alert(
        name="AnthropicMaskedErrorRateHigh",
        signal="masked_error_ratio",
        severity="warning",
        summary="More than {threshold} of Anthropic API calls needed a retry.",
        description=(
            "Failed HTTP attempts that the SDK retried came to {value} of the calls of "
            "{{ $labels.service_name }} ({{ $labels.deployment_environment_name }}) over the last {window}, "
            "whatever the final error rate. Retries that succeed hide a systematic problem (a rate limit hit "
            "every minute, an overloaded model, a flaky network path) and cost latency and quota; the error "
            "rate stays low until the retries run out. Look at the retries panel by status code and error_type, "
            "and at the rate-limit headroom."
        ),
        measure=_ratio(
            'rate(anthropic_client_attempts_total{anthropic_attempt_retried="true",$sel}[$window])',
            f"rate({CALLS}{{$sel}}[$window])",
        ),
        op=">",
        threshold=0.05,
        param="masked_error_rate",
        window="5m",
        for_="10m",
        record="anthropic:masked_error_ratio:rate$w",
        panel=PANEL_MASKED,
        value_format="percent",
    ),
    Alert(
        name="AnthropicDailySpendOverBudget",
        signal="spend_usd",
        severity="critical",
        summary="Anthropic API spend over the last day is above the daily budget of {threshold} USD.",
        description=(
            "The calls picked by the bundle's selector spent {value} USD over the last {window}, above the "
            "daily budget (the recording rule anthropic:budget_usd:daily). Look at cost by feature, model and "
            "token type to see where the money went, and at the cache hit ratio: a cache that stopped hitting "
            "multiplies input cost."
        ),
        measure="sum(increase(anthropic_client_cost_USD_total{$sel}[$window]))",
        op=">",
        threshold=100.0,
        param="budget_usd",
        window="1d",
        for_="0s",
        record="anthropic:spend_usd:increase$w",
        threshold_record=BUDGET_RECORD,
        labelless=True,
        panel=PANEL_SPEND,
        value_format="usd",
    ),
    Alert(
        name="AnthropicSpendBurnRateHigh",
        signal="spend_burn_rate",
        severity="warning",
        summary="At the current rate the daily Anthropic budget runs out before the day ends.",
        description=(
            "Spend is running at {value}x the daily budget over the last {window} and over the last "
            "{short_window}: kept up, it spends a day's budget in less than a day. The long window shows it is "
            "not a blip, the short one that it is still going on. Look at the burn-rate forecast and at cost "
            "by feature and model: a new feature, a loop, or a switch to a dearer model."
        ),
        measure="sum(rate(anthropic_client_cost_USD_total{$sel}[$window])) * $day / $budget",
        op=">",
        threshold=1.0,
        window="1h",
        short_window="5m",
        for_="2m",
        record="anthropic:spend_burn_rate:rate$w",
        labelless=True,
        panel=PANEL_BURN,
        value_format="ratio",
    ),
    Alert(
        name="AnthropicTokenAnomalies",
        signal="token_anomalies",
        severity="warning",
        summary="Requests with far more input tokens than usual.",
        description=(
            "{value} requests of {{ $labels.service_name }} on {{ $labels.gen_ai_request_model }} (feature "
            "{{ $labels.app_feature }}) over the last {window} sent more than the plugin's anomaly_factor (2x "
            "by default) times their running average of input tokens (anthropic.client.token_anomalies). Each "
            "such request's span has an anthropic.token_anomaly event: find the trace by that event. Cross-check "
            "with the input-token histogram: histogram_quantile(0.99, sum by (le) (rate("
            'gen_ai_client_token_usage_bucket{gen_ai_token_type="input"}[15m]))) against the average, '
            'sum(rate(gen_ai_client_token_usage_sum{gen_ai_token_type="input"}[15m])) / '
            'sum(rate(gen_ai_client_token_usage_count{gen_ai_token_type="input"}[15m])). A prompt that grows '
            "without bound (a conversation history never trimmed, a retrieval step returning everything) is "
            "the usual cause."
        ),
        measure=(
            f"sum by ({BY}, gen_ai_request_model, app_feature) "
            "(increase(anthropic_client_token_anomalies_total{$sel}[$window]))"
        ),
        op=">",
        threshold=0.0,
        window="15m",
        for_="0s",
        panel=PANEL_ANOMALIES,
        value_format="count",
    ),
    Alert(
        name="AnthropicMaxTokensStopsHigh",
        signal="max_tokens_ratio",
        severity="warning",
        summary="More than {threshold} of Anthropic API responses stop at max_tokens.",
        description=(
            "{value} of the responses of {{ $labels.service_name }} ({{ $labels.deployment_environment_name }}) "
            "over the last {window} stopped because they reached max_tokens: the answers are cut off. Look at "
            "stop reasons by model and feature, and at output tokens per call: raise max_tokens for that "
            "feature, or ask for shorter output."
        ),
        measure=_ratio(
            'rate(anthropic_client_stop_reasons_total{anthropic_message_stop_reason="max_tokens",$sel}[$window])',
            "rate(anthropic_client_stop_reasons_total{$sel}[$window])",
        ),
        op=">",
        threshold=0.05,
        param="max_tokens_rate",
        window="15m",
        for_="15m",
        record="anthropic:max_tokens_ratio:rate$w",
        panel=PANEL_STOP_REASONS,
        value_format="percent",
    ),
    Alert(
        name="AnthropicRateLimitHeadroomLow",
        signal="ratelimit_headroom_min",
        severity="warning",
        summary="Less than {threshold} of an Anthropic rate limit is left.",
        description=(
            "Only {value} of the {{ $labels.anthropic_ratelimit_kind }} rate limit for "
            "{{ $labels.gen_ai_request_model }} is left ({{ $labels.service_name }}, from the "
            "anthropic-ratelimit-* headers of the latest responses). 429s and retries come next. Look at calls "
            "and tokens per minute by feature, and at the retries panel; ask for a higher limit or spread the "
            "load."
        ),
        measure=(
            f"min by ({BY}, gen_ai_request_model, anthropic_ratelimit_kind) "
            "(anthropic_ratelimit_headroom_ratio{$sel})"
        ),
        op="<",
        threshold=0.10,
        param="headroom",
        window=None,
        for_="5m",
        record="anthropic:ratelimit_headroom_ratio:min",
        panel=PANEL_HEADROOM,
        value_format="percent",
    ),
    Alert(
        name="AnthropicLatencyHigh",
        signal="duration_p95_seconds",
        severity="warning",
        summary="The 95th percentile of Anthropic API call duration is above {threshold} s.",
        description=(
            "95% of the calls of {{ $labels.service_name }} ({{ $labels.deployment_environment_name }}) took "
            "up to {value} over the last {window} (the whole call: retries and the reading of a stream "
            "included). Look at latency by model, at time to first token, and at retries: waiting on "
            "retry-after adds up. Open a slow trace from the table of recent slow calls."
        ),
        measure=(
            f"histogram_quantile(0.95, sum by ({BY}, le) "
            "(rate(gen_ai_client_operation_duration_seconds_bucket{$sel}[$window])))"
        ),
        op=">",
        threshold=30.0,
        param="latency_seconds",
        window="5m",
        for_="10m",
        record="anthropic:operation_duration_seconds:p95_rate$w",
        panel=PANEL_LATENCY,
        value_format="seconds",
    ),
    Alert(
        name="AnthropicUnpricedCalls",
        signal="unpriced_calls",
        severity="warning",
        summary="Calls on a model with no price: the spend figures are incomplete.",
        description=(
            "{value} calls of {{ $labels.service_name }} on {{ $labels.gen_ai_request_model }} over the last "
            "{window} used a model the price table does not know, so they record no cost: spend, burn rate and "
            "budget alerts undercount. Add the model to a price file (ANTHROPIC_OTEL_PRICES) or upgrade the "
            "plugin for a newer price table."
        ),
        measure=(
            f"sum by ({BY}, gen_ai_request_model) (increase(anthropic_client_cost_unpriced_total{{$sel}}[$window]))"
        ),
        op=">",
        threshold=0.0,
        window="1h",
        for_="0s",
        panel=PANEL_UNPRICED,
        value_format="count",
    ),
)


def alerts_in(params: Params) -> tuple[Alert, ...]:
    return tuple(alert.with_params(params) for alert in ALERTS)


def budget_rule(params: Params) -> RecordingRule:
    """The daily budget: the one number a team edits in the rule file (or renders with `--budget-usd`)."""
    return RecordingRule(BUDGET_RECORD, f"vector({format_number(params.budget_usd)})", params.static_labels)


def recording_rules(params: Params) -> list[RecordingRule]:
    """Every recording rule, the budget first since the burn rates divide by it."""
    rules = [budget_rule(params)]
    for alert in ALERTS:
        rules.extend(alert.recording_rules(params))
    return rules


RECORDING_RULES = tuple(recording_rules(Params()))
