"""Message Batches results: each succeeded result is a call already made and billed, at the batch price.

Every SDK generation decodes `messages.batches.results()` with `JSONLDecoder.__decode__` (and the async twin).
The plugin watches the decoded results go by and makes each succeeded one a record (`batch=True`) for
`Telemetry.finish`, once: tokens, cost (half price, as `service_tier=batch` says, and assumed when a result does
not say), cache and batch savings, with `anthropic.batch=true` and the attribution of the code that reads the
results. Reading the same results twice does not count them
twice: the last `SEEN_LIMIT` (message id, custom id) pairs are remembered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from . import extract
from .record import CallRecord

if TYPE_CHECKING:
    from .telemetry import Telemetry

log = logging.getLogger(__name__)

SEEN_LIMIT = 100_000


class BatchResults:
    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.seen: OrderedDict[str, None] = OrderedDict()
        """Message id and custom id of the results already metered, oldest first."""
        self.lock = threading.Lock()

    def first_time(self, message_id: str | None, custom_id: object) -> bool:
        if message_id is None:
            return True
        key = f"{message_id}/{custom_id}"
        with self.lock:
            if key in self.seen:
                return False
            self.seen[key] = None
            if len(self.seen) > SEEN_LIMIT:
                self.seen.popitem(last=False)
            return True

    def take(self, item: object) -> None:
        """Meters one decoded result line. Never raises."""
        try:
            result = extract.get(item, "result")
            if extract.get(result, "type") != "succeeded":
                return
            fields = extract.message_fields(extract.get(result, "message"))
            if fields.usage.input is None and fields.usage.output is None:
                return
            if not self.first_time(fields.id, extract.get(item, "custom_id")):
                return
            if fields.service_tier is None:
                fields = replace(fields, service_tier="batch")
            now = time.time_ns()
            record = CallRecord(
                provider="anthropic",
                server_address=None,
                server_port=None,
                request=extract.RequestFields(model=fields.model),
                response=fields,
                attempts=(),
                start_ns=now,
                end_ns=now,
                attribution=self.telemetry.attribution(),
                batch=True,
            )
            self.telemetry.finish(record)
        except Exception:
            log.debug("Could not meter a batch result", exc_info=True)

    def observed(self, items: Iterator[Any]) -> Iterator[Any]:
        for item in items:
            self.take(item)
            yield item

    async def observed_async(self, items: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for item in items:
            self.take(item)
            yield item

    def decode(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Wrapper of `JSONLDecoder.__decode__`."""
        return self.observed(wrapped(*args, **kwargs))

    def decode_async(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Wrapper of `AsyncJSONLDecoder.__decode__`."""
        return self.observed_async(wrapped(*args, **kwargs))
