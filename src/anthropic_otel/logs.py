"""The per-request log record: one per call, through the OpenTelemetry logs API (so `opentelemetry-instrument`
exports it), tied to the call's span context, and optionally one JSON line to a stdlib logger.

Its attributes are the span's usage attributes (`spans.usage_attributes`) plus what a log reader wants without
the span: the resend count (also 0), the error type, the latency and the cost under short names. The JSON line
uses short keys for people and log pipelines that are not OpenTelemetry-aware.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from opentelemetry._logs import Logger, LogRecord, SeverityNumber
from opentelemetry.util.types import AttributeValue

from . import names as n
from .cost import Cost
from .spans import usage_attributes

if TYPE_CHECKING:
    from .record import CallRecord


def log_attributes(record: CallRecord, content: bool = False) -> dict[str, AttributeValue]:
    values = dict(usage_attributes(record))
    if (cost := values.pop(n.COST_USD, None)) is not None:
        values[n.LOG_COST_USD] = cost
    if record.batch:
        values[n.BATCH] = True
    else:
        values[n.RESEND_COUNT] = record.resend_count
        if record.error_type is not None:
            values[n.ERROR_TYPE] = record.error_type
        values[n.LOG_LATENCY_MS] = (record.end_ns - record.start_ns) / 1e6
    values.update(record.attribution)
    if content and record.content:
        values.update(record.content)
    return values


def json_line(record: CallRecord) -> str:
    usage = record.response.usage
    context = record.span.span_context() if record.span is not None else None
    valid = context is not None and context.is_valid
    cost = record.cost if isinstance(record.cost, Cost) else None
    return json.dumps(
        {
            "request_id": record.request_id,
            "model": record.model,
            "input_tokens": usage.total_input,
            "output_tokens": usage.output,
            "cache_read_tokens": usage.cache_read,
            "cache_write_tokens": usage.cache_write,
            "stop_reason": record.response.stop_reason,
            "latency_ms": round(record.duration * 1000, 3),
            "cost_usd": cost.total if cost is not None else None,
            "feature": record.attribution.get(n.FEATURE),
            "user_id": record.attribution.get(n.USER_ID),
            "retries": record.resend_count,
            "error_type": record.error_type,
            "trace_id": format(context.trace_id, "032x") if valid else None,
            "span_id": format(context.span_id, "016x") if valid else None,
        },
        separators=(",", ":"),
    )


class LogSink:
    def __init__(self, logger: Logger, json_logger: logging.Logger | None = None, *, content: bool = False) -> None:
        self.logger = logger
        self.json_logger = json_logger
        self.content = content
        """Whether recorded content goes on the log record (`EVENT_ONLY` / `SPAN_AND_EVENT`)."""

    def __call__(self, record: CallRecord) -> None:
        """Emits the log record of a call, or of a Message Batches result (event `anthropic.batch_result`)."""
        failed = record.error_type is not None
        event = n.BATCH_LOG_EVENT if record.batch else n.LOG_EVENT
        self.logger.emit(
            LogRecord(
                timestamp=record.end_ns,
                context=record.span.context() if record.span is not None else None,
                severity_number=SeverityNumber.WARN if failed else SeverityNumber.INFO,
                severity_text="WARN" if failed else "INFO",
                body=event,
                event_name=event,
                attributes=log_attributes(record, self.content),
            )
        )
        if self.json_logger is not None and not record.batch:
            self.json_logger.log(logging.WARNING if failed else logging.INFO, json_line(record))
