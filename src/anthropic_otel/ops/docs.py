"""The README's alert reference, rendered from the definitions, so the documented defaults are the shipped ones.

Each alert gets a heading `Alert: <name>`, whose GitHub anchor is the `alert-<name lowercased>` that every
rule's `runbook_url` points at.
"""

from __future__ import annotations

import re

from anthropic_otel.ops.alerts import ALERTS, SIGNALS, recording_rules
from anthropic_otel.ops.definition import Alert, fill_text
from anthropic_otel.ops.params import Params

OPTIONS = {
    "error_rate": "--error-rate",
    "masked_error_rate": "--masked-error-rate",
    "budget_usd": "--budget-usd",
    "latency_seconds": "--latency-seconds",
    "max_tokens_rate": "--max-tokens-rate",
    "headroom": "--headroom",
}


def _plain(text: str) -> str:
    """A description without its template markup, for a reader rather than Prometheus."""
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", r"<\1>", text)
    return text.replace("{value}", "<value>")


def _default(alert: Alert) -> str:
    params = Params()
    threshold = alert.threshold_in(params)
    if alert.value_format == "percent":
        shown = f"{threshold * 100:g}%"
    elif alert.value_format == "usd":
        shown = f"{threshold:g} USD"
    elif alert.value_format == "seconds":
        shown = f"{threshold:g} s"
    elif alert.value_format == "ratio":
        shown = f"{threshold:g}x the budget's pace"
    else:
        shown = f"{threshold:g}"
    return f"{alert.op} {shown}"


def _window(alert: Alert) -> str:
    windows = [w for w in (alert.window, alert.short_window) if w]
    return " and ".join(windows) if windows else "latest value"


def table() -> str:
    lines = [
        "| alert | severity | fires when | default | window | for | option |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for alert in ALERTS:
        option = f"`{OPTIONS[alert.param]}`" if alert.param else ""
        lines.append(
            f"| [`{alert.name}`](#{alert.anchor}) | {alert.severity} | {SIGNALS[alert.signal]} | {_default(alert)} "
            f"| {_window(alert)} | {alert.for_} | {option} |"
        )
    return "\n".join(lines)


def sections() -> str:
    params = Params()
    parts = []
    for alert in ALERTS:
        option = f" Render with `{OPTIONS[alert.param]}` to change it." if alert.param else ""
        expr = alert.expr_rules(params)
        parts.append(
            f"#### Alert: {alert.name}\n\n"
            f"{fill_text(alert.summary, alert, params, '')} Severity {alert.severity}; fires when "
            f"{SIGNALS[alert.signal]} is {_default(alert)}, over {_window(alert)}, for {alert.for_}.{option}\n\n"
            f"> {_plain(fill_text(alert.description, alert, params, '{value}'))}\n\n"
            f"```promql\n{expr}\n```"
        )
    return "\n\n".join(parts)


def recording_table() -> str:
    lines = ["| recording rule | expression |", "| --- | --- |"]
    lines += [f"| `{r.record}` | `{r.expr}` |" for r in recording_rules(Params())]
    return "\n".join(lines)
