"""Every fault the fake can inject, run twice: uninstrumented, then instrumented. The application must see the same
return value, or the same exception (type and message), and the same stream items; the call's one span must end
exactly once with the right status and `error.type`; and no metric may be wrong: no invented tokens, no negative
cost, each attempt counted once, one duration per call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.trace import StatusCode
from rel_support import PRICED, Scenario, bare_then_instrumented, span_warnings

from anthropic_otel.cost import PICO
from anthropic_otel.testing import FakeAnthropic, Reply
from conftest import Driver, Metrics, Spans


@dataclass
class Fault:
    replies: list[Reply]
    scenario: Scenario
    raises: str | None
    """The name of the exception the application sees (with and without the plugin), or None."""
    error_type: str | None
    """`error.type` on the span (and on the duration), or None for a call that succeeded."""
    tokens: dict[str, int] = field(default_factory=dict)
    """`anthropic.client.tokens` by `anthropic.token.type`: exactly these, nothing invented."""
    attempts: list[tuple[int | None, str | None, bool]] = field(default_factory=list)
    """`anthropic.client.attempts`: (status code, error type, retried), one per HTTP attempt."""
    priced: bool = False
    """Whether the call has a cost (a priced model and tokens)."""


def fast(options: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"max_retries": 0, "timeout": 0.3, **(options or {})}


MID = "one two three four five six seven"
FAULTS: dict[str, Fault] = {
    "reset mid-stream": Fault(
        [Reply.reset_mid_stream(3, text=MID, input_tokens=7)],
        Scenario({}, stream=True),
        "ReadError",
        "connection_error",
        tokens={"input": 7, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0},
        attempts=[(200, "connection_error", False)],
    ),
    "timeout": Fault(
        [Reply.delay(2.0, Reply.reset())],
        Scenario({}, options=fast()),
        "APITimeoutError",
        "client_timeout_error",
        attempts=[(None, "client_timeout_error", False)],
    ),
    "timeout, streamed": Fault(
        [Reply.delay(2.0, Reply.reset())],
        Scenario({}, stream=True, options=fast()),
        "APITimeoutError",
        "client_timeout_error",
        attempts=[(None, "client_timeout_error", False)],
    ),
    "timeout, retried once": Fault(
        [Reply.delay(2.0, Reply.reset()), Reply.message(input_tokens=3, output_tokens=2)],
        Scenario({"model": PRICED}, options=fast({"max_retries": 1})),
        None,
        None,
        tokens={"input": 3, "output": 2, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0},
        attempts=[(None, "client_timeout_error", True), (200, None, False)],
        priced=True,
    ),
    "truncated SSE": Fault(
        [Reply.truncated_stream(4, input_tokens=4)],
        Scenario({}, stream=True),
        None,
        "api_error",
        tokens={"input": 4, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0},
        attempts=[(200, "api_error", False)],
    ),
    "truncated SSE, abrupt": Fault(
        [Reply.truncated_stream(4, abrupt=True, input_tokens=4)],
        Scenario({}, stream=True),
        "RemoteProtocolError",
        "connection_error",
        tokens={"input": 4, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0},
        attempts=[(200, "connection_error", False)],
    ),
    "error event after 200": Fault(
        [Reply.stream_error(3, "overloaded_error", input_tokens=6)],
        Scenario({}, stream=True),
        "APIStatusError",
        "overloaded_error",
        tokens={"input": 6, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0},
        attempts=[(200, "overloaded_error", False)],
    ),
    "malformed JSON": Fault(
        [Reply.malformed_json()],
        Scenario({}),
        "JSONDecodeError",
        "client_error",
        attempts=[(200, "client_error", False)],
    ),
    "missing usage": Fault(
        [Reply.message(omit_usage=True)], Scenario({"model": PRICED}), None, None, attempts=[(200, None, False)]
    ),
    "missing usage, streamed": Fault(
        [Reply.message(omit_usage=True)],
        Scenario({"model": PRICED}, stream=True),
        None,
        None,
        attempts=[(200, None, False)],
    ),
    "negative input tokens": Fault(
        [Reply.message(usage_patch={"input_tokens": -5}, output_tokens=4)],
        Scenario({"model": PRICED}),
        None,
        None,
        tokens={"output": 4, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0},
        attempts=[(200, None, False)],
        priced=True,
    ),
    "negative output tokens, streamed": Fault(
        [Reply.message(usage_patch={"output_tokens": -3}, input_tokens=8)],
        Scenario({"model": PRICED}, stream=True),
        None,
        None,
        tokens={"input": 8, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0},
        attempts=[(200, None, False)],
        priced=True,
    ),
    "mistyped usage": Fault(
        [Reply.message(usage_patch={"output_tokens": "12", "cache_read_input_tokens": 2.5}, input_tokens=9)],
        Scenario({"model": PRICED}),
        None,
        None,
        tokens={"input": 9, "cache_write_5m": 0, "cache_write_1h": 0},
        attempts=[(200, None, False)],
        priced=True,
    ),
    "mistyped usage, boolean": Fault(
        [Reply.message(usage_patch={"input_tokens": True}, output_tokens=2)],
        Scenario({"model": PRICED}, stream=True),
        None,
        None,
        # Every SDK's event parser turns message_start's `true` into 1: that is what the application reads too.
        tokens={"input": 1, "output": 2, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0},
        attempts=[(200, None, False)],
        priced=True,
    ),
    "unknown model": Fault(
        [Reply.message(input_tokens=5, output_tokens=5)],
        Scenario({"model": "claude-unreleased-42"}),
        None,
        None,
        tokens={"input": 5, "output": 5, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0},
        attempts=[(200, None, False)],
    ),
    "huge response": Fault(
        [Reply.huge(4_000_000, input_tokens=11, output_tokens=1_000_000)],
        Scenario({"model": PRICED}),
        None,
        None,
        tokens={"input": 11, "output": 1_000_000, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0},
        attempts=[(200, None, False)],
        priced=True,
    ),
    "huge response, streamed": Fault(
        [Reply.huge(40_000, input_tokens=11, output_tokens=10_000)],
        Scenario({"model": PRICED}, stream=True),
        None,
        None,
        tokens={"input": 11, "output": 10_000, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0},
        attempts=[(200, None, False)],
        priced=True,
    ),
    "non-UTF-8 bytes": Fault(
        [Reply.non_utf8()], Scenario({}), "UnicodeDecodeError", "client_error", attempts=[(200, "client_error", False)]
    ),
    "non-UTF-8 bytes, streamed": Fault(
        [Reply.non_utf8(input_tokens=3)],
        Scenario({}, stream=True),
        "UnicodeDecodeError",
        "client_error",
        tokens={"input": 3, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0},
        attempts=[(200, "client_error", False)],
    ),
    "retry-after 0": Fault(
        [Reply.rate_limited(retry_after="0"), Reply.message(input_tokens=2, output_tokens=1)],
        Scenario({"model": PRICED}, options={"max_retries": 1}),
        None,
        None,
        tokens={"input": 2, "output": 1, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0},
        attempts=[(429, "rate_limit_error", True), (200, None, False)],
        priced=True,
    ),
    "retry-after garbage": Fault(
        [Reply.rate_limited(retry_after="soon"), Reply.message(input_tokens=2, output_tokens=1)],
        Scenario({"model": PRICED}, stream=True, options={"max_retries": 1}),
        None,
        None,
        tokens={"input": 2, "output": 1, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0},
        attempts=[(429, "rate_limit_error", True), (200, None, False)],
        priced=True,
    ),
    "server never answers": Fault(
        [Reply.hang()],
        Scenario({}, options=fast()),
        "APITimeoutError",
        "client_timeout_error",
        attempts=[(None, "client_timeout_error", False)],
    ),
    "server never answers, streamed": Fault(
        [Reply.hang()],
        Scenario({}, stream=True, options=fast()),
        "APITimeoutError",
        "client_timeout_error",
        attempts=[(None, "client_timeout_error", False)],
    ),
    "reset before answering": Fault(
        [Reply.reset()],
        Scenario({}),
        "APIConnectionError",
        "connection_error",
        attempts=[(None, "connection_error", False)],
    ),
}


def attempts_of(measured: Metrics) -> list[tuple[int | None, str | None, bool]]:
    found = []
    for attributes, value in measured.points("anthropic.client.attempts"):
        key = (
            attributes.get("http.response.status_code"),
            attributes.get("error.type"),
            attributes["anthropic.attempt.retried"],
        )
        found += [key] * value
    return sorted(found, key=repr)


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_is_seen_as_without_the_plugin_and_recorded_once(
    driver: Driver,
    fake: FakeAnthropic,
    *,
    spans: Spans,
    measured: Metrics,
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    fault = FAULTS[name]
    feature = f"fault {name} {driver.mode}"
    bare, instrumented = bare_then_instrumented(driver, fake, fault.replies, fault.scenario, feature)

    # The application sees exactly what it sees without the plugin.
    assert instrumented == bare
    raised = None if bare.error is None else bare.error[0].__name__
    assert raised == fault.raises, bare.error

    # One span, ended once, with the right status and error type.
    span = spans.one()
    assert span_warnings(caplog) == []
    attributes = dict(span.attributes or {})
    assert attributes.get("error.type") == fault.error_type
    if fault.error_type is None:
        assert span.status.status_code is not StatusCode.ERROR
    else:
        assert span.status.status_code is StatusCode.ERROR

    # Metrics: exactly the tokens the response reported, each attempt once, one duration, no negative money.
    tokens = {
        attrs["anthropic.token.type"]: value for attrs, value in measured.points("anthropic.client.tokens") if value
    }
    assert tokens == {kind: count for kind, count in fault.tokens.items() if count}
    token_points = measured.points("gen_ai.client.token.usage")
    assert all(value[1] >= 0 for _, value in token_points)
    assert attempts_of(measured) == sorted(fault.attempts, key=repr)
    durations = measured.points("gen_ai.client.operation.duration")
    assert [(attrs.get("error.type"), value[0]) for attrs, value in durations] == [(fault.error_type, 1)]
    costs = measured.points("anthropic.client.cost")
    assert all(value >= 0 for _, value in costs)
    assert bool(costs) is fault.priced
    # A call with tokens and no price (the fake's model is in no table) is counted as unpriced, never as free.
    unpriced = 1 if any(fault.tokens.values()) and not fault.priced else 0
    assert measured.total("anthropic.client.cost.unpriced") == unpriced
    if fault.priced:  # exact: whole pico-dollars per token type, summed to the span's total
        picos = [round(value * PICO) for _, value in costs]
        assert [value for _, value in costs] == [pico / PICO for pico in picos]
        assert attributes["anthropic.cost.usd"] == sum(picos) / PICO
    else:
        assert "anthropic.cost.usd" not in attributes
