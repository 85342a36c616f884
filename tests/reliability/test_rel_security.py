"""No credential ever reaches the telemetry: known keys are sent, and everything exported (every span of every scope,
its events, every log record, every metric point, the JSON log line) is scanned for them, on success and on error
paths, with content capture on, for every provider."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest

import anthropic_otel
from anthropic_otel.testing import FakeAnthropic, Reply
from conftest import EXPORTER, LOGS, READER, USER

API_KEY = "sk-ant-api03-RELIABILITY-SECRET-0123456789"
AWS = {
    "aws_access_key": "AKIARELIABILITYSECRET",
    "aws_secret_key": "aws-secret-RELIABILITY-0123456789",
    "aws_session_token": "aws-session-RELIABILITY-0123456789",
    "aws_region": "us-east-1",
}
GOOGLE_TOKEN = "ya29.RELIABILITY-google-access-token"
SECRETS = [API_KEY, GOOGLE_TOKEN, *(value for key, value in AWS.items() if key != "aws_region")]
FORBIDDEN = [*SECRETS, "authorization", "x-api-key", "x-amz-security-token", "bearer ", "aws4-hmac", "RELIABILITY"]
"""Credentials, the headers that carry them, and the marker every one of them contains."""

JSON_LOGGER = "anthropic_otel.reliability.json"


def client_for(provider: str, base_url: str, mode: str) -> Any:
    if provider == "anthropic":
        cls = anthropic.Anthropic if mode == "sync" else anthropic.AsyncAnthropic
        return cls(base_url=base_url, api_key=API_KEY, max_retries=1)
    if provider == "bedrock":
        pytest.importorskip("boto3", reason="AnthropicBedrock signs requests with botocore")
        cls = anthropic.AnthropicBedrock if mode == "sync" else anthropic.AsyncAnthropicBedrock
        return cls(base_url=base_url, max_retries=1, **AWS)
    cls = anthropic.AnthropicVertex if mode == "sync" else anthropic.AsyncAnthropicVertex
    return cls(region="us-east5", project_id="proj", access_token=GOOGLE_TOKEN, base_url=base_url, max_retries=1)


MODELS = {
    "anthropic": "claude-haiku-4-5",
    "bedrock": "anthropic.claude-haiku-4-5-20251001-v1:0",
    "vertex": "claude-haiku-4-5@20251001",
}


@pytest.fixture
def capturing() -> Iterator[None]:
    """The plugin with content capture on span and log record, and a JSON log line; the session's settings after."""
    anthropic_otel.uninstrument()
    anthropic_otel.instrument(capture_content="SPAN_AND_EVENT", json_logger=JSON_LOGGER)
    try:
        yield
    finally:
        anthropic_otel.uninstrument()
        anthropic_otel.instrument()


def everything_exported() -> str:
    """Every exported span (all scopes: the SDK's own too), event, link, log record and metric point, as text."""
    parts: list[str] = []
    for span in EXPORTER.get_finished_spans():
        parts.append(repr((span.name, dict(span.attributes or {}), span.status.description)))
        parts += [repr((event.name, dict(event.attributes or {}))) for event in span.events]
    for data in LOGS.get_finished_logs():
        record = data.log_record
        parts.append(repr((record.body, dict(record.attributes or {}), record.event_name)))
    metrics_data = READER.get_metrics_data()
    for resource_metrics in metrics_data.resource_metrics if metrics_data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                parts += [repr((metric.name, dict(point.attributes or {}))) for point in metric.data.data_points]
    return "\n".join(parts)


def calls(mode: str, client: Any, model: str) -> Callable[[], Any]:
    """A success, a stream, a stream helper, an authentication error, a retried 429 that gives up, and a stream
    that fails mid-way."""
    body = {"model": model, "max_tokens": 20, "messages": USER, "system": "Be brief."}

    def sync() -> None:
        client.messages.create(**body)
        for _ in client.messages.create(**body, stream=True):
            pass
        with client.messages.stream(**body) as stream:
            stream.get_final_message()
        for _ in range(3):
            with pytest.raises(anthropic.APIError):
                client.messages.create(**body)
        with pytest.raises(Exception):  # noqa: B017 - Bedrock on 0.x raises ValueError, the others APIStatusError
            for _ in client.messages.create(**body, stream=True):
                pass

    async def async_() -> None:
        await client.messages.create(**body)
        async for _ in await client.messages.create(**body, stream=True):
            pass
        async with client.messages.stream(**body) as stream:
            await stream.get_final_message()
        for _ in range(3):
            with pytest.raises(anthropic.APIError):
                await client.messages.create(**body)
        with pytest.raises(Exception):  # noqa: B017 - Bedrock on 0.x raises ValueError, the others APIStatusError
            async for _ in await client.messages.create(**body, stream=True):
                pass

    return sync if mode == "sync" else lambda: asyncio.run(async_())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("provider", ["anthropic", "bedrock", "vertex"])
def test_no_credential_in_anything_exported(
    fake: FakeAnthropic, capturing: None, caplog: pytest.LogCaptureFixture, provider: str, mode: str
) -> None:
    READER.get_metrics_data()
    EXPORTER.clear()
    LOGS.clear()
    caplog.set_level(logging.DEBUG)
    fake.enqueue(
        Reply.message("Hello there"),
        Reply.message("Hello there"),
        Reply.message("Hello there"),
        Reply.error(401, "authentication_error"),
        Reply.error(403, "permission_error"),
        Reply.rate_limited(retry_after=0.01),
        Reply.rate_limited(retry_after=0.01),
        Reply.stream_error(3, "overloaded_error"),
    )
    calls(mode, client_for(provider, fake.base_url, mode), MODELS[provider])()
    assert len(fake.requests) == 8
    # The credentials did travel: the scan below looks for what was really sent.
    sent = repr([request.headers for request in fake.requests])
    assert any(secret in sent for secret in SECRETS)

    exported = everything_exported()
    plugin_spans = [span for span in EXPORTER.get_finished_spans() if span.name == "anthropic.messages.create"]
    assert len(plugin_spans) == 7
    assert "Hello there" in exported  # content capture is on: what is exported is not empty of content
    assert len(LOGS.get_finished_logs()) == 7
    lowered = exported.lower()
    assert [word for word in FORBIDDEN if word.lower() in lowered] == []
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("anthropic_otel"))
    assert logged.count('"request_id"') == 7  # the JSON lines were written
    assert [word for word in FORBIDDEN if word.lower() in logged.lower()] == []
