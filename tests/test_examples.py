"""The programs in examples/, each run as a real process against the fake API, exporting OTLP/HTTP to a receiver,
as they would against the real API and a Collector. What they print and what reached the receiver is checked
exactly: span names and attributes, costs from the fake's token counts, attempts per retry pattern."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anthropic_otel.testing import FakeAnthropic, FakeClock, Reply, Simulation
from otlp_receiver import Receiver

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MODEL = "claude-sonnet-4-6"  # $3 input, $15 output per million tokens; batches half that
KEY = "sk-ant-example-key"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def environment(api: FakeAnthropic, receiver: Receiver, **more: str) -> dict[str, str]:
    """What a deployment sets: where the API is, its key, the service name and the Collector's OTLP endpoint."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "OTEL_"))}
    return {
        **inherited,
        "ANTHROPIC_BASE_URL": api.base_url,
        "ANTHROPIC_API_KEY": KEY,
        "OTEL_SERVICE_NAME": "example",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        **more,
    }


def run(api: FakeAnthropic, receiver: Receiver, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command),
        cwd=EXAMPLES,
        env=environment(api, receiver),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def python(example: str, *args: str) -> list[str]:
    return [sys.executable, str(EXAMPLES / example), *args]


# -- what reached the receiver -----------------------------------------------------------------------------------------


def value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value(item) for item in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def attributes(items: Any) -> dict[str, Any]:
    return {item.key: value(item.value) for item in items}


def spans(receiver: Receiver, name: str) -> list[Any]:
    return [span for span in receiver.spans() if span.name == name]


def points(receiver: Receiver, name: str) -> list[tuple[dict[str, Any], Any]]:
    """The points of a metric in the last export that has it (the cumulative totals at the process's exit)."""
    found: list[tuple[dict[str, Any], Any]] = []
    for request in receiver.received["/v1/metrics"]:
        latest = [
            (attributes(point.attributes), point.as_double if point.HasField("as_double") else point.as_int)
            for resource in request.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.sum.data_points
        ]
        found = latest or found
    return found


def total(receiver: Receiver, name: str, **match: Any) -> Any:
    """The sum of a counter's points whose attributes include `match` (dots spelled as `__`)."""
    wanted = {key.replace("__", "."): expected for key, expected in match.items()}
    return sum(v for found, v in points(receiver, name) if all(found.get(k) == w for k, w in wanted.items()))


def log_records(receiver: Receiver, event_name: str) -> list[dict[str, Any]]:
    return [
        attributes(record.attributes)
        for request in receiver.received["/v1/logs"]
        for resource in request.resource_logs
        for scope in resource.scope_logs
        for record in scope.log_records
        if record.event_name == event_name
    ]


def message_requests(api: FakeAnthropic) -> list[Any]:
    return [request for request in api.requests if request.path == "/v1/messages"]


# -- instrument() at start-up, and the same app under opentelemetry-instrument -----------------------------------------

ANSWER = "Traces show where the time and the money go."


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(lambda: python("instrument_at_startup.py"), id="instrument_at_startup"),
        pytest.param(
            lambda: [str(Path(sys.executable).with_name("opentelemetry-instrument")), *python("app.py")],
            id="opentelemetry-instrument",
        ),
    ],
)
def test_the_app_instrumented_in_code_and_with_no_code(fake: FakeAnthropic, receiver: Receiver, command: Any) -> None:
    fake.enqueue(Reply.message(ANSWER, id="msg_startup", input_tokens=1200, output_tokens=300))
    result = run(fake, receiver, *command())
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{ANSWER}\n"
    (request,) = message_requests(fake)
    assert request.json["model"] == MODEL
    # The key came from the environment: as `x-api-key` (older SDKs) or as a bearer token (2.x)
    sent = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
    assert sent == KEY

    (span,) = spans(receiver, "anthropic.messages.create")
    found = attributes(span.attributes)
    assert {key: found[key] for key in EXPECTED_CALL} == EXPECTED_CALL
    assert "http.request.resend_count" not in found
    assert receiver.resource_attributes()["service.name"] == "example"
    # 1,200 x $3 + 300 x $15 per million tokens
    assert total(receiver, "anthropic.client.cost", anthropic__token__type="input") == 0.0036
    assert total(receiver, "anthropic.client.cost", anthropic__token__type="output") == 0.0045
    assert total(receiver, "anthropic.client.tokens", anthropic__token__type="input") == 1200
    assert total(receiver, "anthropic.client.attempts", http__response__status_code=200) == 1
    (record,) = log_records(receiver, "anthropic.call")
    assert (record["gen_ai.response.id"], record["anthropic.cost_usd"]) == ("msg_startup", 0.0081)


