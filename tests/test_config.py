"""Configuration that never breaks the application: the shared variables' documented values, empty variables,
a bad option under auto-instrumentation, signals that can be switched off, content limits and user-id hashing."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

import anthropic_otel
from anthropic_otel import attribution, config
from anthropic_otel.testing import FakeAnthropic, Reply
from conftest import LOGS, USER, Metrics, Spans


@pytest.fixture
def instrumented_with() -> Iterator[Any]:
    def apply(**options: Any) -> None:
        anthropic_otel.uninstrument()
        anthropic_otel.instrument(**options)

    yield apply
    anthropic_otel.uninstrument()
    anthropic_otel.instrument()


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("NO_CONTENT", "none"),
        ("SPAN_ONLY", "span"),
        ("EVENT_ONLY", "event"),
        ("SPAN_AND_EVENT", "span_and_event"),
        ("span_only", "span"),
        ("true", "span"),
        ("False", "none"),
    ],
)
def test_the_shared_content_variable_takes_every_documented_value(value: str, mode: str) -> None:
    assert config.resolve({}, {config.CONTENT_ENV: value}).capture_content == mode


def test_the_plugins_own_variable_wins_over_the_shared_one() -> None:
    environ = {"ANTHROPIC_OTEL_CAPTURE_CONTENT": "false", config.CONTENT_ENV: "SPAN_AND_EVENT"}
    assert config.resolve({}, environ).capture_content == "none"


def test_empty_variables_are_unset() -> None:
    environ = {option.env: "" for option in config.OPTIONS} | {config.CONTENT_ENV: " "}
    settings = config.resolve({}, environ)
    assert settings == config.resolve({}, {})
    assert settings.prices is None and settings.anomaly_factor == 2.0


def test_a_bad_value_names_the_accepted_ones() -> None:
    with pytest.raises(config.ConfigError, match="one of NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT"):
        config.resolve({}, {config.CONTENT_ENV: "SOMETIMES"})
    with pytest.raises(config.ConfigError, match="at least 16 characters"):
        config.resolve({"user_id_hash_key": "short"})
    with pytest.raises(config.ConfigError, match="content_hook=42: expected a callable"):
        config.resolve({"content_hook": 42})


AUTO_APP = """
import urllib.request, anthropic._base_client as base
print("anthropic hooked", hasattr(base.SyncAPIClient.request, "__wrapped__"))
print("urllib hooked", hasattr(urllib.request.OpenerDirector.open, "__wrapped__"))
print("app ran")
"""


def test_a_bad_option_under_auto_instrumentation_skips_this_instrumentor_only(tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.instrumentation.urllib", reason="another instrumentation to watch")
    app = tmp_path / "app.py"
    app.write_text(AUTO_APP)
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    env = {
        **os.environ,
        "ANTHROPIC_OTEL_ANOMALY_FACTOR": "abc",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    result = subprocess.run(
        [str(instrument), sys.executable, str(app)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["anthropic hooked False", "urllib hooked True", "app ran"]
    assert result.stderr.count("ANTHROPIC_OTEL_ANOMALY_FACTOR='abc': expected a number above 1") == 1
    assert "anthropic_otel is not instrumenting" in result.stderr
    assert "Failed to auto initialize" not in result.stderr


def test_metrics_and_logs_can_be_switched_off(
    instrumented_with: Any, fake: FakeAnthropic, spans: Spans, measured: Metrics
) -> None:
    instrumented_with(metrics=False, logs=False)
    fake.enqueue(Reply.message(model="claude-sonnet-4-6", input_tokens=10, output_tokens=5))
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0)
    client.messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=USER)
    assert spans.one().attributes["gen_ai.usage.output_tokens"] == 5
    assert measured.points("anthropic.client.tokens") == []
    assert measured.points("gen_ai.client.operation.duration") == []
    assert [data for data in LOGS.get_finished_logs() if data.log_record.event_name == "anthropic.call"] == []


def test_content_on_the_log_record_only(instrumented_with: Any, fake: FakeAnthropic, spans: Spans) -> None:
    instrumented_with(capture_content="EVENT_ONLY")
    fake.enqueue(Reply.message("the answer"))
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0)
    client.messages.create(model="claude-fake-model", max_tokens=5, messages=USER)
    assert not any(key.startswith("gen_ai.input") for key in spans.one().attributes)
    (record,) = [data.log_record for data in LOGS.get_finished_logs() if data.log_record.event_name == "anthropic.call"]
    assert json.loads(record.attributes["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "text", "content": "the answer"}
    ]


def test_content_is_cut_and_redacted_before_it_is_recorded(
    instrumented_with: Any, fake: FakeAnthropic, spans: Spans
) -> None:
    def redact(attributes: dict[str, str]) -> dict[str, str]:
        return {key: value.replace("4111", "####") for key, value in attributes.items()}

    instrumented_with(capture_content=True, content_max_chars=60, content_hook=redact)
    fake.enqueue(Reply.message("ok"))
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0)
    client.messages.create(model="claude-fake-model", max_tokens=5, messages=[{"role": "user", "content": "card 4111"}])
    recorded = spans.one().attributes["gen_ai.input.messages"]
    assert recorded == '[{"role": "user", "parts": [{"type": "text", "content": "card ####"}]}]'[:60]
    assert "4111" not in repr(dict(spans.one().attributes))


def test_a_failing_content_hook_records_no_content(instrumented_with: Any, fake: FakeAnthropic, spans: Spans) -> None:
    def broken(attributes: dict[str, str]) -> dict[str, str]:
        raise RuntimeError("redaction service down")

    instrumented_with(capture_content=True, content_hook=broken)
    fake.enqueue(Reply.message("ok", id="msg_hooked"))
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0)
    assert client.messages.create(model="claude-fake-model", max_tokens=5, messages=USER).id == "msg_hooked"
    attributes = spans.one().attributes
    assert attributes["gen_ai.response.id"] == "msg_hooked"
    assert not any(key.startswith(("gen_ai.input", "gen_ai.output")) for key in attributes)


def test_user_id_is_replaced_by_a_keyed_hash(instrumented_with: Any, fake: FakeAnthropic, spans: Spans) -> None:
    key = "a-secret-of-sixteen-chars"
    instrumented_with(user_id_hash_key=key)
    client = anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0)
    with attribution(feature="support", user_id="alice@example.com"):
        client.messages.create(model="claude-fake-model", max_tokens=5, messages=USER)
    attributes = spans.one().attributes
    expected = hmac.new(key.encode(), b"alice@example.com", hashlib.sha256).hexdigest()
    assert (attributes["user.id"], attributes["app.feature"]) == (expected, "support")
    record = [data.log_record for data in LOGS.get_finished_logs() if data.log_record.event_name == "anthropic.call"]
    assert record[0].attributes["user.id"] == expected
