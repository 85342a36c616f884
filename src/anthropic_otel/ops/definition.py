"""The form of an alert definition (`Alert`, `RecordingRule`) and what one renders to.

An alert renders to its condition over raw series (what Grafana evaluates), its condition over recording rules
(what Prometheus evaluates), the recording rules themselves, and its summary and description with the figures
of one rendering. The definitions are in `alerts`; the placeholders of their PromQL are described there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from string import Template

from anthropic_otel.ops.params import Params, format_number

REPOSITORY_URL = "https://github.com/anthropic-otel/anthropic-otel"
BUDGET_RECORD = "anthropic:budget_usd:daily"

# How an annotation shows each kind of figure (an alert's `value_format`): the template function it is piped
# through. Prometheus and Grafana differ only in the variable that holds the value.
VALUE_FUNCTIONS = {
    "percent": "humanizePercentage",
    "usd": 'printf "%.2f"',
    "ratio": 'printf "%.2f"',
    "seconds": "humanizeDuration",
    "count": 'printf "%.0f"',
}


def value_templates(variable: str) -> dict[str, str]:
    """The template that shows an alert's value, by `value_format`, for the variable that holds the value."""
    return {kind: f"{{{{ {variable} | {function} }}}}" for kind, function in VALUE_FUNCTIONS.items()}


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
    # What an evaluator outside PromQL computes, one of `alerts.SIGNALS`; `measure` is its PromQL form.
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
        parts = self._comparisons(params, lambda window: self.measure_in(params, window), threshold)
        # A measure is an expression of its own, so each one is parenthesised before `and` joins them.
        return " and ".join(f"({p})" for p in parts) if len(parts) > 1 else parts[0]

    def expr_rules(self, params: Params) -> str:
        """The condition for Prometheus, over the recording rules where the alert has one."""
        if not self.record:
            return self.expr_raw(params)
        threshold = (
            f"on() {self.threshold_record}" if self.threshold_record else format_number(self.threshold_in(params))
        )
        return " and ".join(self._comparisons(params, self.record_in, threshold))

    def recording_rules(self, params: Params) -> list[RecordingRule]:
        if not self.record:
            return []
        labels = params.static_labels if self.labelless else {}
        budget = f"on() {BUDGET_RECORD}"
        return [
            RecordingRule(self.record_in(w), self.measure_in(params, w, budget=budget), labels)
            for w in self._ranges(params)
        ]

    def with_params(self, params: Params) -> Alert:
        """This alert with its threshold from `params`: the figure a rendered bundle shows."""
        return replace(self, threshold=self.threshold_in(params))

    def _ranges(self, params: Params) -> list[str | None]:
        """The windows to render over: the alert's own, or one `None` for an alert on the latest value."""
        windows: list[str | None] = [*self.windows_in(params)]
        return windows or [None]

    def _comparisons(self, params: Params, left: Callable[[str | None], str], threshold: str) -> list[str]:
        """`left <op> threshold` for each window, long first."""
        return [f"{left(window)} {self.op} {threshold}" for window in self._ranges(params)]


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
