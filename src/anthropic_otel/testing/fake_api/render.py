"""What the fake sends, as pure functions: messages as JSON, their SSE event sequence, and the headers around them.

Pure so that the same reply always renders the same bytes: tests assert exact values, and the overhead benchmark
serves the very same bodies from an in-process transport.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from .replies import MessageReply

DEFAULT_MODEL = "claude-fake-1"
"""Model reported when neither the reply, the URL nor the request body names one."""

DEFAULT_TEXT = "Hello! How can I help?"

HeaderItems = tuple[tuple[str, str], ...]
HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]] | None
Event = tuple[str, dict[str, Any]]

# Like the real API's, so code reading rate-limit headers has something realistic to read.
_RATE_LIMITS: tuple[tuple[str, int, int], ...] = (
    ("requests", 4000, 3999),
    ("tokens", 400000, 399000),
    ("input-tokens", 320000, 319000),
    ("output-tokens", 80000, 79000),
)

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
JSON_CONTENT_TYPE = "application/json"
JSONL_CONTENT_TYPE = "application/binary"  # what the real results endpoint sends; the SDK decodes any type


def _word_chunks(text: str, words_per_chunk: int = 3) -> list[str]:
    """Split text into pieces of a few words that concatenate back to exactly ``text``.

    Several deltas per block are what makes a stream a stream: accumulation bugs only show with more than one.
    """
    words = re.findall(r"\S+\s*", text)
    if not words:
        return [text]
    leading = text[: len(text) - len(text.lstrip())]
    chunks = ["".join(words[i : i + words_per_chunk]) for i in range(0, len(words), words_per_chunk)]
    chunks[0] = leading + chunks[0]
    return chunks


def _word_parts(text: str, parts: int) -> list[str]:
    """Split text into exactly ``parts`` runs of words (fewer when it has fewer words), concatenating back to it."""
    words = re.findall(r"\S+\s*", text)
    if len(words) <= 1 or parts <= 1:
        return [text]
    leading = text[: len(text) - len(text.lstrip())]
    count = min(parts, len(words))
    size, extra = divmod(len(words), count)
    chunks, start = [], 0
    for part in range(count):
        end = start + size + (part < extra)
        chunks.append("".join(words[start:end]))
        start = end
    chunks[0] = leading + chunks[0]
    return chunks


def _json_chunks(value: object, parts: int = 3) -> list[str]:
    """Split the JSON text of a tool input into a few ``partial_json`` pieces, like the real API streams it."""
    text = json.dumps(value, separators=(",", ":"))
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)] or [text]


def _word_count(blocks: Sequence[Mapping[str, Any]]) -> int:
    """Default output token count: whitespace-separated words of everything the model "wrote"."""
    texts = [str(block.get("text") or block.get("thinking") or "") for block in blocks]
    texts += [json.dumps(block["input"]) for block in blocks if block.get("type") == "tool_use"]
    return max(1, sum(len(text.split()) for text in texts))


def _content_blocks(reply: MessageReply, new_id: Callable[[str], str]) -> list[dict[str, Any]]:
    """The message content: one text block, or copies of ``reply.content`` with the fields the API always sends."""
    if reply.content is None:
        return [{"type": "text", "text": reply.text}]
    blocks: list[dict[str, Any]] = json.loads(json.dumps(list(reply.content)))  # deep copy; also proves JSON-able
    for block in blocks:
        if block.get("type") == "tool_use":
            block.setdefault("id", new_id("toolu_fake"))
            block.setdefault("input", {})
        elif block.get("type") == "thinking":
            block.setdefault("signature", "fake-signature")
    return blocks


class _Omit:
    """The value that removes a usage field in ``Reply.message(usage_patch=...)``."""

    def __repr__(self) -> str:
        return "OMIT"


OMIT: Any = _Omit()

_DELTA_USAGE = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
_DELTA_USAGE_WHEN_SET = ("server_tool_use", "output_tokens_details")
"""What ``message_delta`` repeats of the usage: the counts, and the newer final-count objects when present."""


def _usage(reply: MessageReply, output_tokens: int, service_tier: str) -> dict[str, Any]:
    """The usage object in the shape and order of the real API; newer fields only when the reply sets them."""
    created = reply.cache_creation_input_tokens or 0
    usage: dict[str, Any] = {
        "input_tokens": 10 if reply.input_tokens is None else reply.input_tokens,
        "cache_creation_input_tokens": created,
        "cache_read_input_tokens": reply.cache_read_input_tokens or 0,
        "cache_creation": {
            "ephemeral_5m_input_tokens": created if reply.cache_creation_5m is None else reply.cache_creation_5m,
            "ephemeral_1h_input_tokens": reply.cache_creation_1h or 0,
        },
        "output_tokens": output_tokens,
    }
    if reply.web_search_requests is not None or reply.web_fetch_requests is not None:
        usage["server_tool_use"] = {
            "web_search_requests": reply.web_search_requests or 0,
            "web_fetch_requests": reply.web_fetch_requests or 0,
        }
    if reply.thinking_tokens is not None:
        usage["output_tokens_details"] = {"thinking_tokens": reply.thinking_tokens}
    usage["service_tier"] = service_tier
    optional = {"inference_geo": reply.inference_geo, "speed": reply.speed}
    usage |= {name: value for name, value in optional.items() if value is not None}
    for name, value in reply.usage_patch:
        if value is OMIT:
            usage.pop(name, None)
        else:
            usage[name] = value
    return usage


def render_message(
    reply: MessageReply, *, msg_id: str, model: str, new_id: Callable[[str], str], service_tier: str | None = None
) -> dict[str, Any]:
    """The complete message a non-streaming request would get; streams are derived from it by :func:`sse_events`."""
    content = _content_blocks(reply, new_id)
    message: dict[str, Any] = {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
    }
    if not reply.omit_usage:
        output_tokens = _word_count(content) if reply.output_tokens is None else reply.output_tokens
        message["usage"] = _usage(reply, output_tokens, service_tier or reply.service_tier)
    return message


@dataclass(frozen=True)
class _Streamed:
    """How one content block type is streamed: which field is emptied in ``content_block_start`` and sent as deltas."""

    field: str
    empty: object
    delta_type: str
    delta_field: str
    pieces: Callable[[Any], list[str]]
    parts: Callable[[Any, int], list[str]]
    """Split into a given number of deltas (what the benchmark asks for, to stream an exact number of events)."""


_STREAMED: Mapping[str, _Streamed] = {
    "text": _Streamed("text", "", "text_delta", "text", _word_chunks, _word_parts),
    "thinking": _Streamed("thinking", "", "thinking_delta", "thinking", _word_chunks, _word_parts),
    "tool_use": _Streamed("input", {}, "input_json_delta", "partial_json", _json_chunks, _json_chunks),
}


def _block_events(index: int, block: Mapping[str, Any], parts: int | None = None) -> list[Event]:
    """``content_block_start``, its deltas and ``content_block_stop`` for one block (unknown types: no deltas)."""
    streamed = _STREAMED.get(str(block.get("type")))
    start = dict(block)
    deltas: list[dict[str, Any]] = []
    if streamed is not None:
        start[streamed.field] = streamed.empty
        value = block[streamed.field]
        pieces = streamed.pieces(value) if parts is None else streamed.parts(value, parts)
        deltas = [{"type": streamed.delta_type, streamed.delta_field: piece} for piece in pieces]
    if block.get("type") == "thinking":
        start["signature"] = ""
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    return [
        ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}),
        *[("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas],
        ("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]


def sse_events(message: Mapping[str, Any], *, deltas: int | None = None, ping: bool = True) -> list[Event]:
    """The event sequence the real API streams for ``message``.

    ``message_start`` carries the input/cache usage with ``output_tokens: 1``; ``message_delta`` carries the final,
    cumulative counts (and, as newer API versions do, the input/cache counts again). Each block streams as deltas
    of a few words, or in exactly ``deltas`` pieces when given; ``ping=False`` leaves out the ``ping`` event.
    """
    usage = message.get("usage")
    started: dict[str, Any] = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    if usage is not None:
        started["usage"] = {**usage, **({"output_tokens": 1} if "output_tokens" in usage else {})}
        started["usage"].pop("output_tokens_details", None)  # a final count: only message_delta knows it
    delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
    }
    if usage is not None:
        kept = [*_DELTA_USAGE, *(key for key in _DELTA_USAGE_WHEN_SET if key in usage)]
        delta["usage"] = {key: usage[key] for key in kept if key in usage}
    content = enumerate(message["content"])
    blocks = [event for index, block in content for event in _block_events(index, block, deltas)]
    return [
        ("message_start", {"type": "message_start", "message": started}),
        *([("ping", {"type": "ping"})] if ping else []),
        *blocks,
        ("message_delta", delta),
        ("message_stop", {"type": "message_stop"}),
    ]


def encode_event(event: Event) -> bytes:
    name, data = event
    return f"event: {name}\ndata: {dumps(data)}\n\n".encode()


def encode_sse(events: Iterable[Event]) -> bytes:
    """A whole SSE body, for in-process transports that answer with one buffer."""
    return b"".join(map(encode_event, events))


EVENT_STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"

_EVENT_STREAM_STRING = 7  # the header value type of a UTF-8 string


def event_stream_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message: prelude (total and headers length, CRC32), headers, payload, CRC32."""
    encoded = b"".join(
        bytes([len(name)]) + name.encode() + bytes([_EVENT_STREAM_STRING]) + struct.pack(">H", len(value)) + value
        for name, value in ((name, value.encode()) for name, value in headers.items())
    )
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", zlib.crc32(message))


