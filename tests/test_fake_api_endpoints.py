"""The fake's request validation, models listing and Message Batches lifecycle, through the real SDK."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from anthropic_otel.testing.fake_api import FakeAnthropic, FakeClock, Reply, Simulation
from conftest import MODEL, USER, Driver


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_767_225_600.0)  # 2026-01-01T00:00:00Z


@pytest.fixture
def api(clock: FakeClock) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(simulation=Simulation.realistic(batch_seconds=60), clock=clock) as server:
        yield server
        assert not server.errors, server.format_errors()


@pytest.fixture
def client(api: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=api.base_url, api_key="k", max_retries=0) as sdk_client:
        yield sdk_client


def raw_post(api: FakeAnthropic, body: bytes) -> tuple[int, str | None, Any]:
    connection = http.client.HTTPConnection(api.host, api.port, timeout=5)
    try:
        connection.request("POST", "/v1/messages", body, {"content-type": "application/json"})
        response = connection.getresponse()
        return response.status, response.getheader("request-id"), json.loads(response.read())
    finally:
        connection.close()


def invalid(message: str, request_id: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}, "request_id": request_id}


# ------------------------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"max_tokens": 10, "messages": USER}, "model: Field required"),
        ({"model": MODEL, "messages": USER}, "max_tokens: Field required"),
        ({"messages": USER}, "model: Field required"),
    ],
)
def test_missing_fields_are_a_400(driver: Driver, fake: FakeAnthropic, body: dict[str, Any], message: str) -> None:
    fake.simulation = Simulation(validate=True)
    with pytest.raises(anthropic.BadRequestError) as caught:
        driver.run(lambda client: client.post("/v1/messages", body=body, cast_to=object))
    assert caught.value.status_code == 400
    assert caught.value.body == invalid(message, "req_fake_000001")
    assert caught.value.response.headers["request-id"] == "req_fake_000001"
    assert driver.create().usage.input_tokens == 10  # a valid request still gets its reply


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "request body is empty"),
        (b"{not json", "request body is not valid JSON"),
        (b"[1, 2]", "request body must be a JSON object"),
    ],
)
def test_empty_and_non_json_bodies_are_a_400(api: FakeAnthropic, body: bytes, message: str) -> None:
    assert raw_post(api, body) == (400, "req_fake_000001", invalid(message, "req_fake_000001"))


def test_faults_answer_before_validation(api: FakeAnthropic) -> None:
    api.enqueue(Reply.overloaded())
    status, _, error = raw_post(api, b"")
    assert (status, error["error"]["type"]) == (529, "overloaded_error")


def test_validation_is_off_by_default(fake: FakeAnthropic) -> None:
    status, _, message = raw_post(fake, b'{"model": "m"}')
    assert (status, message["type"]) == (200, "message")


# ------------------------------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------------------------------

CURRENT = [
    "claude-opus-4-5-20251101",
    "claude-haiku-4-5-20251001",
    "claude-sonnet-4-5-20250929",
    "claude-opus-4-1-20250805",
    "claude-opus-4-20250514",
    "claude-sonnet-4-20250514",
    "claude-3-7-sonnet-20250219",
    "claude-3-5-haiku-20241022",
    "claude-3-haiku-20240307",
]


def test_models_list_and_retrieve(driver: Driver, fake: FakeAnthropic) -> None:
    async def ids_async(client: Any) -> list[str]:
        return [model.id async for model in client.models.list(limit=2)]

    def ids(client: Any) -> Any:
        return ids_async(client) if driver.mode == "async" else [model.id for model in client.models.list(limit=2)]

    assert driver.run(ids) == CURRENT
    queries = [request.path.split("?")[1] for request in fake.requests]
    assert queries[:5] == [
        "limit=2",
        "limit=2&after_id=claude-haiku-4-5-20251001",
        "limit=2&after_id=claude-opus-4-1-20250805",
        "limit=2&after_id=claude-sonnet-4-20250514",
        "limit=2&after_id=claude-3-5-haiku-20241022",
    ]
    # SDK 0.x asks once more, past the last model, for the empty page that tells it to stop
    assert queries[5:] in ([], ["limit=2&after_id=claude-3-haiku-20240307"])
    opus = driver.run(lambda client: client.models.retrieve("claude-opus-4-5-20251101"))
    assert (opus.id, opus.display_name, opus.type) == ("claude-opus-4-5-20251101", "Claude Opus 4.5", "model")
    assert opus.created_at.isoformat() == "2025-11-24T00:00:00+00:00"


def test_models_are_configurable(fake: FakeAnthropic) -> None:
    fake.models = [
        "claude-sonnet-4-5-20250929",
        {"id": "claude-next", "display_name": "Next", "created_at": "2026-05-01T00:00:00Z"},
    ]
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0)
    assert [(m.id, m.display_name) for m in client.models.list()] == [
        ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5"),
        ("claude-next", "Next"),
    ]
    page = client.models.list(before_id="claude-next")
    assert ([m.id for m in page.data], page.has_more) == (["claude-sonnet-4-5-20250929"], False)
    fake.clear()
    assert [m.id for m in client.models.list()] == CURRENT


# ------------------------------------------------------------------------------------------------------------------
# Batches
# ------------------------------------------------------------------------------------------------------------------

PARAMS = {"model": "claude-sonnet-4-5-20250929", "max_tokens": 100, "messages": USER}


def test_batch_lifecycle(api: FakeAnthropic, client: anthropic.Anthropic, clock: FakeClock) -> None:
    requests = [
        {"custom_id": "ok-1", "params": PARAMS},
        {"custom_id": "bad", "params": {"model": PARAMS["model"], "messages": USER}},
        {"custom_id": "ok-2", "params": {**PARAMS, "max_tokens": 2}},
    ]
    batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    assert (batch.processing_status, batch.request_counts.processing, batch.ended_at) == ("in_progress", 3, None)
    assert (batch.created_at.isoformat(), batch.results_url) == ("2026-01-01T00:00:00+00:00", None)
    with pytest.raises(anthropic.AnthropicError, match="results_url"):  # the SDK does not even ask
        list(client.messages.batches.results(batch.id))
    with pytest.raises(anthropic.NotFoundError, match="still processing"):  # the fake would not tell
        client.get(f"/v1/messages/batches/{batch.id}/results", cast_to=object)

    clock.advance(59)
    assert client.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    clock.advance(1)
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    counts = ended.request_counts
    assert (counts.processing, counts.succeeded, counts.errored, counts.canceled) == (0, 2, 1, 0)
    assert ended.ended_at.isoformat() == "2026-01-01T00:01:00+00:00"
    assert ended.results_url == f"{api.base_url}/v1/messages/batches/{batch.id}/results"

    results = {result.custom_id: result.result for result in client.messages.batches.results(batch.id)}
    assert [results[key].type for key in ("ok-1", "bad", "ok-2")] == ["succeeded", "errored", "succeeded"]
    first, cut = results["ok-1"].message, results["ok-2"].message  # type: ignore[union-attr]
    assert (first.usage.input_tokens, first.usage.output_tokens, first.usage.service_tier) == (8, 5, "batch")
    assert (cut.stop_reason, cut.usage.output_tokens, cut.content[0].text) == ("max_tokens", 2, "Hello! H")
    error = results["bad"].error  # type: ignore[union-attr]
    assert (error.error.type, error.error.message) == ("invalid_request_error", "max_tokens: Field required")


def test_batch_cancel_and_list(api: FakeAnthropic, client: anthropic.Anthropic, clock: FakeClock) -> None:
    kept = client.messages.batches.create(requests=[{"custom_id": "a", "params": PARAMS}])  # type: ignore[list-item]
    canceled = client.messages.batches.create(
        requests=[{"custom_id": f"c{n}", "params": PARAMS} for n in range(2)]  # type: ignore[misc]
    )
    clock.advance(10)
    canceling = client.messages.batches.cancel(canceled.id)
    assert (canceling.processing_status, canceling.cancel_initiated_at.isoformat()) == (  # type: ignore[union-attr]
        "canceling",
        "2026-01-01T00:00:10+00:00",
    )
    after = client.messages.batches.retrieve(canceled.id)
    assert (after.processing_status, after.request_counts.canceled) == ("ended", 2)
    assert [r.result.type for r in client.messages.batches.results(canceled.id)] == ["canceled", "canceled"]
    listed = [(b.id, b.processing_status) for b in client.messages.batches.list()]
    assert listed == [(canceled.id, "ended"), (kept.id, "in_progress")]


def test_async_batch_lifecycle(api: FakeAnthropic, clock: FakeClock) -> None:
    async def main() -> list[str]:
        client = anthropic.AsyncAnthropic(base_url=api.base_url, api_key="k", max_retries=0)
        batch = await client.messages.batches.create(requests=[{"custom_id": "a", "params": PARAMS}])  # type: ignore[list-item]
        clock.advance(60)
        assert (await client.messages.batches.retrieve(batch.id)).processing_status == "ended"
        return [result.result.type async for result in await client.messages.batches.results(batch.id)]

    assert asyncio.run(main()) == ["succeeded"]
