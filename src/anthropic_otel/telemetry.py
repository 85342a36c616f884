"""Where a record becomes telemetry: `Telemetry.finish` is the only fan-out.

    hooks -> Call -> CallRecord -> Telemetry.finish: price, judge anomalies -> span, metrics, log

A finished call's record (and a Message Batches result's) is priced by the one pricing function, judged against
its (model, feature) average input, and handed, the same record, to each sink in `sinks`, in order. Each step is
guarded: a sink that fails is logged at debug level and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from opentelemetry.trace import Tracer

from . import names as n
from .anomalies import AnomalyDetector
from .attribution import Pseudonyms
from .attribution import current as current_attribution
from .cost import price
from .prices import PriceTable
from .record import CallRecord

log = logging.getLogger(__name__)

Sink = Callable[[CallRecord], None]


class Telemetry:
    """The tracer calls start their spans with, the prices, the anomaly detector, and the sinks."""

    def __init__(
        self,
        tracer: Tracer,
        sinks: Sequence[Sink],
        prices: PriceTable,
        anomalies: AnomalyDetector,
        pseudonyms: Pseudonyms | None = None,
    ):
        self.tracer = tracer
        self.sinks = tuple(sinks)
        self.prices = prices
        self.anomalies = anomalies
        self.pseudonyms = pseudonyms

    def attribution(self) -> Mapping[str, str]:
        """The attribution of the calling context, `user.id` hashed when a key is set. Never raises."""
        found = current_attribution()
        if self.pseudonyms is None:
            return found
        try:
            return self.pseudonyms(found)
        except Exception:
            log.debug("Could not hash a user id; the call is recorded without one", exc_info=True)
            return {key: value for key, value in found.items() if key != n.USER_ID}

    def finish(self, record: CallRecord) -> None:
        """Prices `record`, judges it, and hands it to every sink. Never raises."""
        response = record.response
        try:
            record.cost = price(
                self.prices,
                record.model,
                response.usage,
                when_ns=record.start_ns,
                service_tier=response.service_tier,
                inference_geo=response.inference_geo,
                speed=response.speed,
            )
        except Exception:
            log.debug("Could not price a call", exc_info=True)
        if not record.batch:
            try:
                record.anomaly = self.anomalies.observe(
                    record.model, record.attribution.get(n.FEATURE), response.usage.total_input
                )
            except Exception:
                log.debug("Could not judge a call for token anomalies", exc_info=True)
        for sink in self.sinks:
            try:
                sink(record)
            except Exception:
                log.debug("A sink could not take the record of a call", exc_info=True)
