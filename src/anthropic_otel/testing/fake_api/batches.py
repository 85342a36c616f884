"""The Message Batches lifecycle: created ``in_progress``, ``ended`` once the processing time has passed on the
fake's clock (at once by default), results as JSONL with ``service_tier: "batch"`` usage; cancel and list.

Every request of a batch succeeds with a message rendered like the scripted reply (or the default), except those
the API would reject, when the simulation validates: they end ``errored`` with the ``invalid_request_error``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .render import DEFAULT_MODEL, JSONL_CONTENT_TYPE, dumps, page, rate_limit_headers, timestamp
from .replies import MessageReply, Reply
from .simulation import invalid_request

if TYPE_CHECKING:
    from .server import Exchange

_BATCH_PATH = "/v1/messages/batches"


@dataclass
class Batch:
    """One batch: its results are computed at creation, and revealed once it has ended."""

    id: str
    created: float
    ends: float
    results: list[dict[str, Any]]
    canceled_at: float | None = None

    def ended(self, now: float) -> bool:
        return now >= self.ends

    def info(self, now: float, base_url: str) -> dict[str, Any]:
        ended = self.ended(now)
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if ended:
            for line in self.results:
                counts[line["result"]["type"]] += 1
        else:
            counts["processing"] = len(self.results)
        status = "ended" if ended else "in_progress" if self.canceled_at is None else "canceling"
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "created_at": _at(self.created),
            "ended_at": _at(self.ends) if ended else None,
            "expires_at": _at(self.created + timedelta(days=1).total_seconds()),
            "archived_at": None,
            "cancel_initiated_at": None if self.canceled_at is None else _at(self.canceled_at),
            "results_url": f"{base_url}{_BATCH_PATH}/{self.id}/results" if ended else None,
        }


def _at(seconds: float) -> str:
    return timestamp(datetime.fromtimestamp(seconds, timezone.utc))


def _result(ex: Exchange, template: MessageReply, request: Mapping[str, Any]) -> dict[str, Any]:
    given = request.get("params")
    params: dict[str, Any] = given if isinstance(given, dict) else {}
    problem = invalid_request(params, b"{}", model_in_url=False) if ex.state.simulation.validate else None
    if problem is not None:
        error = {"type": "invalid_request_error", "message": problem}
        outcome = {
            "type": "errored",
            "error": {"type": "error", "error": error, "request_id": ex.state.new_id("req_fake")},
        }
        return {"custom_id": request.get("custom_id"), "result": outcome}
    model = str(template.model or params.get("model") or DEFAULT_MODEL)
    message = ex.render(template, params, model, service_tier="batch")
    return {"custom_id": request.get("custom_id"), "result": {"type": "succeeded", "message": message}}


def answer_create(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    """Create a batch: every request's result is rendered now, and shown when it ends."""
    requests = ex.body.get("requests")
    if not isinstance(requests, list) or not all(isinstance(r, dict) for r in requests):
        ex.send_error(400, "invalid_request_error", "requests: expected a list of {custom_id, params} objects")
        return
    template = reply or (ex.state.default if isinstance(ex.state.default, MessageReply) else Reply.message())
    now = ex.now()
    batch = Batch(
        id=ex.state.new_id("msgbatch_fake"),
        created=now,
        ends=now + ex.state.simulation.batch_seconds,
        results=[_result(ex, template, request) for request in requests],
    )
    with ex.state.lock:
        ex.state.batches[batch.id] = batch
    ex.send_json(200, batch.info(now, ex.base_url), success=True)


def _find(ex: Exchange, params: dict[str, str]) -> Batch | None:
    with ex.state.lock:
        batch = ex.state.batches.get(params["batch_id"])
    if batch is None:
        ex.send_error(404, "not_found_error", f"message batch {params['batch_id']!r} not found")
    return batch


def answer_retrieve(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    if batch := _find(ex, params):
        ex.send_json(200, batch.info(ex.now(), ex.base_url), success=True)


def answer_results(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    """The JSONL results of an ended batch; before that, the API has none to give."""
    if not (batch := _find(ex, params)):
        return
    now = ex.now()
    if not batch.ended(now):
        ex.send_error(404, "not_found_error", f"message batch {batch.id!r} has no results yet: it is still processing")
        return
    body = b"".join(dumps(line).encode() + b"\n" for line in batch.results)
    ex.send(200, [("content-type", JSONL_CONTENT_TYPE), *rate_limit_headers()], body)


def answer_cancel(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    """Cancel: a batch still in progress answers ``canceling``, then has ended with every request canceled."""
    if not (batch := _find(ex, params)):
        return
    now = ex.now()
    if batch.ended(now):
        ex.send_json(200, batch.info(now, ex.base_url), success=True)
        return
    batch.canceled_at = now
    info = batch.info(now, ex.base_url)
    batch.ends = now
    batch.results = [{"custom_id": line["custom_id"], "result": {"type": "canceled"}} for line in batch.results]
    ex.send_json(200, info, success=True)


def answer_list(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    now = ex.now()
    with ex.state.lock:
        batches = list(ex.state.batches.values())
    newest_first = [batch.info(now, ex.base_url) for batch in reversed(batches)]  # as the API lists them
    ex.send_json(200, page(newest_first, ex.request.path), success=True)
