"""The operations bundle: alert definitions as data, rendered to Prometheus, Alertmanager, Grafana and Compose.

The definitions in `alerts` are the single source: the Prometheus rules, the Grafana-managed alert rules, the
README's table and any in-process evaluator read the same names, thresholds, windows and `for` durations, so
the places that judge "would this have fired" cannot drift apart.
"""

from anthropic_otel.ops.alerts import ALERTS, RECORDING_RULES, Alert, Params, RecordingRule

__all__ = ["ALERTS", "RECORDING_RULES", "Alert", "Params", "RecordingRule"]
