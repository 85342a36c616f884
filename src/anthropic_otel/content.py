"""Prompts and completions as the GenAI conventions record them, for users who opt in.

Off by default: content is the application's data. When on, the request's messages and system prompt and the
response's content become `gen_ai.input.messages`, `gen_ai.system_instructions` and `gen_ai.output.messages`
(JSON strings). Images and documents are recorded by their type only, never their bytes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import names as n
from .extract import as_str, get

log = logging.getLogger(__name__)

MAX_CHARS = 100_000
"""The default cut: one huge prompt must not make a span that the exporter refuses."""


@dataclass(frozen=True, slots=True)
class Policy:
    """Whether and where content is recorded, how long it may be, and the user's redaction hook."""

    mode: str = "none"
    """`none`, `span`, `event` (the log record) or `span_and_event`."""
    max_chars: int = MAX_CHARS
    """Longer content is cut here."""
    hook: Callable[[dict[str, str]], dict[str, str] | None] | None = None

    @property
    def on_span(self) -> bool:
        return self.mode != "event"  # also for a client in the SDK's own content mode, with the plugin's off

    @property
    def on_log(self) -> bool:
        return self.mode in ("event", "span_and_event")

    def redact(self, attributes: dict[str, str]) -> dict[str, str]:
        """The attributes as the user's hook leaves them. A hook that fails records no content at all: content
        it was meant to redact must not leave unredacted."""
        if self.hook is None or not attributes:
            return attributes
        try:
            redacted = self.hook(dict(attributes))
        except Exception:
            log.warning("anthropic_otel: the content hook raised; this call records no content", exc_info=True)
            return {}
        if redacted is None:
            return {}
        return {str(key): str(value)[: self.max_chars] for key, value in redacted.items()}


def part(block: object) -> dict[str, Any]:
    """One content block of the API as a GenAI message part."""
    if isinstance(block, str):
        return {"type": "text", "content": block}
    kind = as_str(get(block, "type")) or "unknown"
    if kind == "text":
        return {"type": "text", "content": get(block, "text")}
    if kind in ("thinking", "redacted_thinking"):
        return {"type": "reasoning", "content": get(block, "thinking") or ""}
    if kind in ("tool_use", "server_tool_use"):
        return {
            "type": "tool_call",
            "id": get(block, "id"),
            "name": get(block, "name"),
            "arguments": get(block, "input"),
        }
    if kind == "tool_result":
        content = get(block, "content")
        response = [part(item) for item in content] if isinstance(content, list) else content
        return {"type": "tool_call_response", "id": get(block, "tool_use_id"), "response": response}
    return {"type": kind}


def parts(content: object) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [part(content)]
    if isinstance(content, (list, tuple)):
        return [part(block) for block in content]
    return []


def to_json(value: object, max_chars: int = MAX_CHARS) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= max_chars else text[:max_chars]


def input_attributes(body: object, max_chars: int = MAX_CHARS) -> dict[str, str]:
    """`gen_ai.input.messages` and `gen_ai.system_instructions` from a request body."""
    attributes: dict[str, str] = {}
    messages = get(body, "messages")
    if isinstance(messages, (list, tuple)):
        attributes[n.INPUT_MESSAGES] = to_json(
            [{"role": get(message, "role"), "parts": parts(get(message, "content"))} for message in messages],
            max_chars,
        )
    system = get(body, "system")
    if system is not None and (isinstance(system, (str, list, tuple))):
        attributes[n.SYSTEM_INSTRUCTIONS] = to_json(parts(system), max_chars)
    return attributes


def output_attributes(content: object, stop_reason: str | None, max_chars: int = MAX_CHARS) -> dict[str, str]:
    """`gen_ai.output.messages` from a response's content blocks."""
    if not isinstance(content, (list, tuple)):
        return {}
    message = {"role": "assistant", "parts": parts(content), "finish_reason": stop_reason}
    return {n.OUTPUT_MESSAGES: to_json([message], max_chars)}


class StreamedContent:
    """Rebuilds the content blocks of a streamed Message from its deltas, only when content is recorded."""

    def __init__(self) -> None:
        self.blocks: list[dict[str, Any]] = []
        self._json: dict[int, str] = {}

    def apply(self, event: object, kind: str | None) -> None:
        if kind == "content_block_start":
            block = get(event, "content_block")
            self.blocks.append(
                {
                    "type": get(block, "type"),
                    "text": "",
                    "thinking": "",
                    "id": get(block, "id"),
                    "name": get(block, "name"),
                    "input": get(block, "input"),
                }
            )
        elif kind == "content_block_delta" and self.blocks:
            delta = get(event, "delta")
            block = self.blocks[-1]
            delta_kind = get(delta, "type")
            if delta_kind == "text_delta":
                block["text"] += as_str(get(delta, "text")) or ""
            elif delta_kind == "thinking_delta":
                block["thinking"] += as_str(get(delta, "thinking")) or ""
            elif delta_kind == "input_json_delta":
                index = len(self.blocks) - 1
                self._json[index] = self._json.get(index, "") + (as_str(get(delta, "partial_json")) or "")
        elif kind == "content_block_stop" and self.blocks:
            index = len(self.blocks) - 1
            if index in self._json:
                try:
                    self.blocks[index]["input"] = json.loads(self._json[index] or "{}")
                except ValueError:
                    self.blocks[index]["input"] = self._json[index]
