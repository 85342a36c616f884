"""A first look, no API key and no Docker: a small workload against the bundled fake Messages API, with the
console exporter printing each call's span. (The full demo has its own issue; this is its seed.)"""

from __future__ import annotations

import anthropic
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import anthropic_otel
from anthropic_otel.testing import FakeAnthropic, Reply

MODEL = "claude-sonnet-4-6"
PROMPT = [{"role": "user", "content": "Summarise our on-call runbook."}]


def main() -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "anthropic-otel-demo"}))
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    anthropic_otel.instrument()

    with FakeAnthropic() as api:
        client = anthropic.Anthropic(base_url=api.base_url, api_key="demo-key", max_retries=2)
        print("# 1. a plain call that hits the max_tokens ceiling")
        api.enqueue(Reply.message("The runbook says page the owner.", stop_reason="max_tokens", input_tokens=40))
        client.messages.create(model=MODEL, max_tokens=8, messages=PROMPT)

        print("# 2. a call that succeeds on its third attempt: two retry events on one span")
        api.enqueue(Reply.rate_limited(retry_after=0.05), Reply.overloaded(retry_after=0.05), Reply.message())
        client.messages.create(model=MODEL, max_tokens=64, messages=PROMPT)

        print("# 3. a streamed call reading from the prompt cache")
        api.enqueue(Reply.message("Cached context makes this cheap.", input_tokens=12, cache_read_input_tokens=4096))
        for _ in client.messages.create(model=MODEL, max_tokens=64, messages=PROMPT, stream=True):
            pass
    provider.shutdown()


if __name__ == "__main__":
    main()
