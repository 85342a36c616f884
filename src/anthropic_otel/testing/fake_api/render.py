"""What the fake sends, as pure functions: messages as JSON, their SSE event sequence, and the headers around them.

Pure so that the same reply always renders the same bytes: tests assert exact values, and the overhead benchmark
serves the very same bodies from an in-process transport.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

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


def _usage(reply: MessageReply, output_tokens: int, service_tier: str) -> dict[str, Any]:
    """The usage object in the shape and order of the real API."""
    five_minutes = reply.cache_creation_input_tokens if reply.cache_creation_5m is None else reply.cache_creation_5m
    return {
        "input_tokens": reply.input_tokens,
        "cache_creation_input_tokens": reply.cache_creation_input_tokens,
        "cache_read_input_tokens": reply.cache_read_input_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": five_minutes,
            "ephemeral_1h_input_tokens": reply.cache_creation_1h or 0,
        },
        "output_tokens": output_tokens,
        "service_tier": service_tier,
    }


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


_STREAMED: Mapping[str, _Streamed] = {
    "text": _Streamed("text", "", "text_delta", "text", _word_chunks),
    "thinking": _Streamed("thinking", "", "thinking_delta", "thinking", _word_chunks),
    "tool_use": _Streamed("input", {}, "input_json_delta", "partial_json", _json_chunks),
}


def _block_events(index: int, block: Mapping[str, Any]) -> list[Event]:
    """``content_block_start``, its deltas and ``content_block_stop`` for one block (unknown types: no deltas)."""
    streamed = _STREAMED.get(str(block.get("type")))
    start = dict(block)
    deltas: list[dict[str, Any]] = []
    if streamed is not None:
        start[streamed.field] = streamed.empty
        deltas = [
            {"type": streamed.delta_type, streamed.delta_field: piece}
            for piece in streamed.pieces(block[streamed.field])
        ]
    if block.get("type") == "thinking":
        start["signature"] = ""
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    return [
        ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}),
        *[("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas],
        ("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]


def sse_events(message: Mapping[str, Any]) -> list[Event]:
    """The event sequence the real API streams for ``message``.

    ``message_start`` carries the input/cache usage with ``output_tokens: 1``; ``message_delta`` carries the final,
    cumulative counts (and, as newer API versions do, the input/cache counts again).
    """
    usage = message.get("usage")
    started: dict[str, Any] = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    if usage is not None:
        started["usage"] = {**usage, "output_tokens": 1}
    delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
    }
    if usage is not None:
        kept = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
        delta["usage"] = {key: usage[key] for key in kept}
    blocks = [event for index, block in enumerate(message["content"]) for event in _block_events(index, block)]
    return [
        ("message_start", {"type": "message_start", "message": started}),
        ("ping", {"type": "ping"}),
        *blocks,
        ("message_delta", delta),
        ("message_stop", {"type": "message_stop"}),
    ]


def encode_event(event: Event) -> bytes:
    name, data = event
    return f"event: {name}\ndata: {dumps(data)}\n\n".encode()


def dumps(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"))


def count_input_tokens(body: object) -> int:
    """Deterministic stand-in for ``count_tokens``: characters of all text in system + messages, // 4, at least 1."""
    if not isinstance(body, dict):
        return 1
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    contents = [body.get("system"), *(m.get("content") for m in messages if isinstance(m, dict))]
    return max(1, sum(map(_text_length, contents)) // 4)


def _text_length(content: object) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(b["text"]) for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return 0


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
