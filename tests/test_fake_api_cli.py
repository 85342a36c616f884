"""The fake as its own process: ``python -m anthropic_otel.testing.fake_api`` with a scenario file and the
``/_fake/...`` control endpoints, driven by the real SDK from this process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

import anthropic_otel
from conftest import USER

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="stops the server with SIGINT")

SRC = str(Path(anthropic_otel.__file__).resolve().parents[1])
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))}
COMMAND = [sys.executable, "-m", "anthropic_otel.testing.fake_api"]
SONNET = "claude-sonnet-4-5-20250929"


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """Starts the fake with the given arguments; returns its base URL; stops it (and checks it exits 0) after."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        process = subprocess.Popen(
            [*COMMAND, "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
        )
        processes.append(process)
        assert process.stdout is not None
        return process.stdout.readline().strip()

    yield start
    for process in processes:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert (process.returncode, stderr) == (0, "")


def control(base_url: str, path: str, body: object = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base_url}{path}", data=data, method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def client(base_url: str, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base_url, api_key="k", **{"max_retries": 0, **options})


def create(sdk: anthropic.Anthropic, **kwargs: Any) -> Any:
    return sdk.messages.create(**{"model": "m", "max_tokens": 10, "messages": USER, **kwargs})


def test_help_is_plain_text() -> None:
    result = subprocess.run([*COMMAND, "--help"], capture_output=True, text=True, env=ENV, timeout=30, check=True)
    assert result.stdout.startswith("usage: python -m anthropic_otel.testing.fake_api")
    assert "POST /_fake/enqueue" in result.stdout and "--scenario FILE" in result.stdout
    assert "\x1b" not in result.stdout


def test_json_scenario_with_repeats(serve: Callable[..., str], tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(
        json.dumps(
            {
                "script": [
                    {"reply": "rate_limited", "retry_after": 0.01, "repeat": 2},
                    {"text": "third time lucky", "input_tokens": 12, "repeat": 2},
                    {"reply": "error", "status": 400, "error_type": "invalid_request_error", "message": "no"},
                ],
                "default": {"text": "default"},
            }
        )
    )
    base_url = serve("--scenario", str(scenario))
    sdk = client(base_url, max_retries=2)
    message = create(sdk)
    assert (message.content[0].text, message.usage.input_tokens) == ("third time lucky", 12)
    assert create(sdk).content[0].text == "third time lucky"
    with pytest.raises(anthropic.BadRequestError, match="no"):
        create(sdk)
    assert create(sdk).content[0].text == "default"
    received = control(base_url, "/_fake/requests")["requests"]
    assert [r["path"] for r in received] == ["/v1/messages"] * 6
    assert received[0]["json"] == {"model": "m", "max_tokens": 10, "messages": USER}


def test_yaml_scenario(serve: Callable[..., str], tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "- {reply: delay, seconds: 0.01, then: {reply: message, text: late}}\n"
        "- reply: message\n"
        "  usage_patch: {output_tokens: $omit}\n"
    )
    sdk = client(serve("--scenario", str(scenario)))
    assert create(sdk).content[0].text == "late"
    assert create(sdk).usage.output_tokens is None


def test_bad_scenario_is_a_usage_error(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.json"
    scenario.write_text('[{"reply": "teapot"}]')
    result = subprocess.run(
        [*COMMAND, "--scenario", str(scenario)], capture_output=True, text=True, env=ENV, timeout=30, check=False
    )
    assert result.returncode == 2
    assert "unknown reply 'teapot'" in result.stderr


def test_control_endpoints(serve: Callable[..., str]) -> None:
    base_url = serve()
    sdk = client(base_url)
    assert control(base_url, "/_fake/enqueue", [{"text": "one"}, {"reply": "overloaded", "repeat": 2}]) == {
        "enqueued": 3,
        "queued": 3,
    }
    assert create(sdk).content[0].text == "one"
    for _ in range(2):
        with pytest.raises(anthropic.APIStatusError) as caught:
            create(sdk)
        assert caught.value.status_code == 529
    assert control(base_url, "/_fake/default", {"reply": "message", "text": "fallback"}) == {}
    assert create(sdk).content[0].text == "fallback"
    assert len(control(base_url, "/_fake/requests")["requests"]) == 4  # the control requests are not listed
    assert control(base_url, "/_fake/clear", {}) == {}
    assert control(base_url, "/_fake/requests") == {"requests": []}
    assert create(sdk).content[0].text == "Hello! How can I help?"
    with pytest.raises(urllib.error.HTTPError) as refused:
        control(base_url, "/_fake/enqueue", {"reply": "message", "colour": "red"})
    assert refused.value.code == 400
    assert "unexpected keyword argument 'colour'" in json.loads(refused.value.read())["error"]["message"]


def test_realistic_with_a_fake_clock(serve: Callable[..., str]) -> None:
    base_url = serve("--realistic", "--fake-clock", "--batch-seconds", "30")
    sdk = client(base_url)
    system = [{"type": "text", "text": "x" * 4400, "cache_control": {"type": "ephemeral"}}]
    usage = [create(sdk, model=SONNET, system=system).usage for _ in range(2)]
    assert [(u.cache_creation_input_tokens, u.cache_read_input_tokens, u.input_tokens) for u in usage] == [
        (1100, 0, 8),
        (0, 1100, 8),
    ]
    control(base_url, "/_fake/clock", {"advance": 301})
    assert create(sdk, model=SONNET, system=system).usage.cache_creation_input_tokens == 1100
    with pytest.raises(anthropic.BadRequestError, match="max_tokens: Field required"):
        sdk.post("/v1/messages", body={"model": SONNET, "messages": USER}, cast_to=object)

    batch = sdk.messages.batches.create(
        requests=[{"custom_id": "a", "params": {"model": SONNET, "max_tokens": 5, "messages": USER}}]
    )  # type: ignore[list-item]
    assert sdk.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    control(base_url, "/_fake/clock", {"advance": 30})
    assert sdk.messages.batches.retrieve(batch.id).processing_status == "ended"


def test_latency_flags(serve: Callable[..., str]) -> None:
    sdk = client(serve("--first-token", "0.3", "--tokens-per-second", "1000", "--jitter", "0.1", "--seed", "3"))
    started = time.monotonic()
    types = [event.type for event in create(sdk, stream=True)]  # the first token comes 0.27 s to 0.33 s in
    assert (types[0], types[-1]) == ("message_start", "message_stop")
    assert time.monotonic() - started >= 0.27