EXPECTED_CALL = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": MODEL,
    "gen_ai.request.max_tokens": 200,
    "gen_ai.response.model": MODEL,
    "gen_ai.response.id": "msg_startup",
    "gen_ai.response.finish_reasons": ["end_turn"],
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300,
    "anthropic.cost.usd": 0.0081,
    "http.response.status_code": 200,
}


# -- retries -----------------------------------------------------------------------------------------------------------


def retry_events(span: Any) -> list[dict[str, Any]]:
    return [attributes(event.attributes) for event in span.events if event.name == "anthropic.retry"]


def test_naive_retries_multiply_the_sdk_retries(fake: FakeAnthropic, receiver: Receiver) -> None:
    """3 tries of the app x 3 attempts of the SDK: 9 requests for one question, on the fake and in the telemetry."""
    fake.default = Reply.overloaded(retry_after=0.01)
    result = run(fake, receiver, *python("retries.py", "naive"))
    assert (result.returncode, result.stdout) == (1, "naive: gave up with HTTP 529\n"), result.stderr
    assert len(message_requests(fake)) == 9

    (operation,) = spans(receiver, "answer_question.naive")
    calls = spans(receiver, "anthropic.messages.create")
    assert [call.parent_span_id for call in calls] == [operation.span_id] * 3
    for call in calls:
        assert attributes(call.attributes)["http.request.resend_count"] == 2
        assert attributes(call.attributes)["error.type"] == "overloaded_error"
        assert [(e["http.request.resend_count"], e["error.type"]) for e in retry_events(call)] == [
            (1, "overloaded_error"),
            (2, "overloaded_error"),
        ]
    assert total(receiver, "anthropic.client.attempts", http__response__status_code=529) == 9
    assert total(receiver, "anthropic.client.attempts", anthropic__attempt__retried=True) == 6


def test_sdk_retries_alone_make_one_call_of_three_attempts(fake: FakeAnthropic, receiver: Receiver) -> None:
    fake.default = Reply.overloaded(retry_after=0.01)
    result = run(fake, receiver, *python("retries.py", "sdk"))
    assert (result.returncode, result.stdout) == (1, "sdk: gave up with HTTP 529\n"), result.stderr
    assert len(message_requests(fake)) == 3
    (call,) = spans(receiver, "anthropic.messages.create")
    assert [e["http.request.resend_count"] for e in retry_events(call)] == [1, 2]
    assert total(receiver, "anthropic.client.attempts", http__response__status_code=529) == 3


def test_backoff_makes_three_attempts_and_waits_as_long_as_retry_after_asks(
    fake: FakeAnthropic, receiver: Receiver
) -> None:
    """With the SDK's retries off, 3 tries are 3 requests; a `retry-after` above the jittered bound (0.5 s, then
    1 s) sets the wait exactly."""
    fake.default = Reply.overloaded(retry_after=1)
    result = run(fake, receiver, *python("retries.py", "backoff"))
    assert (result.returncode, result.stdout) == (1, "backoff: gave up with HTTP 529\n"), result.stderr
    assert len(message_requests(fake)) == 3

    (operation,) = spans(receiver, "answer_question.backoff")
    calls = spans(receiver, "anthropic.messages.create")
    assert [call.parent_span_id for call in calls] == [operation.span_id] * 3
    assert [retry_events(call) for call in calls] == [[], [], []]
    waits = [attributes(e.attributes) for e in operation.events if e.name == "app.retry"]
    assert waits == [{"app.retry.attempt": 1, "app.retry.wait": 1.0}, {"app.retry.attempt": 2, "app.retry.wait": 1.0}]
    assert total(receiver, "anthropic.client.attempts", http__response__status_code=529) == 3
    assert total(receiver, "anthropic.client.attempts", anthropic__attempt__retried=True) == 0


def test_backoff_without_retry_after_waits_a_random_share_of_the_exponential_bound(
    fake: FakeAnthropic, receiver: Receiver
) -> None:
    fake.enqueue(
        Reply.overloaded(), Reply.error(503, "api_error"), Reply.message("Wait longer each time.", id="msg_ok")
    )
    result = run(fake, receiver, *python("retries.py", "backoff"))
    assert (result.returncode, result.stdout) == (0, "backoff: Wait longer each time.\n"), result.stderr
    (operation,) = spans(receiver, "answer_question.backoff")
    waits = [attributes(e.attributes)["app.retry.wait"] for e in operation.events if e.name == "app.retry"]
    assert len(waits) == 2
    assert 0 <= waits[0] <= 0.5
    assert 0 <= waits[1] <= 1.0
    assert waits != [0.5, 1.0]  # exactly the bounds would be backoff without jitter (a random draw is never both)
    calls = spans(receiver, "anthropic.messages.create")
    assert [attributes(call.attributes).get("error.type") for call in calls] == ["overloaded_error", "api_error", None]


