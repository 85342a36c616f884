"""Content capture, over hand-built request bodies, content blocks and stream events: the exact JSON recorded."""

from __future__ import annotations

import json
from typing import Any

from anthropic_otel import content


def test_input_attributes_of_a_plain_prompt_exactly() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "system": "Be brief."}
    assert content.input_attributes(body) == {
        "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
        "gen_ai.system_instructions": '[{"type": "text", "content": "Be brief."}]',
    }


def test_input_attributes_of_every_kind_of_block() -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}},
                    {"type": "document", "source": {"type": "base64", "data": "JVBERi0x"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "A cat, probably.", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "opaque"},
                    {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "cat"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a cat"}]},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "plain"},
                    {"no": "type"},
                ],
            },
        ],
        "system": [{"type": "text", "text": "You see images.", "cache_control": {"type": "ephemeral"}}],
    }
    attributes = content.input_attributes(body)
    assert set(attributes) == {"gen_ai.input.messages", "gen_ai.system_instructions"}
    assert json.loads(attributes["gen_ai.input.messages"]) == [
        {
            "role": "user",
            "parts": [{"type": "text", "content": "What is in this picture?"}, {"type": "image"}, {"type": "document"}],
        },
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "A cat, probably."},
                {"type": "reasoning", "content": ""},
                {"type": "tool_call", "id": "toolu_1", "name": "lookup", "arguments": {"q": "cat"}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"type": "tool_call_response", "id": "toolu_1", "response": [{"type": "text", "content": "a cat"}]},
                {"type": "tool_call_response", "id": "toolu_2", "response": "plain"},
                {"type": "unknown"},
            ],
        },
    ]
    assert json.loads(attributes["gen_ai.system_instructions"]) == [{"type": "text", "content": "You see images."}]
    assert "iVBORw0K" not in attributes["gen_ai.input.messages"]  # images and documents by their type only
    assert "JVBERi0x" not in attributes["gen_ai.input.messages"]


def test_input_attributes_without_messages_or_with_an_odd_system() -> None:
    assert content.input_attributes({"model": "m"}) == {}
    assert content.input_attributes(None) == {}
    assert content.input_attributes({"messages": [], "system": {"text": "odd"}}) == {"gen_ai.input.messages": "[]"}
    assert content.input_attributes({"messages": [{"role": "user", "content": 5}]}) == {
        "gen_ai.input.messages": '[{"role": "user", "parts": []}]'
    }


def test_non_ascii_is_kept_and_long_content_is_cut() -> None:
    assert content.to_json(["café"]) == '["café"]'
    long = content.input_attributes({"messages": [{"role": "user", "content": "x" * 200_000}]})
    assert len(long["gen_ai.input.messages"]) == content.MAX_CHARS
    assert long["gen_ai.input.messages"].startswith('[{"role": "user", "parts": [{"type": "text", "content": "xxx')


def test_output_attributes_exactly() -> None:
    blocks = [{"type": "text", "text": "Hello"}]
    assert content.output_attributes(blocks, "end_turn") == {
        "gen_ai.output.messages": (
            '[{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "end_turn"}]'
        )
    }
    assert content.output_attributes([], None) == {
        "gen_ai.output.messages": '[{"role": "assistant", "parts": [], "finish_reason": null}]'
    }
    assert content.output_attributes(None, "end_turn") == {}
    assert content.output_attributes("Hello", "end_turn") == {}


def start(index: int, **block: Any) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, **body: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": body}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def rebuilt(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    streamed = content.StreamedContent()
    for event in events:
        streamed.apply(event, event["type"])
    return streamed.blocks


def block(kind: str, **values: Any) -> dict[str, Any]:
    return {"type": kind, "text": "", "thinking": "", "id": None, "name": None, "input": None, **values}


def test_streamed_content_rebuilds_thinking_text_and_tool_use() -> None:
    blocks = rebuilt(
        [
            {"type": "message_start", "message": {"id": "msg_1"}},
            start(0, type="thinking", thinking="", signature=""),
            delta(0, type="thinking_delta", thinking="Paris is "),
            delta(0, type="thinking_delta", thinking="in France."),
            delta(0, type="signature_delta", signature="sig"),
            stop(0),
            start(1, type="text", text=""),
            delta(1, type="text_delta", text="Let me "),
            delta(1, type="text_delta", text="check."),
            stop(1),
            start(2, type="tool_use", id="toolu_1", name="weather", input={}),
            delta(2, type="input_json_delta", partial_json=""),
            delta(2, type="input_json_delta", partial_json='{"city": '),
            delta(2, type="input_json_delta", partial_json='"Paris"}'),
            stop(2),
            {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 30}},
            {"type": "message_stop"},
        ]
    )
    assert blocks == [
        block("thinking", thinking="Paris is in France."),
        block("text", text="Let me check."),
        block("tool_use", id="toolu_1", name="weather", input={"city": "Paris"}),
    ]
    assert json.loads(content.output_attributes(blocks, "tool_use")["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Paris is in France."},
                {"type": "text", "content": "Let me check."},
                {"type": "tool_call", "id": "toolu_1", "name": "weather", "arguments": {"city": "Paris"}},
            ],
            "finish_reason": "tool_use",
        }
    ]


def test_streamed_tool_input_that_is_not_json_is_kept_as_the_string() -> None:
    blocks = rebuilt(
        [
            start(0, type="tool_use", id="toolu_1", name="weather", input={}),
            delta(0, type="input_json_delta", partial_json='{"city": '),
            stop(0),
        ]
    )
    assert blocks == [block("tool_use", id="toolu_1", name="weather", input='{"city": ')]


def test_streamed_tool_input_without_deltas_keeps_the_start_blocks_and_empty_json_is_an_empty_object() -> None:
    blocks = rebuilt(
        [
            start(0, type="server_tool_use", id="srvtoolu_1", name="web_search", input={"query": "otel"}),
            stop(0),
            start(1, type="tool_use", id="toolu_2", name="now", input={}),
            delta(1, type="input_json_delta", partial_json=""),
            stop(1),
        ]
    )
    assert blocks == [
        block("server_tool_use", id="srvtoolu_1", name="web_search", input={"query": "otel"}),
        block("tool_use", id="toolu_2", name="now", input={}),
    ]


def test_streamed_content_ignores_deltas_before_any_block_and_mistyped_text() -> None:
    blocks = rebuilt(
        [
            delta(0, type="text_delta", text="orphan"),
            stop(0),
            start(0, type="text", text=""),
            delta(0, type="text_delta", text=5),
            delta(0, type="text_delta", text="kept"),
            delta(0, type="unknown_delta", text="ignored"),
            stop(0),
        ]
    )
    assert blocks == [block("text", text="kept")]
