"""Token counts derived from a request, and prompt caching simulated from its ``cache_control`` breakpoints.

The approximation is the rule of thumb of about 4 characters per token: floor(characters / 4), at least 1 for a
whole request. It is not the real tokenizer (nothing offline is), but it is deterministic and easy to work out by
hand, so tests can assert exact counts. What is counted, in the order the API reads (and caches) a prompt:

- each tool definition: the characters of its JSON (``cache_control`` left out);
- the system prompt: its text, or the text of each of its blocks;
- each message's content: its text, or per block: ``text``/``thinking`` text, a ``tool_use`` block's name and
  JSON input, a ``tool_result``'s content (text or blocks, counted the same way); other blocks (images,
  documents) count 0.

Caching follows the API's rules, simplified to what usage shows: a block with ``cache_control`` is a breakpoint;
the prefix up to and including it is written to the cache on first use (``ttl`` ``"5m"`` by default, or
``"1h"``) when it is at least the model's minimum cacheable length, read by later requests with the same prefix
while it lives, and each read renews its lifetime. Only breakpoint positions are looked up (the API also looks a
few blocks back), and the cache is keyed by model and the exact prefix content.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4

MIN_CACHEABLE_TOKENS: tuple[tuple[str, int], ...] = (
    # (a part of the model id, the shortest prefix in tokens that is cached); the first match wins.
    ("opus-4-6", 4096),
    ("opus-4-5", 4096),
    ("haiku-4-5", 4096),
    ("3-5-haiku", 2048),
    ("3-haiku", 2048),
    ("", 1024),  # Sonnet 4.6/4.5/4/3.7, Opus 4.1/4/3, and any model id this table does not know
)
"""The documented minimum cacheable prompt length per model; a shorter prefix is processed but not cached."""

TTL_SECONDS: Mapping[str, float] = {"5m": 300.0, "1h": 3600.0}


def min_cacheable_tokens(model: str) -> int:
    return next(minimum for part, minimum in MIN_CACHEABLE_TOKENS if part in model)


def tokens_of(chars: int) -> int:
    return chars // CHARS_PER_TOKEN


@dataclass(frozen=True)
class Segment:
    """One unit of the prompt, in reading order: its size, its identity for the cache, and its breakpoint TTL."""

    chars: int
    identity: str
    ttl: str | None
    """``"5m"`` or ``"1h"`` when the block carries ``cache_control``, else None."""


def _text_chars(block: Mapping[str, Any]) -> int:
    return len(str(block.get("text", "")))


_BLOCK_CHARS: Mapping[str, Callable[[Mapping[str, Any]], int]] = {
    "text": _text_chars,
    "thinking": lambda block: len(str(block.get("thinking", ""))),
    "tool_use": lambda block: len(str(block.get("name", ""))) + len(_dumps(block.get("input", {}))),
    "tool_result": lambda block: _content_chars(block.get("content")),
}


def block_chars(block: object) -> int:
    """The characters of one content block that count as tokens (0 for blocks without text)."""
    if not isinstance(block, dict):
        return 0
    return _BLOCK_CHARS.get(str(block.get("type")), lambda _: 0)(block)


def _content_chars(content: object) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(map(block_chars, content))
    return 0


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _segment(where: str, block: object, chars: int) -> Segment:
    control = block.get("cache_control") if isinstance(block, dict) else None
    ttl = str(control.get("ttl", "5m")) if isinstance(control, dict) else None
    kept = {k: v for k, v in block.items() if k != "cache_control"} if isinstance(block, dict) else block
    return Segment(chars, f"{where}:{_dumps(kept)}", ttl)


def segments(body: Mapping[str, Any]) -> Iterator[Segment]:
    """The prompt of a request body as segments: tools, then system, then messages (the API's cache order)."""
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        kept = {k: v for k, v in tool.items() if k != "cache_control"} if isinstance(tool, dict) else tool
        yield _segment("tool", tool, len(_dumps(kept)))
    system = body.get("system")
    for block in [system] if isinstance(system, str) else system if isinstance(system, list) else []:
        yield _segment("system", block, _content_chars(block) if isinstance(block, str) else block_chars(block))
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        content, role = message.get("content"), str(message.get("role"))
        for block in [content] if isinstance(content, str) else content if isinstance(content, list) else []:
            chars = _content_chars(block) if isinstance(block, str) else block_chars(block)
            yield _segment(role, block, chars)


def count_input_tokens(body: object) -> int:
    """The input tokens of a request body (what ``count_tokens`` answers): its characters // 4, at least 1."""
    if not isinstance(body, dict):
        return 1
    return max(1, tokens_of(sum(segment.chars for segment in segments(body))))


@dataclass(frozen=True)
class CacheUsage:
    """What one request did with the cache, in tokens."""

    read: int = 0
    written_5m: int = 0
    written_1h: int = 0

    @property
    def written(self) -> int:
        return self.written_5m + self.written_1h


class PromptCache:
    """Cached prefixes and when they expire, on the fake's clock. Not thread-safe: the server calls it locked."""

    def __init__(self) -> None:
        self._expires: dict[str, float] = {}

    def clear(self) -> None:
        self._expires.clear()

    def use(self, model: str, body: Mapping[str, Any], now: float) -> CacheUsage:
        """Look the request's breakpoints up, renew what is read, write what is new and long enough."""
        breakpoints: list[tuple[int, str, str]] = []  # (prefix tokens, ttl, key)
        chars, digest = 0, hashlib.sha256(model.encode())
        for segment in segments(body):
            chars += segment.chars
            digest.update(segment.identity.encode() + b"\0")
            if segment.ttl is not None:
                breakpoints.append((tokens_of(chars), segment.ttl, digest.hexdigest()))
        alive = {key for _, _, key in breakpoints if self._expires.get(key, float("-inf")) > now}
        read = max((tokens for tokens, _, key in breakpoints if key in alive), default=0)
        written = {"5m": 0, "1h": 0}
        boundary, minimum = read, min_cacheable_tokens(model)
        for tokens, ttl, key in breakpoints:
            lifetime = TTL_SECONDS.get(ttl, TTL_SECONDS["5m"])
            if key in alive or tokens <= boundary:
                self._expires[key] = now + lifetime  # a read renews the entry
            elif tokens >= minimum:
                written["1h" if ttl == "1h" else "5m"] += tokens - boundary
                boundary = tokens
                self._expires[key] = now + lifetime
        return CacheUsage(read=read, written_5m=written["5m"], written_1h=written["1h"])