def bedrock_chunk(event: Event) -> bytes:
    """A streamed event as Bedrock's ``invoke-with-response-stream`` sends it: a ``chunk`` event whose payload is
    ``{"bytes": base64(event JSON)}``."""
    payload = dumps({"bytes": base64.b64encode(dumps(event[1]).encode()).decode()}).encode()
    headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    return event_stream_message(headers, payload)


_BEDROCK_EXCEPTIONS: Mapping[str, str] = {
    "overloaded_error": "serviceUnavailableException",
    "rate_limit_error": "throttlingException",
    "invalid_request_error": "validationException",
    "api_error": "internalServerException",
}
"""The Bedrock stream exception standing for an API error type; any other is a ``modelStreamErrorException``."""


def bedrock_exception(error_type: str, message: str) -> bytes:
    """An exception message, what Bedrock sends instead of SSE's ``error`` event when a stream fails."""
    exception = _BEDROCK_EXCEPTIONS.get(error_type, "modelStreamErrorException")
    headers = {":exception-type": exception, ":content-type": "application/json", ":message-type": "exception"}
    return event_stream_message(headers, dumps({"message": message}).encode())


def dumps(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"))


def page(items: Sequence[Mapping[str, Any]], target: str) -> dict[str, Any]:
    """One page of a list endpoint, as the request target's query asks: ``limit`` (default 20) items after
    ``after_id`` or before ``before_id``; ``has_more`` tells the SDK's auto-pagination whether to go on."""
    query = parse_qs(urlsplit(target).query)
    ids = [item["id"] for item in items]
    after, before = query.get("after_id", [None])[0], query.get("before_id", [None])[0]
    start = ids.index(after) + 1 if after in ids else 0
    end = ids.index(before) if before in ids else len(items)
    limit = int(query.get("limit", ["20"])[0])
    data = list(items[start:end][-limit:] if before else items[start:end][:limit])
    more = (start > 0 and data[0]["id"] != ids[start]) if before and data else start + len(data) < end
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    return {"data": data, "has_more": more, "first_id": first, "last_id": last}


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as the API writes timestamps."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rate_limit_headers() -> list[tuple[str, str]]:
    reset = timestamp(datetime.now(timezone.utc) + timedelta(minutes=1))
    headers: list[tuple[str, str]] = []
    for name, limit, remaining in _RATE_LIMITS:
        prefix = f"anthropic-ratelimit-{name}"
        headers += [
            (f"{prefix}-limit", str(limit)),
            (f"{prefix}-remaining", str(remaining)),
            (f"{prefix}-reset", reset),
        ]
    return headers


def header_items(headers: HeadersLike) -> HeaderItems:
    if headers is None:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), str(value)) for name, value in items)


def merge_headers(base: Iterable[tuple[str, str]], extra: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``base`` with every header named in ``extra`` replaced by extra's values (names compared case-insensitively)."""
    extra = list(extra)
    replaced = {name.lower() for name, _ in extra}
    return [(name, value) for name, value in base if name.lower() not in replaced] + extra
