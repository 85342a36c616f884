"""Scripting the fake from another process: scenario specs (JSON or YAML) and the ``/_fake/...`` endpoints.

A spec is a mapping naming a :class:`~.replies.Reply` constructor with ``reply`` (``message`` when left out) and
its keyword arguments, plus ``repeat`` (default 1); ``delay`` takes a nested spec as ``then``; a usage value
``"$omit"`` stands for :data:`~.render.OMIT`. A scenario is a list of specs, or a mapping with ``script`` (that
list) and ``default`` (one spec)::

    - {reply: rate_limited, retry_after: 0.01, repeat: 2}
    - {reply: message, text: "Hi", input_tokens: 12}
    - {reply: delay, seconds: 5, then: {reply: message}}

Endpoints (not listed in ``FakeAnthropic.requests``): ``POST /_fake/enqueue`` (a spec or a list of specs),
``POST /_fake/default`` (one spec), ``POST /_fake/clear``, ``GET /_fake/requests``, and ``POST /_fake/clock``
with ``{"advance": seconds}`` when the fake runs on a :class:`~.simulation.FakeClock`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .render import OMIT
from .replies import MessageReply, Reply
from .simulation import FakeClock

if TYPE_CHECKING:
    from .endpoints import Route
    from .server import Exchange

KINDS: Mapping[str, Callable[..., Reply]] = {
    "message": Reply.message,
    "error": Reply.error,
    "overloaded": Reply.overloaded,
    "rate_limited": Reply.rate_limited,
    "reset": Reply.reset,
    "delay": Reply.delay,
    "hang": Reply.hang,
    "malformed_json": Reply.malformed_json,
    "truncated_stream": Reply.truncated_stream,
    "stream_error": Reply.stream_error,
    "reset_mid_stream": Reply.reset_mid_stream,
    "huge": Reply.huge,
    "non_utf8": Reply.non_utf8,
}
"""The reply kinds a spec can name: the ``Reply`` constructors whose arguments are plain JSON values."""


class SpecError(ValueError):
    """A scenario spec that names no known reply, or gives it arguments it does not take."""


def replies_from_spec(spec: object) -> list[Reply]:
    """The replies a spec (or a list of specs) stands for, repeats expanded."""
    if isinstance(spec, list):
        return [reply for item in spec for reply in replies_from_spec(item)]
    if not isinstance(spec, dict):
        raise SpecError(f"a reply spec is a mapping, got {spec!r}")
    arguments = dict(spec)
    kind = str(arguments.pop("reply", "message"))
    repeat = int(arguments.pop("repeat", 1))
    if kind not in KINDS:
        raise SpecError(f"unknown reply {kind!r}; known: {', '.join(KINDS)}")
    if "then" in arguments:
        arguments["then"] = _one(arguments["then"])
    if isinstance(arguments.get("usage_patch"), dict):
        arguments["usage_patch"] = {k: OMIT if v == "$omit" else v for k, v in arguments["usage_patch"].items()}
    try:
        reply = KINDS[kind](**arguments)
    except TypeError as error:
        raise SpecError(f"{kind}: {error}") from error
    return [reply] * repeat


def _one(spec: object) -> Reply:
    replies = replies_from_spec(spec)
    if len(replies) != 1:
        raise SpecError(f"expected exactly one reply, got {len(replies)}")
    return replies[0]


def load_scenario(path: str | Path) -> tuple[list[Reply], Reply | None]:
    """The script and the default reply of a scenario file: YAML for ``.yaml``/``.yml`` (PyYAML), else JSON."""
    text = Path(path).read_text()
    if Path(path).suffix in (".yaml", ".yml"):
        import yaml  # only needed for YAML scenarios

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if isinstance(data, dict):
        default = data.get("default")
        return replies_from_spec(data.get("script", [])), None if default is None else _one(default)
    return replies_from_spec(data), None


# -- endpoints -------------------------------------------------------------------------------------------------------


def _scripted(ex: Exchange, action: Callable[[object], dict[str, Any]]) -> None:
    try:
        ex.send_json(200, action(ex.request.json))
    except (SpecError, ValueError) as error:
        ex.send_error(400, "invalid_request_error", str(error))


def _enqueue(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    def enqueue(spec: object) -> dict[str, Any]:
        replies = replies_from_spec(spec)
        with ex.state.lock:
            ex.state.script.extend(replies)
            return {"enqueued": len(replies), "queued": len(ex.state.script)}

    _scripted(ex, enqueue)


def _default(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    def set_default(spec: object) -> dict[str, Any]:
        default = _one(spec)
        with ex.state.lock:
            ex.state.default = default
        return {}

    _scripted(ex, set_default)


def _clear(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    ex.state.clear()
    ex.send_json(200, {})


def _requests(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    """What was received: method, path, headers, the JSON body, and the raw body in base64."""
    with ex.state.lock:
        received = list(ex.state.requests)
    listed = [
        {
            "method": r.method,
            "path": r.path,
            "headers": r.headers,
            "json": r.json,
            "body_base64": base64.b64encode(r.body).decode(),
        }
        for r in received
    ]
    ex.send_json(200, {"requests": listed})


def _clock(ex: Exchange, params: dict[str, str], reply: MessageReply | None) -> None:
    clock = ex.state.clock
    if not isinstance(clock, FakeClock):
        ex.send_error(400, "invalid_request_error", "the fake runs on the real clock (start it with --fake-clock)")
        return
    advance = ex.body.get("advance", 0)
    if not isinstance(advance, int | float):
        ex.send_error(400, "invalid_request_error", "advance: a number of seconds")
        return
    ex.send_json(200, {"now": clock.advance(advance)})


def routes() -> tuple[Route, ...]:
    from .endpoints import Route

    return (
        Route("POST", r"/_fake/enqueue", _enqueue, "none", recorded=False),
        Route("POST", r"/_fake/default", _default, "none", recorded=False),
        Route("POST", r"/_fake/clear", _clear, "none", recorded=False),
        Route("GET", r"/_fake/requests", _requests, "none", recorded=False),
        Route("POST", r"/_fake/clock", _clock, "none", recorded=False),
    )
