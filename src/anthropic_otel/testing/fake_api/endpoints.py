"""The routes the fake serves and what each answers: Messages (direct, Vertex, Bedrock), count_tokens, models;
batches live in :mod:`.batches`, the fake's own control endpoints in :mod:`.control`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Literal
from urllib.parse import unquote, urlsplit

from . import batches, control
from .render import (
    DEFAULT_MODEL,
    page,
)
from .replies import MessageReply, Reply
from .simulation import invalid_request
from .tokens import count_input_tokens

if TYPE_CHECKING:
    from .server import Exchange


Answer = Callable[["Exchange", dict[str, str], MessageReply | None], None]
Streaming = Literal["body", "never", "eventstream"]
"""Whether a message route streams: as the body's ``stream`` says (SSE), never (Bedrock ``invoke``), or always
in AWS event-stream framing (Bedrock ``invoke-with-response-stream``)."""


def _answer_message(
    ex: Exchange, params: dict[str, str], reply: MessageReply | None, *, streaming: Streaming = "body"
) -> None:
    """Messages (direct, Vertex ``rawPredict``, Bedrock ``invoke``): render ``reply`` for this request."""
    if ex.state.simulation.validate:
        problem = invalid_request(ex.request.json, ex.request.body, model_in_url="model" in params)
        if problem is not None:
            ex.send_error(400, "invalid_request_error", problem)
            return
    reply = reply or Reply.message()
    model = str(reply.model or params.get("model") or ex.body.get("model") or DEFAULT_MODEL)
    message = ex.render(reply, ex.body, model)
    ex.eventstream = streaming == "eventstream"
    reply.deliver(ex, message, stream=ex.eventstream or (streaming == "body" and ex.body.get("stream") is True))


def _answer_count_tokens(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    ex.send_json(200, {"input_tokens": count_input_tokens(ex.request.json)}, success=True)


def _answer_models(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    with ex.state.lock:
        models = list(ex.state.models)
    ex.send_json(200, page(models, ex.request.path), success=True)


def _answer_model(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    with ex.state.lock:
        model = next((model for model in ex.state.models if model["id"] == params["model"]), None)
    if model is None:
        ex.send_error(404, "not_found_error", f"model: {params['model']}")
    else:
        ex.send_json(200, model, success=True)


def _answer_not_found(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    ex.send_error(404, "not_found_error", f"Not found: {ex.request.method} {ex.request.path}")


@dataclass(frozen=True)
class Route:
    """``method`` + path regex (query string excluded) -> answer, and which scripted replies it consumes."""

    method: str
    pattern: str
    answer: Answer
    consumes: Literal["any", "faults", "none"]
    recorded: bool = True
    """Whether ``FakeAnthropic.requests`` lists the request (the fake's own control endpoints are not)."""


_VERTEX_MODELS = r"(?:/v1)?/projects/[^/]+/locations/[^/]+/publishers/anthropic/models"

_ROUTES: tuple[Route, ...] = (
    Route("POST", r"/v1/messages", _answer_message, "any"),
    Route("POST", r"/v1/messages/count_tokens", _answer_count_tokens, "faults"),
    Route("POST", r"/v1/messages/batches", batches.answer_create, "faults"),
    Route("GET", r"/v1/messages/batches", batches.answer_list, "faults"),
    Route("GET", r"/v1/messages/batches/(?P<batch_id>[^/]+)", batches.answer_retrieve, "faults"),
    Route("GET", r"/v1/messages/batches/(?P<batch_id>[^/]+)/results", batches.answer_results, "faults"),
    Route("POST", r"/v1/messages/batches/(?P<batch_id>[^/]+)/cancel", batches.answer_cancel, "faults"),
    Route("GET", r"/v1/models", _answer_models, "faults"),
    Route("GET", r"/v1/models/(?P<model>[^/]+)", _answer_model, "faults"),
    Route("POST", _VERTEX_MODELS + r"/count-tokens:rawPredict", _answer_count_tokens, "faults"),
    Route("POST", _VERTEX_MODELS + r"/(?P<model>[^/:]+):(?:stream)?[rR]awPredict", _answer_message, "any"),
    Route("POST", r"/model/(?P<model>[^/]+)/invoke", partial(_answer_message, streaming="never"), "any"),
    Route(
        "POST",
        r"/model/(?P<model>[^/]+)/invoke-with-response-stream",
        partial(_answer_message, streaming="eventstream"),
        "any",
    ),
    *control.routes(),
)

_NOT_FOUND = Route("*", "", _answer_not_found, "none")


def resolve(method: str, target: str) -> tuple[Route, dict[str, str]]:
    path = urlsplit(target).path
    for route in _ROUTES:
        match = re.fullmatch(route.pattern, path)
        if match and route.method == method:
            return route, {name: unquote(value) for name, value in match.groupdict().items()}
    return _NOT_FOUND, {}
