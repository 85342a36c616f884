"""The alerts and recording rules of the operations bundle, as data.

Each alert keeps its plain parameters (threshold, window, `for`, comparison) beside its PromQL, so the same
definition renders the Prometheus rule, the Grafana-managed rule and the README table, and a Python evaluator
over in-process metrics can judge from the same numbers which alerts would have fired.

PromQL templates use `string.Template` placeholders, since PromQL itself is full of braces:

- `$sel`: the label matchers that pick the monitored services (never empty: `service_name!=""` by default);
- `$window`: the alert's range, after `--time-scale`;
- `$day`: the seconds in a day, after `--time-scale` (a burn rate of 1 spends the budget in exactly a day);
- `$budget`: the daily budget, either the number or the `anthropic:budget_usd:daily` recording rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from string import Template

REPOSITORY_URL = "https://github.com/anthropic-otel/anthropic-otel"
DASHBOARD_UID = "anthropic-otel"
BUDGET_RECORD = "anthropic:budget_usd:daily"
# The labels every ratio is kept by: one alert per service and deployment environment.
BY = "service_name, deployment_environment_name"
CALLS = "gen_ai_client_operation_duration_seconds_count"
DAY_SECONDS = 86400

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

_UNITS = (("d", 86400_000), ("h", 3600_000), ("m", 60_000), ("s", 1000), ("ms", 1))
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")


def parse_duration(text: str) -> int:
    """A Prometheus duration of one unit (`5m`, `1d`, `500ms`) in milliseconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration of one unit: {text!r}")
    return int(match.group(1)) * dict(_UNITS)[match.group(2)]


def format_duration(millis: int) -> str:
    """Milliseconds as a Prometheus duration in the largest unit that divides them (`86400000` -> `1d`)."""
    if millis == 0:
        return "0s"
    for unit, size in _UNITS:
        if millis % size == 0:
            return f"{millis // size}{unit}"
    raise AssertionError("unreachable: every whole number of milliseconds divides by 1")


def format_number(value: float) -> str:
    """A threshold as PromQL and YAML show it: `0.01`, `100`, never `100.0`."""
    return format(value, ".12g")


@dataclass(frozen=True)
class Params:
    """What a team tunes: the thresholds, the services watched, and a time scale for tests.

    `time_scale` divides every window and `for` (60 turns 5m into 5s, and the day into 24 minutes), so a
    Prometheus started by a test reaches the same verdicts in seconds.
    """

    budget_usd: float = 100.0
    error_rate: float = 0.01
    masked_error_rate: float = 0.05
    latency_seconds: float = 30.0
    max_tokens_rate: float = 0.05
    headroom: float = 0.10
    service: str | None = None
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if self.budget_usd <= 0:
            raise ValueError("budget_usd must be positive")

    @property
    def selector(self) -> str:
        """Label matchers for every raw series: a plain name picks one service, matchers pass as they are."""
        if not self.service:
            return 'service_name!=""'
        if re.search(r"[=~!]", self.service):
            return self.service
        return f'service_name="{self.service}"'

    @property
    def static_labels(self) -> dict[str, str]:
        """Labels for the label-less aggregates (spend, budget): the service, when one is named plainly."""
        if self.service and not re.search(r"[=~!]", self.service):
            return {"service_name": self.service}
        return {}

    def scale(self, duration: str) -> str:
        """A duration divided by the time scale, to the millisecond."""
        return format_duration(round(parse_duration(duration) / self.time_scale))

    @property
    def day_seconds(self) -> str:
        return format_number(DAY_SECONDS / self.time_scale)


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Alert:
    """One alert. `measure` is the quantity compared with the threshold, over raw series; `record` names the
    recording rule that keeps it (its `$w` becomes the window), so the Prometheus alert reads the rule while the
    Grafana-managed rule, which must not depend on Prometheus' rule files, evaluates the measure itself."""

    name: str
    # What an evaluator outside PromQL computes, one of SIGNALS; `measure` is its PromQL form.
    signal: str
    severity: str
    summary: str
    description: str
    measure: str
    op: str
    threshold: float
    window: str | None
    for_: str
    panel: int
    value_format: str
    param: str | None = None
    record: str | None = None
    short_window: str | None = None
    threshold_record: str | None = None
    # A sum over everything the selector picks (spend, burn rate): it gets the service's static labels.
    labelless: bool = False

    @property
    def anchor(self) -> str:
        return f"alert-{self.name.lower()}"

    @property
    def runbook_url(self) -> str:
        return f"{REPOSITORY_URL}#{self.anchor}"

    def threshold_in(self, params: Params) -> float:
        return float(getattr(params, self.param)) if self.param else self.threshold

    def windows_in(self, params: Params) -> list[str]:
        """The ranges the alert reads, long first: one, or a long and a short one for burn rates."""
        return [params.scale(w) for w in (self.window, self.short_window) if w]

    def for_in(self, params: Params) -> str:
        return params.scale(self.for_)

    def measure_in(self, params: Params, window: str | None, *, budget: str | None = None) -> str:
        return Template(self.measure).substitute(
            sel=params.selector,
            window=window or "",
            day=params.day_seconds,
            budget=budget or format_number(params.budget_usd),
        )

    def record_in(self, window: str | None) -> str:
        assert self.record, self.name
        return Template(self.record).substitute(w=window or "")

    def expr_raw(self, params: Params) -> str:
        """The whole condition over raw series: what Grafana evaluates and what an evaluator re-implements."""
        threshold = format_number(self.threshold_in(params))
        windows = self.windows_in(params) or [None]
        parts = [f"{self.measure_in(params, w)} {self.op} {threshold}" for w in windows]
        return " and ".join(f"({p})" for p in parts) if len(parts) > 1 else parts[0]

    def expr_rules(self, params: Params) -> str:
        """The condition for Prometheus, over the recording rules where the alert has one."""
        if not self.record:
            return self.expr_raw(params)
        threshold = (
            f"on() {self.threshold_record}" if self.threshold_record else format_number(self.threshold_in(params))
        )
        windows = self.windows_in(params) or [None]
        parts = [f"{self.record_in(w)} {self.op} {threshold}" for w in windows]
        return " and ".join(parts)

    def recording_rules(self, params: Params) -> list[RecordingRule]:
        if not self.record:
            return []
        labels = params.static_labels if self.labelless else {}
        budget = f"on() {BUDGET_RECORD}"
        return [
            RecordingRule(self.record_in(w), self.measure_in(params, w, budget=budget), labels)
            for w in (self.windows_in(params) or [None])
        ]

    def with_params(self, params: Params) -> Alert:
        """This alert with its threshold from `params`: the figure a rendered bundle shows."""
        return replace(self, threshold=self.threshold_in(params))


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


def fill_text(text: str, alert: Alert, params: Params, value: str) -> str:
    """Summary and description with the figures of this rendering: threshold, windows, and the value template."""
    windows = alert.windows_in(params)
    threshold = alert.threshold_in(params)
    shown = f"{format_number(threshold * 100)}%" if alert.value_format == "percent" else format_number(threshold)
    return (
        text.replace("{threshold}", shown)
        .replace("{window}", windows[0] if windows else "")
        .replace("{short_window}", windows[1] if len(windows) > 1 else "")
        .replace("{value}", value)
    )