@pytest.mark.parametrize(("pattern", "requests"), [("backoff", 1), ("naive", 3)])
def test_an_error_no_retry_can_fix_is_retried_only_by_the_naive_loop(
    fake: FakeAnthropic, receiver: Receiver, pattern: str, requests: int
) -> None:
    fake.default = Reply.error(400, "invalid_request_error")
    result = run(fake, receiver, *python("retries.py", pattern))
    assert (result.returncode, result.stdout) == (1, f"{pattern}: gave up with HTTP 400\n"), result.stderr
    assert len(message_requests(fake)) == requests


# -- the batch job -----------------------------------------------------------------------------------------------------


def test_batch_job_is_priced_at_half_rate_when_its_results_are_read(receiver: Receiver) -> None:
    """The batch stays in progress until the fake's clock moves: the job has to poll, then reads 3 results."""
    clock = FakeClock()
    with FakeAnthropic(simulation=Simulation(batch_seconds=3600), clock=clock) as api:
        api.default = Reply.message("billing", input_tokens=40, output_tokens=1)
        job = subprocess.Popen(
            python("batch_job.py"),
            cwd=EXAMPLES,
            env=environment(api, receiver),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120
            while not any(r.method == "GET" for r in api.requests) and job.poll() is None:
                assert time.monotonic() < deadline, "the job never polled"
                time.sleep(0.05)
            clock.advance(3600)  # an hour later, the batch has ended
            stdout, stderr = job.communicate(timeout=120)
        finally:
            job.kill()
        assert not api.errors, api.format_errors()
        polls = [r for r in api.requests if r.method == "GET" and r.path == "/v1/messages/batches/msgbatch_fake_000001"]
    assert job.returncode == 0, stderr
    assert stdout.splitlines() == [
        "submitted msgbatch_fake_000001: 3 requests",
        "ended: 3 succeeded, 0 errored, 0 expired",
        "ticket-1: billing",
        "ticket-2: billing",
        "ticket-3: billing",
    ]
    assert len(polls) >= 2  # the first saw the batch in progress, since the clock had not moved

    # Per result: 40 x $1.50 + 1 x $7.50 per million (half of $3 and $15); the batch saved as much again.
    batch = {"anthropic__batch": True, "app__feature": "ticket-triage", "gen_ai__request__model": MODEL}
    assert total(receiver, "anthropic.client.cost", anthropic__token__type="input", **batch) == 0.00018
    assert total(receiver, "anthropic.client.cost", anthropic__token__type="output", **batch) == 0.0000225
    assert total(receiver, "anthropic.client.batch.savings", **batch) == 0.0002025
    assert total(receiver, "anthropic.client.tokens", anthropic__token__type="input", **batch) == 120
    records = log_records(receiver, "anthropic.batch_result")
    assert [(r["anthropic.cost_usd"], r["anthropic.cost.batch_savings.usd"]) for r in records] == [
        (0.0000675, 0.0000675)
    ] * 3
    assert spans(receiver, "anthropic.messages.create") == []  # the calls were made on Anthropic's side


# -- attribution in a web handler --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post(port: int, user: str, tenant: str, text: str = "OpenTelemetry is a set of APIs to collect telemetry.") -> Any:
    """The status and the JSON reply (None when not JSON) of a POST /summarise."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"content-type": "application/json", "X-User-Id": user, "X-Tenant": tenant}
        connection.request("POST", "/summarise", json.dumps({"text": text}), headers)
        response = connection.getresponse()
        body = response.read()
        return response.status, json.loads(body) if response.status == 200 else None
    finally:
        connection.close()


def test_web_handler_attributes_each_call_to_its_feature_user_and_tenant(
    fake: FakeAnthropic, receiver: Receiver
) -> None:
    fake.default = Reply.message("A standard way to trace, measure and log.", input_tokens=500, output_tokens=50)
    port = free_port()
    server = subprocess.Popen(
        python("web_attribution.py"),
        cwd=EXAMPLES,
        env=environment(fake, receiver, PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.communicate()
            assert time.monotonic() < deadline, "the server never listened"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        replies = [post(port, "u-1", "acme"), post(port, "u-2", "acme"), post(port, "u-3", "globex")]
        refused = post(port, "u-4", "acme", text="")
        server.send_signal(signal.SIGTERM)  # what `docker stop` sends: the handler exits, which flushes
        _, stderr = server.communicate(timeout=60)
    finally:
        server.kill()
    assert server.returncode == 0, stderr
    assert replies == [(200, {"summary": "A standard way to trace, measure and log."})] * 3
    assert refused == (400, None)
    assert len(message_requests(fake)) == 3  # the empty text never reached the API

    calls = [attributes(span.attributes) for span in spans(receiver, "anthropic.messages.create")]
    assert [(c["app.feature"], c["user.id"], c["app.tenant"], c["anthropic.cost.usd"]) for c in calls] == [
        ("summarise", "u-1", "acme", 0.00225),  # 500 x $3 + 50 x $15 per million
        ("summarise", "u-2", "acme", 0.00225),
        ("summarise", "u-3", "globex", 0.00225),
    ]
    cost = points(receiver, "anthropic.client.cost")
    assert {(found["app.feature"], found["app.tenant"]) for found, _ in cost} == {
        ("summarise", "acme"),
        ("summarise", "globex"),
    }
    assert all("user.id" not in found for found, _ in cost)
    assert total(receiver, "anthropic.client.cost", app__tenant="acme", anthropic__token__type="input") == 0.003
    assert total(receiver, "anthropic.client.cost", app__tenant="globex", anthropic__token__type="output") == 0.00075


# -- as the README runs them: the fake out of process, telemetry on the console ------------------------------------


README = Path(__file__).resolve().parents[1] / "README.md"


def printed(stdout: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The lines a program printed and the JSON objects the console exporters wrote, apart."""
    decoder = json.JSONDecoder()
    lines: list[str] = []
    objects: list[dict[str, Any]] = []
    at = 0
    while at < len(stdout):
        if stdout[at].isspace():
            at += 1
        elif stdout[at] == "{":
            found, at = decoder.raw_decode(stdout, at)
            objects.append(found)
        else:
            end = stdout.find("\n", at)
            end = len(stdout) if end < 0 else end
            lines.append(stdout[at:end])
            at = end
    return lines, objects


def control(base_url: str, method: str, path: str, spec: object = None) -> Any:
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, path, None if spec is None else json.dumps(spec))
        response = connection.getresponse()
        assert response.status == 200
        return json.loads(response.read())
    finally:
        connection.close()


