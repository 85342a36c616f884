"""Calls in parallel threads and asyncio tasks keep their own records: nothing leaks from one span to another."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import anthropic

from anthropic_otel.testing import FakeAnthropic
from conftest import USER, Spans


def by_model(spans: Spans) -> dict[str, int]:
    counts: dict[str, int] = {}
    for span in spans.calls():
        attributes = span.attributes or {}
        # The fake answers with the request's model: a record mixed up between calls would show here.
        assert attributes["gen_ai.response.model"] == attributes["gen_ai.request.model"]
        assert "http.request.resend_count" not in attributes
        counts[str(attributes["gen_ai.request.model"])] = counts.get(str(attributes["gen_ai.request.model"]), 0) + 1
    return counts


def test_threads(fake: FakeAnthropic, spans: Spans) -> None:
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0)

    def work(worker: int) -> None:
        for index in range(5):
            model = f"claude-thread-{worker}"
            if index % 2:
                for _ in client.messages.create(model=model, max_tokens=5, messages=USER, stream=True):
                    pass
            else:
                client.messages.create(model=model, max_tokens=5, messages=USER)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(8)))
    assert by_model(spans) == {f"claude-thread-{worker}": 5 for worker in range(8)}


def test_tasks(fake: FakeAnthropic, spans: Spans) -> None:
    async def main() -> None:
        client = anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="k", max_retries=0)

        async def work(worker: int) -> None:
            for _ in range(3):
                await client.messages.create(model=f"claude-task-{worker}", max_tokens=5, messages=USER)

        await asyncio.gather(*(work(worker) for worker in range(10)))

    asyncio.run(main())
    assert by_model(spans) == {f"claude-task-{worker}": 3 for worker in range(10)}
