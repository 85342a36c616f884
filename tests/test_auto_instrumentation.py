"""`opentelemetry-instrument python app.py` finds the plugin through its entry point and hooks the SDK."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

APP = """
import anthropic, anthropic._base_client as base
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from anthropic_otel.testing import FakeAnthropic

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
print("hooked", hasattr(base.SyncAPIClient.request, "__wrapped__"))
with FakeAnthropic() as api:
    client = anthropic.Anthropic(base_url=api.base_url, api_key="k", max_retries=0)
    client.messages.create(model="claude-fake-model", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
spans = [s for s in exporter.get_finished_spans() if s.name == "anthropic.messages.create"]
print("spans", len(spans), spans[0].attributes.get("gen_ai.response.id"))
"""


def test_opentelemetry_instrument_hooks_the_sdk(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}
    result = subprocess.run(
        [str(instrument), sys.executable, str(app)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["hooked True", "spans 1 msg_fake_000001"]


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
