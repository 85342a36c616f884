"""Pure extractors: request bodies, responses and stream events in, plain fields out.

Everything here reads models and decoded JSON alike, checks the type of every value it takes (a body this
version does not know yields nothing rather than something wrong), and touches no telemetry API, so it can be
tested without a network or a tracer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

_IS_MAPPING: dict[type, bool] = {dict: True}
"""Whether a type is a `Mapping`, by type: the ABC check is slow, and this runs a few dozen times per call."""


def _learn_mapping(data: object) -> bool:
    """Whether `data` is a `Mapping`, remembered for its type (the cache lookup stays inline in the callers,
    which run a few dozen times per call)."""
    is_mapping = isinstance(data, Mapping)
    if len(_IS_MAPPING) < 256:
        _IS_MAPPING[type(data)] = is_mapping
    return is_mapping


def get(data: object, name: str) -> object:
    """`data[name]` for a mapping, `data.name` for a model, else `None`.

    A model's fields are read from its `__dict__`, and pydantic 2's extra fields from `__pydantic_extra__`, before
    falling back to `getattr`: asking a pydantic model for a field it lacks goes through its `__getattr__` and an
    `AttributeError`, about 2 us, and the fields that newer API versions added are missing from older SDKs' models
    and from some event types (a `message_delta`'s usage has no `cache_creation`)."""
    if data is None:
        return None
    is_mapping = _IS_MAPPING.get(type(data))
    if is_mapping is None:
        is_mapping = _learn_mapping(data)
    if is_mapping:
        return data.get(name)  # type: ignore[attr-defined]
    fields = getattr(data, "__dict__", None)
    if fields is not None and name in fields:
        return fields[name]
    extra = getattr(data, "__pydantic_extra__", None)
    if isinstance(extra, dict):  # a pydantic 2 model that keeps unknown fields: it has no such field
        return extra.get(name)
    return getattr(data, name, None)


class _Attributes:
    """The `get` of an object that keeps its fields neither in a mapping nor in `__dict__` (slots, properties)."""

    __slots__ = ("data",)

    def __init__(self, data: object) -> None:
        self.data = data

    def get(self, name: str) -> object:
        return getattr(self.data, name, None)


def fields_of(data: object) -> Mapping[str, object] | _Attributes | None:
    """What `get` reads, once, for reading many fields of one object: a mapping itself, a model's `__dict__`
    (with pydantic 2's extra fields), or an object whose `get` is `getattr`.

    A response's usage has nine fields the record keeps; reading them through `get` one by one is nine Python
    calls per call, this is one."""
    if data is None:
        return None
    is_mapping = _IS_MAPPING.get(type(data))
    if is_mapping is None:
        is_mapping = _learn_mapping(data)
    if is_mapping:
        return data  # type: ignore[return-value]
    fields = getattr(data, "__dict__", None)
    extra = getattr(data, "__pydantic_extra__", None)
    if not isinstance(fields, dict):
        return _Attributes(data)
    return {**extra, **fields} if isinstance(extra, dict) and extra else fields


def counts(fields: Mapping[str, object] | _Attributes | None, *names: str) -> list[int | None]:
    """`count` of each of `names` in `fields` (from `fields_of`): `None` for a field missing or not a count."""
    if fields is None:
        return [None] * len(names)
    # `type(...) is int` leaves out bools, which are ints too and never counts.
    return [value if type(value) is int and value >= 0 else None for value in map(fields.get, names)]


def as_int(value: object) -> int | None:
    # A bool is an int too, and never a token count.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def count(value: object) -> int | None:
    """A token or request count: a non-negative int (a negative one is a malformed response, not a count)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def as_float(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def as_str_list(value: object) -> list[str] | None:
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    return None


@dataclass(slots=True)
class RequestFields:
    """What the span reads off a `messages.create` request body. `None` where the request does not set it."""

    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    stream: bool = False


def request_fields(body: object, *, stream: bool = False) -> RequestFields:
    """The fields of a request `body`; values the SDK has not filled in (`NOT_GIVEN`, `omit`) are left out.

    The type checks are written out rather than calls of `as_str` and the like: this runs on every call, and a
    request sets few of these fields, so most checks see `None`."""
    fields = fields_of(body)
    if fields is None:
        return RequestFields(stream=stream)
    get_field = fields.get
    model, max_tokens, temperature, top_p, top_k, stop_sequences = (
        get_field("model"),
        get_field("max_tokens"),
        get_field("temperature"),
        get_field("top_p"),
        get_field("top_k"),
        get_field("stop_sequences"),
    )
    return RequestFields(
        model=model if isinstance(model, str) else None,
        max_tokens=max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else None,
        temperature=None if temperature is None else as_float(temperature),
        top_p=None if top_p is None else as_float(top_p),
        top_k=None if top_k is None else as_int(top_k),
        stop_sequences=None if stop_sequences is None else as_str_list(stop_sequences),
        stream=stream or get_field("stream") is True,
    )


@dataclass(slots=True)
class Usage:
    """Token counts as the API reports them. `input` is the uncached input only, as in the API's `usage`."""

    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    cache_write_5m: int | None = None
    cache_write_1h: int | None = None
    thinking: int | None = None
    """Output tokens spent thinking (`output_tokens_details.thinking_tokens`): already part of `output`."""
    web_search: int | None = None
    """Server-tool uses (`server_tool_use.web_search_requests`), billed per use."""
    web_fetch: int | None = None
    total_input: int | None = field(init=False, default=None)
    """Input, cache reads and cache writes: what `gen_ai.usage.input_tokens` means for Anthropic. Computed once
    (also by `replace`), as half a dozen sinks read it."""

    def __post_init__(self) -> None:
        if self.input is not None:
            self.total_input = self.input + (self.cache_read or 0) + (self.cache_write or 0)


def usage_of(usage: object) -> Usage:
    """A `Usage` from the API's `usage` object (model or dict); missing or mistyped fields stay `None`."""
    return usage_of_fields(fields_of(usage))


def usage_of_fields(fields: Mapping[str, object] | _Attributes | None) -> Usage:
    """`usage_of`, from the fields of the `usage` object (`fields_of`), for a caller that reads them anyway.

    Written out rather than through `counts`: a list comprehension costs as much as the rest of a field's
    reading, and this runs for every response and for two events of every stream."""
    if fields is None:
        return Usage()
    get_field = fields.get
    input_, output, cache_read, cache_write, by_ttl, tools, details = (
        get_field("input_tokens"),
        get_field("output_tokens"),
        get_field("cache_read_input_tokens"),
        get_field("cache_creation_input_tokens"),
        get_field("cache_creation"),
        get_field("server_tool_use"),
        get_field("output_tokens_details"),
    )
    write_5m = write_1h = thinking = web_search = web_fetch = None
    if by_ttl is not None and (ttl := fields_of(by_ttl)) is not None:  # in every usage since 2025
        write_5m, write_1h = ttl.get("ephemeral_5m_input_tokens"), ttl.get("ephemeral_1h_input_tokens")
        write_5m = write_5m if type(write_5m) is int and write_5m >= 0 else None
        write_1h = write_1h if type(write_1h) is int and write_1h >= 0 else None
    if tools is not None:
        web_search, web_fetch = counts(fields_of(tools), "web_search_requests", "web_fetch_requests")
    if details is not None:
        (thinking,) = counts(fields_of(details), "thinking_tokens")
    # `type(...) is int` leaves out bools, which are ints too and never counts.
    return Usage(
        input_ if type(input_) is int and input_ >= 0 else None,
        output if type(output) is int and output >= 0 else None,
        cache_read if type(cache_read) is int and cache_read >= 0 else None,
        cache_write if type(cache_write) is int and cache_write >= 0 else None,
        write_5m,
        write_1h,
        thinking,
        web_search,
        web_fetch,
    )


def merge_usage(earlier: Usage, later: Usage) -> Usage:
    """`later` over `earlier`, field by field: the API's usage counts are cumulative, never increments.
    (Written out: `dataclasses.replace` costs five times as much, and a loop over the names twice, per stream.)"""
    return Usage(
        earlier.input if later.input is None else later.input,
        earlier.output if later.output is None else later.output,
        earlier.cache_read if later.cache_read is None else later.cache_read,
        earlier.cache_write if later.cache_write is None else later.cache_write,
        earlier.cache_write_5m if later.cache_write_5m is None else later.cache_write_5m,
        earlier.cache_write_1h if later.cache_write_1h is None else later.cache_write_1h,
        earlier.thinking if later.thinking is None else later.thinking,
        earlier.web_search if later.web_search is None else later.web_search,
        earlier.web_fetch if later.web_fetch is None else later.web_fetch,
    )


@dataclass(slots=True)
class ResponseFields:
    """What a call's response says about itself."""

    id: str | None = None
    model: str | None = None
    stop_reason: str | None = None
    service_tier: str | None = None
    inference_geo: str | None = None
    speed: str | None = None
    usage: Usage = field(default_factory=Usage)


NO_RESPONSE = ResponseFields()
"""What a call knows of its response before it has one (shared: records are read-only by convention)."""


def message_fields(message: object) -> ResponseFields:
    """The fields of a complete Message, as a model or as decoded JSON."""
    return message_fields_of(fields_of(message))


def message_fields_of(fields: Mapping[str, object] | _Attributes | None) -> ResponseFields:
    """`message_fields`, from the fields of the Message (`fields_of`), for a caller that reads them anyway."""
    if fields is None:
        return ResponseFields()
    get_field = fields.get
    id_, model, stop_reason = get_field("id"), get_field("model"), get_field("stop_reason")
    usage_fields = fields_of(get_field("usage"))
    service_tier = inference_geo = speed = None
    if usage_fields is not None:
        get_usage = usage_fields.get
        service_tier, inference_geo, speed = get_usage("service_tier"), get_usage("inference_geo"), get_usage("speed")
    return ResponseFields(
        id_ if isinstance(id_, str) else None,
        model if isinstance(model, str) else None,
        stop_reason if isinstance(stop_reason, str) else None,
        service_tier if isinstance(service_tier, str) else None,
        inference_geo if isinstance(inference_geo, str) else None,
        speed if isinstance(speed, str) else None,
        usage_of_fields(usage_fields),
    )


def json_message_fields(body: bytes | None) -> ResponseFields | None:
    """The fields of a Message body that the application reads raw (`with_raw_response`); `None` if it is not one."""
    if not body:
        return None
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    return message_fields(decoded) if isinstance(decoded, dict) and decoded.get("type") == "message" else None


@dataclass
class StreamState:
    """Accumulates what the events of a streamed Message say, as they go by.

    `message_start` gives the id, model and input usage; its `output_tokens` is a placeholder, so output is
    known only from `message_delta`, whose counts are cumulative and replace what came before. A stream
    abandoned before `message_delta` therefore records no output count at all.
    """

    fields: ResponseFields = field(default_factory=ResponseFields)
    first_chunk: bool = False
    """Whether a content delta has arrived: its arrival is the time to the first chunk."""
    stopped: bool = False
    """Whether `message_stop` arrived: the Message is complete."""

    def apply(self, event: object, kind: str | None) -> None:
        """Takes in one event of type `kind`."""
        if kind == "message_start":
            started = message_fields(get(event, "message"))
            # Only the input side of message_start's usage is real. (`started` is new: setting its fields is safe.)
            started.stop_reason = None
            started.usage.output = None
            self.fields = started
        elif kind == "content_block_delta":
            self.first_chunk = True
        elif kind == "message_delta":
            delta = get(event, "delta")
            stop_reason = as_str(get(delta, "stop_reason"))
            usage = merge_usage(self.fields.usage, usage_of(get(event, "usage")))
            fields = self.fields
            self.fields = ResponseFields(
                fields.id,
                fields.model,
                stop_reason or fields.stop_reason,
                fields.service_tier,
                fields.inference_geo,
                fields.speed,
                usage,
            )
        elif kind == "message_stop":
            self.stopped = True


def finish_reasons(stop_reason: str | None) -> list[str] | None:
    """`gen_ai.response.finish_reasons`: the API's stop reason, as the list the conventions ask for."""
    return None if stop_reason is None else [stop_reason]


def header(headers: object, name: str) -> str | None:
    """A response header, or `None`. `headers` is an httpx `Headers` (case-insensitive) or `None`."""
    if headers is None:
        return None
    try:
        value = headers.get(name)  # type: ignore[attr-defined]
    except Exception:
        return None
    return value if isinstance(value, str) and value else None


RATE_LIMIT_PREFIX = b"anthropic-ratelimit-"
RATE_LIMIT_SIDES = ("-limit", "-remaining")
PREFIX_LENGTH = len(RATE_LIMIT_PREFIX)


def rate_limits(headers: object) -> dict[str, int]:
    """The rate-limit headroom headers: `{"requests-limit": 4000, "requests-remaining": 3999, ...}`, for every
    kind the API sends (requests, tokens, input-tokens, output-tokens, and any it adds later).

    One pass over the raw headers: a case-insensitive lookup per name scans them all each time, and this runs on
    every call."""
    found: dict[str, int] = {}
    raw = getattr(headers, "raw", None)
    if not isinstance(raw, list):
        return found
    for name, value in raw:
        if name[:PREFIX_LENGTH].lower() == RATE_LIMIT_PREFIX and value.isdigit():
            key = name[PREFIX_LENGTH:].decode("ascii", "replace").lower()
            if key.endswith(RATE_LIMIT_SIDES):
                found[key] = int(value)
    return found
