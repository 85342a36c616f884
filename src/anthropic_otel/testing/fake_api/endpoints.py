"""The routes the fake serves and what each answers: Messages (direct, Vertex, Bedrock), count_tokens, batches."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

from .render import (
    DEFAULT_MODEL,
    JSONL_CONTENT_TYPE,
    count_input_tokens,
    dumps,
    rate_limit_headers,
    render_message,
    timestamp,
)
from .replies import MessageReply, Reply

if TYPE_CHECKING:
    from .server import Exchange


@dataclass
class Batch:
    info: dict[str, Any]
    results: bytes


Answer = Callable[["Exchange", dict[str, str], MessageReply | None], None]


def _answer_message(
    ex: Exchange, params: dict[str, str], reply: MessageReply | None, *, streaming: bool = True
) -> None:
    """Messages (direct, Vertex ``rawPredict``, Bedrock ``invoke``): render ``reply`` for this request."""
    reply = reply or Reply.message()
    model = reply.model or params.get("model") or ex.body.get("model") or DEFAULT_MODEL
    msg_id = reply.id or ex.state.new_id("msg_fake")
    message = render_message(reply, msg_id=msg_id, model=str(model), new_id=ex.state.new_id)
    reply.deliver(ex, message, stream=streaming and ex.body.get("stream") is True)


def _answer_count_tokens(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    ex.send_json(200, {"input_tokens": count_input_tokens(ex.request.json)}, success=True)


def _answer_create_batch(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    """Create a batch that has already ended: every request succeeded with a message rendered like ``reply``."""
    requests = ex.body.get("requests")
    if not isinstance(requests, list) or not all(isinstance(r, dict) for r in requests):
        ex.send_error(400, "invalid_request_error", "requests: expected a list of {custom_id, params} objects")
        return
    template = reply or (ex.state.default if isinstance(ex.state.default, MessageReply) else Reply.message())
    batch_id = ex.state.new_id("msgbatch_fake")
    lines = [_batch_result(ex, template, request) for request in requests]
    now = datetime.now(timezone.utc)
    info = {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": "ended",
        "request_counts": {"processing": 0, "succeeded": len(requests), "errored": 0, "canceled": 0, "expired": 0},
        "created_at": timestamp(now),
        "ended_at": timestamp(now),
        "expires_at": timestamp(now + timedelta(days=1)),
        "archived_at": None,
        "cancel_initiated_at": None,
        "results_url": f"{ex.base_url}/v1/messages/batches/{batch_id}/results",
    }
    with ex.state.lock:
        ex.state.batches[batch_id] = Batch(info, b"".join(dumps(line).encode() + b"\n" for line in lines))
    ex.send_json(200, info, success=True)


def _batch_result(ex: Exchange, template: MessageReply, request: Mapping[str, Any]) -> dict[str, Any]:
    params = request.get("params") if isinstance(request.get("params"), dict) else {}
    model = str(template.model or params.get("model") or DEFAULT_MODEL)
    msg_id = template.id or ex.state.new_id("msg_fake")
    message = render_message(template, msg_id=msg_id, model=model, new_id=ex.state.new_id, service_tier="batch")
    return {"custom_id": request.get("custom_id"), "result": {"type": "succeeded", "message": message}}


def _answer_batch(ex: Exchange, params: dict[str, str], reply: MessageReply | None, *, results: bool) -> None:
    with ex.state.lock:
        batch = ex.state.batches.get(params["batch_id"])
    if batch is None:
        ex.send_error(404, "not_found_error", f"message batch {params['batch_id']!r} not found")
    elif results:
        ex.send(200, [("content-type", JSONL_CONTENT_TYPE), *rate_limit_headers()], batch.results)
    else:
        ex.send_json(200, batch.info, success=True)


def _answer_bedrock_stream(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    message = (
        "The fake Anthropic API does not support Bedrock streaming: invoke-with-response-stream uses the binary "
        "AWS event-stream encoding. Use /model/{model}/invoke (non-streaming) instead."
    )
    ex.send_error(400, "invalid_request_error", message)


def _answer_not_found(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    ex.send_error(404, "not_found_error", f"Not found: {ex.request.method} {ex.request.path}")


@dataclass(frozen=True)
class Route:
    """``method`` + path regex (query string excluded) -> answer, and which scripted replies it consumes."""

    method: str
    pattern: str
    answer: Answer
    consumes: Literal["any", "faults", "none"]


_VERTEX_MODELS = r"(?:/v1)?/projects/[^/]+/locations/[^/]+/publishers/anthropic/models"

_ROUTES: tuple[Route, ...] = (
    Route("POST", r"/v1/messages", _answer_message, "any"),
    Route("POST", r"/v1/messages/count_tokens", _answer_count_tokens, "faults"),
    Route("POST", r"/v1/messages/batches", _answer_create_batch, "faults"),
    Route("GET", r"/v1/messages/batches/(?P<batch_id>[^/]+)", partial(_answer_batch, results=False), "faults"),
    Route("GET", r"/v1/messages/batches/(?P<batch_id>[^/]+)/results", partial(_answer_batch, results=True), "faults"),
    Route("POST", _VERTEX_MODELS + r"/count-tokens:rawPredict", _answer_count_tokens, "faults"),
    Route("POST", _VERTEX_MODELS + r"/(?P<model>[^/:]+):(?:stream)?[rR]awPredict", _answer_message, "any"),
    Route("POST", r"/model/(?P<model>[^/]+)/invoke", partial(_answer_message, streaming=False), "any"),
    Route("POST", r"/model/(?P<model>[^/]+)/invoke-with-response-stream", _answer_bedrock_stream, "none"),
)

_NOT_FOUND = Route("*", "", _answer_not_found, "none")


def resolve(method: str, target: str) -> tuple[Route, dict[str, str]]:
    path = urlsplit(target).path
    for route in _ROUTES:
        match = re.fullmatch(route.pattern, path)
        if match and route.method == method:
            return route, {name: unquote(value) for name, value in match.groupdict().items()}
    return _NOT_FOUND, {}