def readme_block(after: str) -> list[str]:
    """The lines of the first fenced block that follows `after` in the README."""
    text = README.read_text()
    start = text.index("```", text.index(after))
    body = text[text.index("\n", start) + 1 : text.index("```", start + 3)]
    return body.splitlines()


def test_the_readme_commands_against_the_fake_api_out_of_process() -> None:
    fake = subprocess.Popen(
        [sys.executable, "-m", "anthropic_otel.testing.fake_api", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert fake.stdout is not None
        base_url = fake.stdout.readline().strip()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "OTEL_"))}
        env.update(ANTHROPIC_BASE_URL=base_url, ANTHROPIC_API_KEY="test")

        def example(*args: str) -> tuple[int, list[str], list[dict[str, Any]]]:
            result = subprocess.run(
                python(*args), cwd=EXAMPLES, env=env, capture_output=True, text=True, timeout=120, check=False
            )
            return (result.returncode, *printed(result.stdout))

        returncode, lines, _ = example("batch_job.py")
        assert (returncode, lines) == (0, readme_block("Against the fake, `batch_job.py` prints"))

        control(base_url, "POST", "/_fake/default", {"reply": "overloaded", "retry_after": 0.01})
        returncode, lines, objects = example("retries.py", "naive")
        assert (returncode, lines) == (1, ["naive: gave up with HTTP 529"])
        calls = [span for span in objects if span.get("name") == "anthropic.messages.create"]
        assert [[event["name"] for event in call["events"]] for call in calls] == [["anthropic.retry"] * 2] * 3
        received = control(base_url, "GET", "/_fake/requests")["requests"]
        assert [request["path"] for request in received].count("/v1/messages") == 9

        control(base_url, "POST", "/_fake/clear")
        control(base_url, "POST", "/_fake/enqueue", {"reply": "message", "input_tokens": 1200, "output_tokens": 300})
        returncode, lines, objects = example("instrument_at_startup.py")
        assert (returncode, lines) == (0, ["Hello! How can I help?"])
        (call,) = [span for span in objects if span.get("name") == "anthropic.messages.create"]
        (record,) = [found for found in objects if found.get("event_name") == "anthropic.call"]
        assert (call["attributes"]["anthropic.cost.usd"], record["attributes"]["anthropic.cost_usd"]) == (
            0.0081,
            0.0081,
        )
        assert record["trace_id"] == call["context"]["trace_id"]  # the log record is in the call's span context
    finally:
        fake.send_signal(signal.SIGTERM)
        fake.communicate(timeout=30)
