"""The per-request log record: one per call, through the OpenTelemetry logs API (so `opentelemetry-instrument`
exports it), tied to the call's span context, and optionally one JSON line to a stdlib logger.

Attribute names are the span's, plus `anthropic.latency_ms` and `anthropic.cost_usd`; the JSON line uses short
keys for people and log pipelines that are not OpenTelemetry-aware.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry._logs import Logger, LogRecord, SeverityNumber
from opentelemetry.util.types import AttributeValue

if TYPE_CHECKING:
    from .call import CallRecord

EVENT_NAME = "anthropic.call"


def log_attributes(record: CallRecord) -> dict[str, AttributeValue]:
    usage = record.response.usage
    values: dict[str, AttributeValue | None] = {
        "anthropic.request.id": record.request_id,
        "gen_ai.request.model": record.request.model,
        "gen_ai.response.model": record.response.model,
        "gen_ai.response.id": record.response.id,
        "gen_ai.usage.input_tokens": usage.total_input,
        "gen_ai.usage.output_tokens": usage.output,
        "gen_ai.usage.cache_read.input_tokens": usage.cache_read,
        "gen_ai.usage.cache_write.input_tokens": usage.cache_write,
        "anthropic.message.stop_reason": record.response.stop_reason,
        "http.request.resend_count": record.resend_count,
        "error.type": record.error_type,
        "anthropic.latency_ms": (record.end_ns - record.start_ns) / 1e6,
        "anthropic.cost_usd": record.cost.total if record.cost is not None else None,
        **record.attribution,
    }
    return {key: value for key, value in values.items() if value is not None}


def json_line(record: CallRecord, span: Any) -> str:
    usage = record.response.usage
    context = span.get_span_context() if span is not None else None
    valid = context is not None and context.is_valid
    return json.dumps(
        {
            "request_id": record.request_id,
            "model": record.response.model or record.request.model,
            "input_tokens": usage.total_input,
            "output_tokens": usage.output,
            "cache_read_tokens": usage.cache_read,
            "cache_write_tokens": usage.cache_write,
            "stop_reason": record.response.stop_reason,
            "latency_ms": round(record.duration * 1000, 3),
            "cost_usd": round(record.cost.total, 10) if record.cost is not None else None,
            "feature": record.attribution.get("app.feature"),
            "user_id": record.attribution.get("user.id"),
            "retries": record.resend_count,
            "error_type": record.error_type,
            "trace_id": format(context.trace_id, "032x") if valid else None,
            "span_id": format(context.span_id, "016x") if valid else None,
        },
        separators=(",", ":"),
    )


class LogSink:
    def __init__(self, logger: Logger, json_logger: logging.Logger | None = None) -> None:
        self.logger = logger
        self.json_logger = json_logger

    def __call__(self, record: CallRecord, span: Any) -> None:
        failed = record.error_type is not None
        self.logger.emit(
            LogRecord(
                timestamp=record.end_ns,
                context=trace.set_span_in_context(span) if span is not None else None,
                severity_number=SeverityNumber.WARN if failed else SeverityNumber.INFO,
                severity_text="WARN" if failed else "INFO",
                body=EVENT_NAME,
                event_name=EVENT_NAME,
                attributes=log_attributes(record),
            )
        )
        if self.json_logger is not None:
            self.json_logger.log(logging.WARNING if failed else logging.INFO, json_line(record, span))
