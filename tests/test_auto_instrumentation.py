"""`opentelemetry-instrument python app.py` finds the plugin through its entry point and hooks the SDK."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from otlp_receiver import Receiver

APP = """
import anthropic, anthropic._base_client as base
from anthropic_otel.testing import FakeAnthropic, Reply

print("hooked", hasattr(base.SyncAPIClient.request, "__wrapped__"))
with FakeAnthropic() as api:
    api.enqueue(Reply.message(id="msg_deployed", model="claude-sonnet-4-6", input_tokens=100, output_tokens=10))
    client = anthropic.Anthropic(base_url=api.base_url, api_key="sk-ant-secret-key", max_retries=0)
    client.messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
print("done")
"""


def test_opentelemetry_instrument_exports_over_otlp_as_a_deployment_does(tmp_path: Path) -> None:
    """`opentelemetry-instrument` with the distro (the `sdk` extra), exporting OTLP/HTTP to a receiver."""
    app = tmp_path / "app.py"
    app.write_text(APP)
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    with Receiver() as receiver:
        env = {
            **os.environ,
            "OTEL_SERVICE_NAME": "support-bot",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_LOGS_EXPORTER": "otlp",
        }
        result = subprocess.run(
            [str(instrument), sys.executable, str(app)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == ["hooked True", "done"]
        calls = [span for span in receiver.spans() if span.name == "anthropic.messages.create"]
        assert len(calls) == 1
        attributes = {attribute.key: attribute.value for attribute in calls[0].attributes}
        assert attributes["gen_ai.response.id"].string_value == "msg_deployed"
        assert attributes["anthropic.cost.usd"].double_value == 0.00045  # 100 x $3 + 10 x $15, per million
        assert receiver.resource_attributes()["service.name"] == "support-bot"
        assert {"anthropic.client.tokens", "anthropic.client.cost", "gen_ai.client.operation.duration"} <= (
            receiver.metric_names()
        )
        assert receiver.log_events().count("anthropic.call") == 1
        everything = b"".join(message.SerializeToString() for found in receiver.received.values() for message in found)
        assert b"sk-ant-secret-key" not in everything


def test_plain_python_is_not_hooked(tmp_path: Path) -> None:
    code = "import anthropic._base_client as b; print(hasattr(b.SyncAPIClient.request, '__wrapped__'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "False"


PROVIDER_APP = """
import anthropic
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import anthropic_otel
from anthropic_otel.testing import FakeAnthropic, Reply

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
anthropic_otel.instrument(tracer_provider=provider)  # no global provider: the SDK's own tracer records nothing
with FakeAnthropic() as api:
    api.enqueue(Reply.rate_limited(retry_after=0.01), Reply.message(id="msg_own"))
    client = anthropic.Anthropic(base_url=api.base_url, api_key="k", max_retries=1)
    client.messages.create(model="claude-fake-model", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
for span in exporter.get_finished_spans():
    print(span.name, span.instrumentation_scope.name, span.attributes["gen_ai.response.id"], len(span.events))
"""


def test_a_tracer_provider_given_to_the_plugin_gets_the_one_span(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(PROVIDER_APP)
    result = subprocess.run([sys.executable, str(app)], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.splitlines() == ["anthropic.messages.create anthropic_otel msg_own 1"]


BROKEN_APP = """
import logging
import anthropic
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
import anthropic_otel
from anthropic_otel.testing import FakeAnthropic, Reply

class Broken(SpanProcessor):
    def on_start(self, span, parent_context=None):
        raise RuntimeError("exporter bug")

logging.basicConfig(level=logging.DEBUG, format="%(name)s %(message)s")
for noisy in ("httpx", "httpx2", "httpcore", "anthropic", "urllib3"):
    logging.getLogger(noisy).setLevel(logging.WARNING)
provider = TracerProvider()
provider.add_span_processor(Broken())
anthropic_otel.instrument(tracer_provider=provider)
with FakeAnthropic() as api:
    api.enqueue(Reply.rate_limited(retry_after=0.01), Reply.message(id="msg_still_fine"))
    client = anthropic.Anthropic(base_url=api.base_url, api_key="k", max_retries=1)
    message = client.messages.create(model="claude-fake-model", max_tokens=5, messages=[])
    for event in client.messages.create(model="claude-fake-model", max_tokens=5, messages=[], stream=True):
        pass
print("result", message.id, event.type)
"""


def test_a_failing_telemetry_pipeline_never_reaches_the_application(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(BROKEN_APP)
    result = subprocess.run([sys.executable, str(app)], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.splitlines() == ["result msg_still_fine message_stop"]
    assert "anthropic_otel.spans Could not start the span of an API call" in result.stderr
    assert "RuntimeError: exporter bug" in result.stderr  # logged with its traceback, at debug level
