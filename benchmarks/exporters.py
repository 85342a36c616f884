"""Exporters that drop what they get, but count it: the end of every benchmark pipeline.

Their own module, on the OpenTelemetry SDK alone, so that `overhead.py` (which imports anthropic-otel) and
`peer_worker.py` (which runs in venvs without it) end their pipelines with the same exporters.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class Counted:
    """What the exporters were given, in this process."""

    spans = 0
    logs = 0


class DropSpans(SpanExporter):  # type: ignore[misc]
    def export(self, spans: Any) -> Any:
        Counted.spans += len(spans)
        return SpanExportResult.SUCCESS


class DropMetrics(MetricExporter):  # type: ignore[misc]
    def export(self, metrics_data: Any, timeout_millis: float = 0, **kwargs: Any) -> Any:
        return MetricExportResult.SUCCESS

    def shutdown(self, timeout_millis: float = 0, **kwargs: Any) -> None:
        pass

    def force_flush(self, timeout_millis: float = 0) -> bool:
        return True


class DropLogs(LogRecordExporter):  # type: ignore[misc]
    def export(self, batch: Any) -> Any:
        Counted.logs += len(batch)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 0) -> bool:
        return True
