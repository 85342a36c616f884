"""The record a finished call leaves: what every sink reads, and nothing else does.

A `Call` (call.py) freezes one `CallRecord` when it ends, however it ends; a succeeded Message Batches result
(batches.py) is a record too, of a call made and billed elsewhere (`batch=True`, no span, no attempts).
`Telemetry.finish` (telemetry.py) prices the record, judges it for anomalies, and hands it to the span, the
metrics and the log sinks.

Records are slotted dataclasses, read-only by convention rather than frozen: a frozen dataclass costs about
four times as much to build, and a call builds several (this one, its request, response and usage fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import extract
from .anomalies import Anomaly
from .cost import Cost, Unpriced


class Span(Protocol):
    """What the sinks ask of a call's span (`spans.CallSpan`)."""

    def write(self, record: CallRecord, content: bool = True) -> None: ...
    def context(self) -> Any: ...
    def span_context(self) -> Any: ...


@dataclass(slots=True)
class Attempt:
    """One HTTP attempt of a call."""

    status_code: int | None
    error_type: str | None
    retried: bool = False
    delay: float | None = None


@dataclass(slots=True)
class CallRecord:
    """Everything known about a finished call."""

    provider: str
    server_address: str | None
    server_port: int | None
    request: extract.RequestFields
    response: extract.ResponseFields
    attempts: tuple[Attempt, ...]
    start_ns: int
    end_ns: int
    request_id: str | None = None
    status_code: int | None = None
    time_to_first_chunk: float | None = None
    error_type: str | None = None
    content: Mapping[str, str] = field(default_factory=dict)
    attribution: Mapping[str, str] = field(default_factory=dict)
    headers: Any = None
    """The headers of the final response (the HTTP library's `Headers`), for the sinks that read more of them."""
    span: Span | None = None
    """The call's span, which the span sink ends with this record and the log record is tied to."""
    batch: bool = False
    """A Message Batches result: metered, not traced (its call ran on Anthropic's side)."""
    cost: Cost | Unpriced | None = None
    """Set by `Telemetry.finish`: what the call cost, or why it has no price; `None` when it used no tokens."""
    anomaly: Anomaly | None = None
    """Set by `Telemetry.finish` when the call's input is far above its (model, feature) average."""
    usage_attributes: dict[str, Any] | None = field(default=None, init=False, repr=False)
    """The attributes the span and the log record share, built once by the first sink that asks
    (`spans.usage_attributes`); read-only, like the record."""

    @property
    def resend_count(self) -> int:
        return max(len(self.attempts) - 1, 0)

    @property
    def duration(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def model(self) -> str | None:
        """The model that answered, or the one asked for when no response says."""
        return self.response.model or self.request.model
