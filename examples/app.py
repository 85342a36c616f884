"""A small application that asks Claude one question. It has no telemetry code at all: run it as it is under
`opentelemetry-instrument` (no code change), or see `instrument_at_startup.py` for the same app with the
OpenTelemetry SDK configured in code.

The client reads ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL from the environment, as the SDK always does, so the
same file runs against the real API and against the bundled fake one.
"""

from __future__ import annotations

import sys

import anthropic

MODEL = "claude-sonnet-4-6"


def main(question: str = "In one sentence: why trace calls to an LLM?") -> str:
    client = anthropic.Anthropic()
    message = client.messages.create(
        model=MODEL,
        max_tokens=200,
        messages=[{"role": "user", "content": question}],
    )
    answer = "".join(block.text for block in message.content if block.type == "text")
    print(answer)
    return answer


if __name__ == "__main__":
    main(*sys.argv[1:2])
